"""Activities 5 and 8: the piece's text, drafted from the templates, checked per channel and submitted for review."""

from __future__ import annotations

from sqlalchemy import select

from cvp import procedure as P
from cvp.errors import InvalidInput
from cvp.office.reviews import Reviews
from cvp.records.models import Document, Revision


class Texts(Reviews):
    def drafts(self, need_id: int) -> dict[str, str]:
        """Per-channel drafts pre-rendered from the templates, for the professional to edit."""
        need = self.need(need_id)
        return {ch: self.renderer.render(f"canales/{ch}.txt.j2", necesidad=need).strip() for ch in need.channels}

    def prepare_drafts(self, need_id: int) -> Document:
        with self.session() as s:
            prev = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == "borradores"))
            if prev is not None:
                return prev
        drafts = self.drafts(need_id)
        with self.session() as s:
            doc = Document(
                need_id=need_id,
                activity=5,
                kind="borradores",
                data=drafts,
                rendered="\n\n".join(f"[{P.CHANNELS[c]}]\n{t}" for c, t in drafts.items()),
                author=P.SYSTEM,
                created_at=self.records.now(),
            )
            s.add(doc)
            self.records.event(
                s,
                need_id,
                5,
                "borradores_preparados",
                P.SYSTEM,
                "Borradores por canal preparados desde las plantillas.",
                canales=list(drafts),
            )
            return doc

    def check_texts(self, need_id: int, texts: dict[str, str], title: str = "") -> dict:
        """Run the pre-review checks on each channel's text; media are checked at activity 10, not here."""
        from cvp.checks import check_text

        need = self.need(need_id)
        reports = {}
        for channel in need.channels:
            report = check_text(channel, texts.get(channel) or "", title=title or need.title)
            report.findings[:] = [f for f in report.findings if not f.code.startswith("media.")]
            reports[channel] = report
        return reports

    def submit_text(
        self, need_id: int, actor: str, texts: dict[str, str], *, title: str = "", note: str = ""
    ) -> Revision:
        """Activity 5 (first version) or 8 (adjustments after a return); resubmissions are presented (6) here.

        Blocking check findings refuse the submission; warnings are kept with the revision for the head.
        """
        need = self.need(need_id)
        missing = [P.CHANNELS[c] for c in need.channels if not (texts.get(c) or "").strip()]
        extra = [c for c in texts if c not in need.channels]
        if missing or extra:
            details = [f"Falta el texto para {m}." for m in missing]
            details += [f"El canal «{c}» no fue pedido en la necesidad." for c in extra]
            raise InvalidInput("El texto no se puede presentar:", details=details)
        reports = self.check_texts(need_id, texts, title)
        blocking = [
            f"{P.CHANNELS[ch]}: {f.message}" for ch, r in reports.items() for f in r.findings if f.severity == "error"
        ]
        if blocking:
            raise InvalidInput("El texto tiene errores que impiden presentarlo a la Jefe OAC:", details=blocking)
        checks = [dict(f.to_dict(), channel=ch) for ch, r in reports.items() for f in r.findings]
        with self.session() as s:
            need = self.records.need(s, need_id, for_update=True)
            number = self._next_revision_number(s, need, P.TEXT)
            rev = Revision(
                need_id=need_id,
                kind=P.TEXT,
                number=number,
                author=actor,
                title=title or need.title,
                texts={c: texts[c].strip() for c in need.channels},
                note=note,
                checks=checks,
                created_at=self.records.now(),
            )
            s.add(rev)
            s.flush()
            if number == 1:
                self.records.event(
                    s,
                    need_id,
                    5,
                    "texto_producido",
                    actor,
                    "Texto de la pieza producido (revisión 1).",
                    revision=rev.id,
                    numero=1,
                )
            else:
                self.records.event(
                    s,
                    need_id,
                    8,
                    "ajustes_realizados",
                    actor,
                    f"Ajustes realizados tras la devolución (revisión {number}).",
                    revision=rev.id,
                    numero=number,
                    nota=note,
                )
            self._present(s, need, rev, actor)
            return rev
