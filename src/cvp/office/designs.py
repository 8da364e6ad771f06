"""Activities 10 and 13: the design (or redesign) uploaded for review, and the final piece delivered."""

from __future__ import annotations

from pathlib import Path

from cvp import procedure as P
from cvp.errors import Conflict
from cvp.office.reviews import Reviews
from cvp.records.models import Revision


class Designs(Reviews):
    def submit_design(
        self,
        need_id: int,
        actor: str,
        source: Path | bytes,
        filename: str,
        *,
        alt_text: str = "",
        note: str = "",
        max_bytes: int | None = None,
    ) -> Revision:
        """Activity 10 (design or redesign): store the file under a generated key with its checksum.

        The file is checked on this host first (from the upload's own temporary file), then written to
        the product's store whole or not at all; the record names the store's key, never a local path.
        """
        admitted = self.files.admit(source, filename, alt_text, max_bytes)
        channels = self.need(need_id).channels
        stored = self.files.store(need_id, channels, source, filename, admitted, alt_text)
        try:
            with self.session() as s:
                need = self.records.need(s, need_id, for_update=True)
                number = self._next_revision_number(s, need, P.DESIGN)
                rev = Revision(
                    need_id=need_id,
                    kind=P.DESIGN,
                    number=number,
                    author=actor,
                    title=need.title,
                    filename=Path(filename).name[:255],
                    stored_path=stored.key,
                    media_type=admitted.media_type,
                    size=admitted.size,
                    sha256=stored.sha256,
                    alt_text=alt_text.strip(),
                    note=note,
                    checks=stored.checks,
                    created_at=self.records.now(),
                )
                s.add(rev)
                s.flush()
                what = "Diseño elaborado" if number == 1 else "Rediseño elaborado tras la devolución"
                self.records.event(
                    s,
                    need_id,
                    10,
                    "diseno_cargado",
                    actor,
                    f"{what} (revisión {number}, {admitted.media_type}, {admitted.size} bytes).",
                    revision=rev.id,
                    numero=number,
                    sha256=rev.sha256,
                )
                self._present(s, need, rev, actor)  # activity 11: the upload is sent to the head at once
                return rev
        except BaseException:
            self.files.discard(stored.key)  # nothing written half: no orphan file without its record
            raise

    def design_media(self, rev: Revision):
        """The design's file as a path object of the store (``open``, ``name``); legacy rows stay local paths."""
        return self.files.media(rev)

    def deliver_final(self, need_id: int) -> str:
        """Activity 13: the approved design is delivered to the professional as the final file (its key)."""
        with self.session() as s:
            need = self.records.need(s, need_id)
            design = self.records.current(s, need_id, P.DESIGN)
            if design is None or design.state != P.APPROVED:
                raise Conflict("La pieza definitiva requiere un diseño aprobado (actividad 12).")
            final = self.files.final_piece(need_id, design)
            name = final.rsplit("/", 1)[1]
            if not self.records.has_event(s, need_id, 13, "pieza_entregada"):
                self.outbox.queue(
                    s,
                    need,
                    13,
                    "profesional",
                    self.team.emails_for(P.PROFESSIONAL),
                    "entregar_pieza",
                    revision=design,
                    archivo=name,
                )
                self.records.event(
                    s,
                    need_id,
                    13,
                    "pieza_entregada",
                    design.author,
                    f"Pieza definitiva entregada al Profesional Universitario ({name}).",
                    revision=design.id,
                    archivo=final,
                    sha256=design.sha256,
                )
            return final
