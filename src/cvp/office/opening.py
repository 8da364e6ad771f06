"""Activity 1 and the ends that are not a publication: a need opened (or refused), cancelled, or closed from Airflow."""

from __future__ import annotations

from sqlalchemy import select

from cvp import procedure as P
from cvp import state as S
from cvp.errors import InvalidInput, PermissionDenied
from cvp.needs import NeedInput, parse_need
from cvp.office.base import Desk
from cvp.records.models import Event, Need, RefusedNeed


class Opening(Desk):
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
                existing = self.records.need_of_run(s, run_id)
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
                created_at=self.records.now(),
            )
            s.add(need)
            s.flush()
            route = (
                "acción puntual: continúa en la actividad 5"
                if data.one_off
                else "requiere planeación: continúa en la actividad 2"
            )
            self.records.event(
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
            s.add(
                RefusedNeed(
                    run_id=run_id, requested_by=actor[:120], title=title[:200], reason=reason, at=self.records.now()
                )
            )

    def record_run_change(self, run_id: str, outcome: str, actor: str) -> Need | None:
        """Someone changed a need's run from Airflow itself (marked it failed or successful).

        The records say what happened and who did it; a need still in progress is closed as cancelled,
        since nothing is published by such a change. Idempotent for the same change.
        """
        what = {"failed": "marcó como fallida", "success": "marcó como exitosa"}[outcome]
        with self.session() as s:
            need = self.records.need_of_run(s, run_id, for_update=True)
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
            self.records.event(s, need.id, 1, action, actor, summary, estado_airflow=outcome, cierra=closes)
            return need

    def cancel_need(self, need_id: int, actor: str, reason: str) -> Need:
        """The head withdraws a need before publication; every waiting step then ends (skipped)."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("Para cancelar una necesidad se requiere el motivo (queda en el expediente).")
        with self.session() as s:
            need = self.records.need(s, need_id, for_update=True)
            self.records.standing(s, need_id).require(S.CANCEL)
            need.status = "cancelada"
            self.records.event(
                s, need_id, 1, "necesidad_cancelada", actor, f"Necesidad cancelada: {reason}", motivo=reason
            )
            return need
