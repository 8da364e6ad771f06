"""The procedure's actions on the records: what each activity writes, and the rules that guard it.

Every action is one transaction: its records, its audit event and its e-mails are written together
or not at all. Callers (DAG tasks, the web forms, the command line) check who may act through the
Team and pass the actor's username; this module enforces the procedure's own rules (order of
activities, current revision, nobody approves their own work).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cvp import procedure as P
from cvp import state as S
from cvp.config import Settings
from cvp.config import settings as load_settings
from cvp.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from cvp.mail import Mailer, OutgoingMail, send_reporting
from cvp.needs import NeedInput, parse_need
from cvp.records.db import engine_for
from cvp.records.models import Decision, Document, Event, Need, Notification, Publication, RefusedNeed, Revision, utcnow
from cvp.rendering import Renderer
from cvp.storage import Storage, default_storage
from cvp.team import Team, current_team

log = logging.getLogger(__name__)

UPLOAD_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
SUBMITTED = "presentado"
CLAIM_TTL = timedelta(minutes=10)


def sniff_media_type(head: bytes) -> str | None:
    """The upload's type from its first bytes (the name and the browser's word are not trusted), if admitted."""
    from cvp.checks.probe import sniff_type

    media_type = sniff_type(head)
    return media_type if media_type in UPLOAD_TYPES else None


@dataclass
class DecisionOutcome:
    decision: Decision
    already_recorded: bool = False


class Office:
    """The records of the procedure and the actions on them."""

    def __init__(
        self,
        url: str | None = None,
        *,
        cfg: Settings | None = None,
        mailer: Mailer | None = None,
        storage: Storage | None = None,
    ):
        self.cfg = cfg or load_settings()
        self.url = url or self.cfg.default_records_url
        self.engine = engine_for(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        S.keep_current(self._sessions)  # where each need stands is stored with every act (cvp.state)
        self.renderer = Renderer(self.cfg.templates_dir)
        self.mailer = mailer
        # Designs and final pieces go to the product's store (shared by every host), never a local folder.
        self.storage = storage or default_storage(self.cfg)

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    @property
    def team(self) -> Team:
        return current_team(self.cfg.team_file)

    def link(self, need_id: int) -> str:
        return f"{self.cfg.base_url}/cvp/necesidades/{need_id}"

    def _event(self, s: Session, need_id: int, activity: int, action: str, actor: str, summary: str, **detail) -> Event:
        ev = Event(
            need_id=need_id, activity=activity, action=action, actor=actor, summary=summary, detail=detail, at=utcnow()
        )
        s.add(ev)
        return ev

    def record_event(self, need_id: int, activity: int, action: str, actor: str, summary: str, **detail) -> None:
        """Append one event to the need's audit trail (for acts that write no other record)."""
        with self.session() as s:
            self._need(s, need_id)
            if not self._has_event(s, need_id, activity, action):
                self._event(s, need_id, activity, action, actor, summary, **detail)

    def _has_event(self, s: Session, need_id: int, activity: int, action: str) -> bool:
        return (
            s.scalar(
                select(Event.id)
                .where(Event.need_id == need_id, Event.activity == activity, Event.action == action)
                .limit(1)
            )
            is not None
        )

    def _queue_mail(
        self, s: Session, need: Need, activity: int, key: str, recipients: list[str], template: str, **context
    ) -> None:
        """Keep the mail as a record in this transaction; delivery happens after commit (deliver_pending)."""
        dedupe = f"{need.id}:{activity}:{key}"
        if s.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe)) is not None:
            return
        mail = self.renderer.mail(template, necesidad=need, enlace=self.link(need.id), **context)
        s.add(
            Notification(
                need_id=need.id,
                activity=activity,
                dedupe_key=dedupe,
                recipients=recipients,
                subject=mail.subject,
                body=mail.body,
            )
        )

    def deliver_pending(self, mailer: Mailer | None = None, need_id: int | None = None) -> int:
        """Send every mail not yet sent; a failure stays pending with its error, to be retried.

        Each mail is claimed first (one UPDATE that only one sender wins), so the forms and a task
        delivering at the same moment never send it twice; a claim older than CLAIM_TTL is free again.
        """
        mailer = mailer or self.mailer
        if mailer is None:
            return 0
        stale = utcnow() - CLAIM_TTL
        free = or_(Notification.claimed_at.is_(None), Notification.claimed_at < stale)
        with self.session() as s:
            q = select(Notification.id).where(Notification.sent_at.is_(None), free).order_by(Notification.id)
            if need_id is not None:
                q = q.where(Notification.need_id == need_id)
            pending = list(s.scalars(q))
        sent = 0
        for nid in pending:
            with self.session() as s:
                won = (
                    s.execute(
                        update(Notification)
                        .where(Notification.id == nid, Notification.sent_at.is_(None), free)
                        .values(claimed_at=utcnow())
                    ).rowcount
                    == 1
                )
                n = s.get(Notification, nid) if won else None
            if n is None:
                continue
            out = OutgoingMail(
                tuple(n.recipients), n.subject, n.body, self.cfg.mail_from, mail_reference(n), stable_id=True
            )
            delivered: list[bool] = []
            recorded: list[bool] = []

            def accepted(nid: int = n.id) -> None:
                delivered.append(True)  # noqa: B023 - called within this iteration
                self._record_sent(nid, mailer.description)
                recorded.append(True)  # noqa: B023

            try:
                send_reporting(mailer, out, accepted)
            except Exception as exc:  # noqa: BLE001 - any transport failure leaves the mail pending
                if recorded:  # delivered and recorded; only the goodbye failed
                    sent += 1
                    continue
                if delivered:  # keep the claim: resent only after CLAIM_TTL, with the same Message-ID
                    log.error("Mail %s was delivered but its delivery could not be recorded: %s", n.id, exc)
                    continue
                log.warning("Mail %s not delivered through %s: %s", n.id, mailer.description, exc)
                with self.session() as s:
                    s.execute(
                        update(Notification)
                        .where(Notification.id == n.id, Notification.sent_at.is_(None))
                        .values(error=str(exc)[:2000], claimed_at=None)
                    )
                continue
            sent += 1
        return sent

    def _record_sent(self, notification_id: int, transport: str) -> None:
        """One UPDATE, committed at once: the only work between the server's acceptance and the record."""
        with self.engine.begin() as conn:
            conn.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(sent_at=utcnow(), transport=transport[:200], error="")
            )

    def _need(self, s: Session, need_id: int, *, for_update: bool = False) -> Need:
        q = select(Need).where(Need.id == need_id)
        if for_update:
            q = q.with_for_update()
        need = s.scalar(q)
        if need is None:
            raise NotFound(f"No existe la necesidad de comunicación n.º {need_id}.")
        return need

    def need(self, need_id: int) -> Need:
        with self.session() as s:
            return self._need(s, need_id)

    def _standing(self, s: Session, need_id: int) -> S.Standing:
        found = S.standing(s, need_id)
        if found is None:
            raise NotFound(f"No existe la necesidad de comunicación n.º {need_id}.")
        return found

    def standing(self, need_id: int) -> S.Standing:
        """Where the need stands now: its step and the actions the procedure allows next (cvp.state)."""
        with self.session() as s:
            return self._standing(s, need_id)

    def need_by_run(self, run_id: str) -> Need:
        with self.session() as s:
            need = s.scalar(select(Need).where(Need.run_id == run_id))
        if need is None:
            raise NotFound(f"La ejecución {run_id} no tiene necesidad registrada (actividad 1).")
        return need

    # --- activity 1 ---------------------------------------------------------------------------

    def register_need(self, conf: dict | NeedInput, actor: str, run_id: str | None = None) -> Need:
        """Activity 1: record the need; idempotent per run, so a retried task writes nothing twice.

        Only the head (or whoever the team file allows) opens a need, whatever door the request came
        through (the trigger form, Airflow's REST API): anyone else's request is refused and recorded as
        such, with no need record. ``P.SYSTEM`` is a run Airflow started without a person behind it.
        """
        self.check_opener(actor, run_id, conf)
        data = conf if isinstance(conf, NeedInput) else parse_need(conf)
        with self.session() as s:
            if run_id is not None:
                existing = s.scalar(select(Need).where(Need.run_id == run_id))
                if existing is not None:
                    return existing
            need = Need(
                run_id=run_id,
                title=data.title,
                description=data.description,
                source=data.source,
                source_reference=data.source_reference,
                audiences=list(data.audiences),
                channels=list(data.channels),
                one_off=data.one_off,
                deadline=data.deadline,
                department=data.department,
                requested_by=actor,
                publish_at=data.publish_at,
                created_at=utcnow(),
            )
            s.add(need)
            s.flush()
            route = (
                "acción puntual: continúa en la actividad 5"
                if data.one_off
                else "requiere planeación: continúa en la actividad 2"
            )
            self._event(
                s,
                need.id,
                1,
                "necesidad_registrada",
                actor,
                f"Necesidad registrada ({P.SOURCES[data.source]}); {route}.",
                fuente=data.source,
                fecha_limite=data.deadline.isoformat(),
                accion_puntual=data.one_off,
            )
            return need

    def check_opener(self, actor: str, run_id: str | None, conf: dict | NeedInput) -> None:
        """Refuse (and record the refusal of) a need asked for by someone who may not open one."""
        if actor == P.SYSTEM:
            return
        try:
            self.team.require_opener(actor)
        except PermissionDenied as exc:
            self._record_refusal(run_id, actor, conf, str(exc))
            raise

    def _record_refusal(self, run_id: str | None, actor: str, conf: dict | NeedInput, reason: str) -> None:
        title = conf.title if isinstance(conf, NeedInput) else str((conf or {}).get("titulo") or "")
        with self.session() as s:
            if run_id is not None and s.scalar(select(RefusedNeed.id).where(RefusedNeed.run_id == run_id)):
                return  # a retried task records the refusal once
            s.add(RefusedNeed(run_id=run_id, requested_by=actor[:120], title=title[:200], reason=reason, at=utcnow()))

    def refused_needs(self, limit: int = 20) -> list[RefusedNeed]:
        """The most recent refused requests to open a need, newest first."""
        with self.session() as s:
            return list(
                s.scalars(select(RefusedNeed).order_by(RefusedNeed.at.desc(), RefusedNeed.id.desc()).limit(limit))
            )

    def record_run_change(self, run_id: str, outcome: str, actor: str) -> Need | None:
        """Someone changed a need's run from Airflow itself (marked it failed or successful).

        The records say what happened and who did it; a need still in progress is closed as cancelled,
        since nothing is published by such a change. Idempotent for the same change.
        """
        what = {"failed": "marcó como fallida", "success": "marcó como exitosa"}[outcome]
        with self.session() as s:
            need = s.scalar(select(Need).where(Need.run_id == run_id).with_for_update())
            if need is None:
                return None
            action = f"ejecucion_{'fallida' if outcome == 'failed' else 'exitosa'}_en_airflow"
            last = s.scalar(select(Event).where(Event.need_id == need.id).order_by(Event.id.desc()).limit(1))
            if last is not None and last.action == action and last.actor == actor:
                return need
            closes = need.status == "en_curso"
            summary = f"{actor} {what} la ejecución desde Airflow"
            summary += (
                ": la necesidad queda cancelada sin publicar."
                if closes
                else f" (la necesidad ya estaba {need.status})."
            )
            if closes:
                need.status = "cancelada"
            self._event(s, need.id, 1, action, actor, summary, estado_airflow=outcome, cierra=closes)
            return need

    # --- activities 2, 3, 4 -------------------------------------------------------------------

    def _add_document(
        self,
        need_id: int,
        activity: int,
        kind: str,
        data: dict,
        actor: str,
        template: str,
        action: str,
        summary: str,
        *,
        once: bool = True,
        step: str | None = None,
    ) -> Document:
        with self.session() as s:
            need = self._need(s, need_id, for_update=step is not None)
            if once:
                prev = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == kind))
                if prev is not None:
                    raise Conflict(
                        f"La necesidad n.º {need_id} ya tiene {summary.lower()} (registrado por {prev.author})."
                    )
            if step is not None:
                self._standing(s, need_id).require(step)
            rendered = self.renderer.render(template, necesidad=need, datos=data, autor=actor, fecha=utcnow())
            doc = Document(
                need_id=need_id,
                activity=activity,
                kind=kind,
                data=data,
                rendered=rendered,
                author=actor,
                created_at=utcnow(),
            )
            s.add(doc)
            s.flush()
            self._event(s, need_id, activity, action, actor, summary, documento=doc.id)
            return doc

    def record_meeting(self, need_id: int, actor: str, data: dict) -> Document:
        """Activity 2: the team meeting, recorded on form 208-SADM-Ft-54."""
        required = {
            "temas": "Temas a tratar",
            "fuentes": "Fuentes a consultar",
            "productos": "Productos a realizar",
            "canales": "Medios de difusión",
            "asistentes": "Asistentes",
        }
        errors = [f"«{label}» es obligatorio." for key, label in required.items() if not _filled(data.get(key))]
        if errors:
            raise InvalidInput("El registro de reunión está incompleto:", details=errors)
        return self._add_document(
            need_id,
            2,
            "registro_reunion",
            data,
            actor,
            "registros/registro_reunion.html.j2",
            "reunion_registrada",
            f"Registro de reunión {P.MEETING_FORM_CODE}",
            step=S.MEETING,
        )

    def record_content_plan(self, need_id: int, actor: str, data: dict) -> Document:
        """Activity 3: contents and actions agreed with the departments' liaisons."""
        errors = []
        if not _filled(data.get("contenidos")):
            errors.append("«Contenidos» es obligatorio: al menos un contenido con su acción.")
        if not _filled(data.get("enlaces")):
            errors.append("«Enlaces de las dependencias» es obligatorio.")
        if errors:
            raise InvalidInput("El plan de contenidos está incompleto:", details=errors)
        return self._add_document(
            need_id,
            3,
            "plan_contenidos",
            data,
            actor,
            "registros/plan_contenidos.html.j2",
            "plan_contenidos_registrado",
            "Plan de contenidos y acciones",
            step=S.PLAN,
        )

    def request_red_distrital(self, need_id: int) -> None:
        """Activity 4: the joint-action request to the Red Distrital, as a record and an e-mail."""
        with self.session() as s:
            need = self._need(s, need_id)
            if self._has_event(s, need_id, 4, "solicitud_red_distrital"):
                return
            plan = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == "plan_contenidos"))
            data = {"destinatario": self.cfg.red_distrital_email, "plan": plan.data if plan else {}}
            rendered = self.renderer.render("registros/solicitud_red_distrital.txt.j2", necesidad=need, datos=data)
            s.add(
                Document(
                    need_id=need_id,
                    activity=4,
                    kind="solicitud_red_distrital",
                    data=data,
                    rendered=rendered,
                    author=P.SYSTEM,
                    created_at=utcnow(),
                )
            )
            self._queue_mail(s, need, 4, "red", [self.cfg.red_distrital_email], "red_distrital", plan=data["plan"])
            self._event(
                s,
                need_id,
                4,
                "solicitud_red_distrital",
                P.SYSTEM,
                f"Solicitud de acciones conjuntas enviada a la Red Distrital ({self.cfg.red_distrital_email}).",
            )

    # --- activities 5 to 8: the text ----------------------------------------------------------

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
                created_at=utcnow(),
            )
            s.add(doc)
            self._event(
                s,
                need_id,
                5,
                "borradores_preparados",
                P.SYSTEM,
                "Borradores por canal preparados desde las plantillas.",
                canales=list(drafts),
            )
            return doc

    def _current(self, s: Session, need_id: int, kind: str) -> Revision | None:
        return s.scalar(
            select(Revision)
            .where(Revision.need_id == need_id, Revision.kind == kind)
            .order_by(Revision.number.desc())
            .limit(1)
        )

    def current_revision(self, need_id: int, kind: str) -> Revision | None:
        with self.session() as s:
            return self._current(s, need_id, kind)

    def _next_revision_number(self, s: Session, need: Need, kind: str) -> int:
        """Check with the procedure's order that a new revision of ``kind`` fits now; return its number."""
        self._standing(s, need.id).require(S.SUBMIT_ACTION[kind])
        current = self._current(s, need.id, kind)
        return (current.number if current else 0) + 1

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
            need = self._need(s, need_id, for_update=True)
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
                created_at=utcnow(),
            )
            s.add(rev)
            s.flush()
            if number == 1:
                self._event(
                    s,
                    need_id,
                    5,
                    "texto_producido",
                    actor,
                    "Texto de la pieza producido (revisión 1).",
                    revision=rev.id,
                    numero=1,
                )
                self._present(s, need, rev, actor)
            else:
                self._event(
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

    def _present(self, s: Session, need: Need, rev: Revision, actor: str) -> None:
        activity = 6 if rev.kind == P.TEXT else 11
        what = "Contenidos presentados" if rev.kind == P.TEXT else "Diseño presentado"
        self._queue_mail(
            s,
            need,
            activity,
            f"{rev.kind}-{rev.number}",
            self.team.emails_for(P.HEAD),
            f"presentar_{rev.kind}",
            revision=rev,
        )
        self._event(
            s,
            need.id,
            activity,
            f"{rev.kind}_presentado",
            actor,
            f"{what} para aprobación de la Jefe OAC (revisión {rev.number}).",
            revision=rev.id,
            numero=rev.number,
        )

    def present_first(self, need_id: int, kind: str) -> Revision:
        """Activity 6 or 11 for revision 1: the hand-off mail to the head (idempotent).

        Later revisions are presented by the resubmission itself (see submit_text, submit_design).
        """
        with self.session() as s:
            need = self._need(s, need_id)
            rev = s.scalar(
                select(Revision).where(Revision.need_id == need_id, Revision.kind == kind, Revision.number == 1)
            )
            if rev is None:
                raise Conflict("No hay revisión que presentar.")
            activity = 6 if kind == P.TEXT else 11
            key = f"{need_id}:{activity}:{kind}-1"
            if s.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is None:
                self._present(s, need, rev, rev.author)
            return rev

    # --- control points 7 and 12 --------------------------------------------------------------

    def decide(
        self,
        need_id: int,
        revision_id: int,
        control_point: int,
        decision: str,
        actor: str,
        comment: str = "",
        publish_at: datetime | None = None,
    ) -> DecisionOutcome:
        """Record the head's decision on exactly the revision she saw; stale or repeated decisions change nothing."""
        if control_point not in P.CONTROL_POINTS:
            raise InvalidInput(f"Punto de control desconocido: {control_point}. Son 7 (contenidos) y 12 (diseño).")
        if decision not in (P.APPROVED, P.REJECTED):
            raise InvalidInput(f"Decisión desconocida {decision!r}: use «{P.APPROVED}» o «{P.REJECTED}».")
        comment = (comment or "").strip()
        if decision == P.REJECTED and not comment:
            raise InvalidInput("Para devolver se requiere un comentario que explique los ajustes.")
        kind = P.CONTROL_POINT_KIND[control_point]
        try:
            with self.session() as s:
                need = self._need(s, need_id, for_update=True)
                rev = s.get(Revision, revision_id)
                if rev is None or rev.need_id != need_id or rev.kind != kind:
                    raise NotFound(
                        f"La revisión {revision_id} no es un {'texto' if kind == P.TEXT else 'diseño'} "
                        f"de la necesidad n.º {need_id}."
                    )
                if rev.decision is not None:
                    prev = rev.decision
                    if prev.decision == decision and prev.decided_by == actor:
                        return DecisionOutcome(prev, already_recorded=True)
                    raise Conflict(
                        f"La revisión {rev.number} ya fue decidida ({prev.decision}) por {prev.decided_by}; "
                        "no se cambia una decisión registrada."
                    )
                current = self._current(s, need_id, kind)
                if current.id != rev.id:
                    raise Conflict(
                        f"La revisión {rev.number} ya no es la vigente: la vigente es la {current.number}. "
                        "Recargue la página y decida sobre la versión actual."
                    )
                if rev.author == actor:
                    raise Conflict("Nadie aprueba ni devuelve su propio trabajo: esta revisión es suya.")
                self._standing(s, need_id).require(S.DECISION_ACTION[control_point])
                dec = Decision(
                    need_id=need_id,
                    revision_id=rev.id,
                    control_point=control_point,
                    decision=decision,
                    comment=comment,
                    decided_by=actor,
                    decided_at=utcnow(),
                    publish_at=publish_at,
                )
                s.add(dec)
                rev.state = decision
                if publish_at is not None and decision == P.APPROVED:
                    need.publish_at = publish_at
                s.flush()
                verb = "aprobado" if decision == P.APPROVED else "devuelto con comentarios"
                label = "Texto" if kind == P.TEXT else "Diseño"
                self._event(
                    s,
                    need_id,
                    control_point,
                    f"{kind}_{decision}",
                    actor,
                    f"{label} {verb} (revisión {rev.number}). Control: {P.CONTROL_POINTS[control_point]}.",
                    revision=rev.id,
                    numero=rev.number,
                    comentario=comment,
                )
                if decision == P.APPROVED and control_point == 7:
                    self._hand_off(s, need, rev)
                if decision == P.REJECTED:
                    role = P.PROFESSIONAL if kind == P.TEXT else P.TECHNICIAN
                    self._queue_mail(
                        s,
                        need,
                        control_point,
                        f"devuelto-{rev.id}",
                        self.team.emails_for(role),
                        f"devuelto_{kind}",
                        revision=rev,
                        comentario=comment,
                    )
                return DecisionOutcome(dec)
        except IntegrityError:  # a concurrent click won the race on the unique revision_id
            with self.session() as s:
                prev = s.scalar(select(Decision).where(Decision.revision_id == revision_id))
            if prev is not None and prev.decision == decision and prev.decided_by == actor:
                return DecisionOutcome(prev, already_recorded=True)
            raise Conflict(
                "Otra decisión sobre esta revisión se registró al mismo tiempo; recargue la página."
            ) from None

    # --- activities 9 to 13: the design -------------------------------------------------------

    def hand_off_to_technician(self, need_id: int) -> None:
        """Activity 9 (idempotent): normally already done by the approval at control point 7."""
        with self.session() as s:
            need = self._need(s, need_id)
            text = self._current(s, need_id, P.TEXT)
            if text is None or text.state != P.APPROVED:
                raise Conflict("El material se entrega al Técnico Operativo cuando el texto está aprobado.")
            self._hand_off(s, need, text)

    def _hand_off(self, s: Session, need: Need, text: Revision) -> None:
        if self._has_event(s, need.id, 9, "material_entregado"):
            return
        self._queue_mail(s, need, 9, "tecnico", self.team.emails_for(P.TECHNICIAN), "entregar_material", revision=text)
        self._event(
            s,
            need.id,
            9,
            "material_entregado",
            text.author,
            f"Material entregado al Técnico Operativo para diseño (texto aprobado, revisión {text.number}).",
            revision=text.id,
        )

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
        max_bytes = max_bytes or int(os.environ.get("CVP_MAX_UPLOAD_MB", "512")) * 1024 * 1024
        data_path = Path(source) if not isinstance(source, bytes) else None
        size = data_path.stat().st_size if data_path else len(source)
        if size == 0:
            raise InvalidInput("El archivo está vacío.")
        if size > max_bytes:
            raise InvalidInput(f"El archivo pesa {size / 1048576:.1f} MB; el máximo es {max_bytes / 1048576:.0f} MB.")
        if data_path:
            with data_path.open("rb") as fh:
                head = fh.read(64)
        else:
            head = source[:64]
        media_type = sniff_media_type(head)
        if media_type not in UPLOAD_TYPES:
            guessed = mimetypes.guess_type(filename)[0] or "desconocido"
            raise InvalidInput(
                f"Tipo de archivo no admitido ({guessed}). Se admiten imágenes PNG, JPEG, GIF o WebP, "
                "documentos PDF y videos MP4 o MOV."
            )
        if media_type.startswith("image/") and not alt_text.strip():
            raise InvalidInput("Toda imagen necesita un texto alternativo (descripción para lectores de pantalla).")
        suffix = UPLOAD_TYPES[media_type]
        with _local_source(source, suffix) as local:
            checks = self._check_design(need_id, local, alt_text, Path(filename).name)
            key = f"archivos/{need_id}/{uuid.uuid4().hex}{suffix}"
            digest = hashlib.sha256()
            with local.open("rb") as src:
                self.storage.write_stream(key, src, on_chunk=digest.update)
        try:
            with self.session() as s:
                need = self._need(s, need_id, for_update=True)
                number = self._next_revision_number(s, need, P.DESIGN)
                rev = Revision(
                    need_id=need_id,
                    kind=P.DESIGN,
                    number=number,
                    author=actor,
                    title=need.title,
                    filename=Path(filename).name[:255],
                    stored_path=key,
                    media_type=media_type,
                    size=size,
                    sha256=digest.hexdigest(),
                    alt_text=alt_text.strip(),
                    note=note,
                    checks=checks,
                    created_at=utcnow(),
                )
                s.add(rev)
                s.flush()
                what = "Diseño elaborado" if number == 1 else "Rediseño elaborado tras la devolución"
                self._event(
                    s,
                    need_id,
                    10,
                    "diseno_cargado",
                    actor,
                    f"{what} (revisión {number}, {media_type}, {size} bytes).",
                    revision=rev.id,
                    numero=number,
                    sha256=rev.sha256,
                )
                self._present(s, need, rev, actor)  # activity 11: the upload is sent to the head at once
                return rev
        except BaseException:
            self.storage.delete(key)  # nothing written half: no orphan file without its record
            raise

    def _check_design(self, need_id: int, path: Path, alt_text: str, name: str) -> list[dict]:
        """Media limits of every channel of the need, on a local copy; a blocking finding refuses the upload."""
        from dataclasses import replace

        from cvp.checks import check_media, probe_media

        need = self.need(need_id)
        info = replace(probe_media(path, alt_text=alt_text or None), name=name)
        findings = [(ch, f) for ch in need.channels for f in check_media(ch, [info])]
        blocking = [f"{P.CHANNELS[ch]}: {f.message}" for ch, f in findings if f.severity == "error"]
        if blocking:
            raise InvalidInput("El diseño no cumple los requisitos de los canales pedidos:", details=blocking)
        return [dict(f.to_dict(), channel=ch) for ch, f in findings]

    def design_media(self, rev: Revision):
        """The design's file as a path object of the store (``open``, ``name``); legacy rows stay local paths."""
        return self.storage.path(rev.stored_path)

    def deliver_final(self, need_id: int) -> str:
        """Activity 13: the approved design is delivered to the professional as the final file (its key)."""
        with self.session() as s:
            need = self._need(s, need_id)
            design = self._current(s, need_id, P.DESIGN)
            if design is None or design.state != P.APPROVED:
                raise Conflict("La pieza definitiva requiere un diseño aprobado (actividad 12).")
            suffix = Path(design.stored_path).suffix
            final = f"definitivas/{need_id}/pieza-{need_id}-d{design.number}{suffix}"
            name = final.rsplit("/", 1)[1]
            if not self.storage.exists(final):
                self.storage.copy(design.stored_path, final)
            if not self._has_event(s, need_id, 13, "pieza_entregada"):
                self._queue_mail(
                    s,
                    need,
                    13,
                    "profesional",
                    self.team.emails_for(P.PROFESSIONAL),
                    "entregar_pieza",
                    revision=design,
                    archivo=name,
                )
                self._event(
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

    def cancel_need(self, need_id: int, actor: str, reason: str) -> Need:
        """The head withdraws a need before publication; every waiting step then ends (skipped)."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("Para cancelar una necesidad se requiere el motivo (queda en el expediente).")
        with self.session() as s:
            need = self._need(s, need_id, for_update=True)
            self._standing(s, need_id).require(S.CANCEL)
            need.status = "cancelada"
            self._event(s, need_id, 1, "necesidad_cancelada", actor, f"Necesidad cancelada: {reason}", motivo=reason)
            return need

    # --- what the sensors wait for ------------------------------------------------------------

    def condition_met(self, need_id: int, condition: str) -> dict | None:
        """Return a small summary when the waited-for record exists, else None (one cheap query).

        A cancelled need answers ``{"cancelled": True}``: nothing will ever come, the wait ends.
        """
        with self.session() as s:
            if s.scalar(select(Need.status).where(Need.id == need_id)) == "cancelada":
                return {"cancelled": True}
            if condition in (P.WAIT_MEETING, P.WAIT_CONTENT_PLAN):
                kind = "registro_reunion" if condition == P.WAIT_MEETING else "plan_contenidos"
                doc = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == kind))
                return {"document_id": doc.id, "author": doc.author} if doc else None
            kind = P.TEXT if condition in (P.WAIT_TEXT_SUBMITTED, P.WAIT_TEXT_APPROVED) else P.DESIGN
            rev = self._current(s, need_id, kind)
            if rev is None:
                return None
            if condition in (P.WAIT_TEXT_APPROVED, P.WAIT_DESIGN_APPROVED) and rev.state != P.APPROVED:
                return None
            rounds = s.scalar(
                select(func.count(Decision.id))
                .join(Revision, Revision.id == Decision.revision_id)
                .where(Revision.need_id == need_id, Revision.kind == kind)
            )
            return {"revision_id": rev.id, "number": rev.number, "author": rev.author, "rounds": rounds}

    # --- reading ------------------------------------------------------------------------------

    def events(self, need_id: int) -> list[Event]:
        with self.session() as s:
            return list(s.scalars(select(Event).where(Event.need_id == need_id).order_by(Event.id)))

    def revisions(self, need_id: int, kind: str | None = None) -> list[Revision]:
        with self.session() as s:
            q = select(Revision).where(Revision.need_id == need_id).order_by(Revision.kind, Revision.number)
            if kind:
                q = q.where(Revision.kind == kind)
            revs = list(s.scalars(q))
            for r in revs:
                _ = r.decision  # load while the session is open
            return revs

    def documents(self, need_id: int) -> list[Document]:
        with self.session() as s:
            return list(s.scalars(select(Document).where(Document.need_id == need_id).order_by(Document.id)))

    def notifications(self, need_id: int) -> list[Notification]:
        with self.session() as s:
            return list(
                s.scalars(select(Notification).where(Notification.need_id == need_id).order_by(Notification.id))
            )

    def publications(self, need_id: int) -> list[Publication]:
        with self.session() as s:
            return list(s.scalars(select(Publication).where(Publication.need_id == need_id).order_by(Publication.id)))


@contextmanager
def _local_source(source: Path | bytes, suffix: str) -> Iterator[Path]:
    """The upload as a local file: its own temporary file, or a private scratch file for bytes."""
    if not isinstance(source, bytes):
        yield Path(source)
        return
    fd, name = tempfile.mkstemp(prefix="cvp-diseno-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def mail_reference(n: Notification) -> str:
    """The mail record's stable name (the Message-ID's left part): its id and creation instant, so
    every delivery of one record carries the same Message-ID and two databases never share one."""
    return f"cvp-{n.id}.{n.created_at:%Y%m%d%H%M%S%f}"


def _filled(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return any(_filled(v) for v in value)
    return value is not None and value != {}
