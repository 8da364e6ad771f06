"""The head's review of texts and designs: each revision presented (6, 11), decided (7, 12), and the hand-off (9).

A revision is decided once, on exactly the revision the head saw, and never by its author; the text's
approval hands the material to the technician in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cvp import procedure as P
from cvp import state as S
from cvp.errors import Conflict, InvalidInput, NotFound
from cvp.office.base import Desk
from cvp.records.models import Decision, Need, Revision


@dataclass
class DecisionOutcome:
    decision: Decision
    already_recorded: bool = False


class Reviews(Desk):
    def _next_revision_number(self, s: Session, need: Need, kind: str) -> int:
        """Check with the procedure's order that a new revision of ``kind`` fits now; return its number."""
        self.records.standing(s, need.id).require(S.SUBMIT_ACTION[kind])
        current = self.records.current(s, need.id, kind)
        return (current.number if current else 0) + 1

    def _present(self, s: Session, need: Need, rev: Revision, actor: str) -> None:
        activity = 6 if rev.kind == P.TEXT else 11
        what = "Contenidos presentados" if rev.kind == P.TEXT else "Diseño presentado"
        self.outbox.queue(
            s,
            need,
            activity,
            f"{rev.kind}-{rev.number}",
            self.team.emails_for(P.HEAD),
            f"presentar_{rev.kind}",
            revision=rev,
        )
        self.records.event(
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
            need = self.records.need(s, need_id)
            rev = s.scalar(
                select(Revision).where(Revision.need_id == need_id, Revision.kind == kind, Revision.number == 1)
            )
            if rev is None:
                raise Conflict("No hay revisión que presentar.")
            activity = 6 if kind == P.TEXT else 11
            if not self.outbox.queued(s, need_id, activity, f"{kind}-1"):
                self._present(s, need, rev, rev.author)
            return rev

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
                need = self.records.need(s, need_id, for_update=True)
                rev = self._revision_to_decide(s, need_id, revision_id, kind)
                if rev.decision is not None:
                    return _repeated(rev, decision, actor)
                self._require_decidable(s, rev, control_point, actor)
                dec = Decision(
                    need_id=need_id,
                    revision_id=rev.id,
                    control_point=control_point,
                    decision=decision,
                    comment=comment,
                    decided_by=actor,
                    decided_at=self.records.now(),
                    publish_at=publish_at,
                )
                s.add(dec)
                rev.state = decision
                if publish_at is not None and decision == P.APPROVED:
                    need.publish_at = publish_at
                s.flush()
                verb = "aprobado" if decision == P.APPROVED else "devuelto con comentarios"
                label = "Texto" if kind == P.TEXT else "Diseño"
                self.records.event(
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
                    self.outbox.queue(
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

    def _revision_to_decide(self, s: Session, need_id: int, revision_id: int, kind: str) -> Revision:
        rev = s.get(Revision, revision_id)
        if rev is None or rev.need_id != need_id or rev.kind != kind:
            raise NotFound(
                f"La revisión {revision_id} no es un {'texto' if kind == P.TEXT else 'diseño'} "
                f"de la necesidad n.º {need_id}."
            )
        return rev

    def _require_decidable(self, s: Session, rev: Revision, control_point: int, actor: str) -> None:
        """The revision is the current one, not the actor's own, and the need waits for this decision now."""
        current = self.records.current(s, rev.need_id, rev.kind)
        if current.id != rev.id:
            raise Conflict(
                f"La revisión {rev.number} ya no es la vigente: la vigente es la {current.number}. "
                "Recargue la página y decida sobre la versión actual."
            )
        if rev.author == actor:
            raise Conflict("Nadie aprueba ni devuelve su propio trabajo: esta revisión es suya.")
        self.records.standing(s, rev.need_id).require(S.DECISION_ACTION[control_point])

    def hand_off_to_technician(self, need_id: int) -> None:
        """Activity 9 (idempotent): normally already done by the approval at control point 7."""
        with self.session() as s:
            need = self.records.need(s, need_id)
            text = self.records.current(s, need_id, P.TEXT)
            if text is None or text.state != P.APPROVED:
                raise Conflict("El material se entrega al Técnico Operativo cuando el texto está aprobado.")
            self._hand_off(s, need, text)

    def _hand_off(self, s: Session, need: Need, text: Revision) -> None:
        if self.records.has_event(s, need.id, 9, "material_entregado"):
            return
        self.outbox.queue(s, need, 9, "tecnico", self.team.emails_for(P.TECHNICIAN), "entregar_material", revision=text)
        self.records.event(
            s,
            need.id,
            9,
            "material_entregado",
            text.author,
            f"Material entregado al Técnico Operativo para diseño (texto aprobado, revisión {text.number}).",
            revision=text.id,
        )


def _repeated(rev: Revision, decision: str, actor: str) -> DecisionOutcome:
    """A decided revision: the same decision by the same person again changes nothing; any other is refused."""
    prev = rev.decision
    if prev.decision == decision and prev.decided_by == actor:
        return DecisionOutcome(prev, already_recorded=True)
    raise Conflict(
        f"La revisión {rev.number} ya fue decidida ({prev.decision}) por {prev.decided_by}; "
        "no se cambia una decisión registrada."
    )
