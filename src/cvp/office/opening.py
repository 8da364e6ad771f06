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

    def check_run_changer(self, actor: str) -> None:
        """Only the head (or whoever the team file lets open needs) changes a need's run from Airflow.

        Marking the run or its tasks, clearing or deleting them from Airflow's UI or REST API bypasses
        the forms; whoever else asks is refused in Spanish and nothing changes.
        """
        member = self.team.members.get(actor)
        if member is not None and member.may_open_needs:
            return
        who = (
            f"«{actor}» tiene el rol {P.ROLE_NAMES.get(member.role, member.role)}"
            if member is not None
            else f"«{actor}» no está en el equipo de la OAC"
        )
        raise PermissionDenied(
            "Cambiar desde Airflow la ejecución de una necesidad de comunicación (marcarla como fallida o "
            f"exitosa, limpiarla, borrarla o cambiar el estado de sus tareas) corresponde a la Jefe OAC; {who}. "
            "No se cambió nada: use los formularios de la OAC o pida el cambio a la Jefe OAC."
        )

    def record_run_change(
        self, run_id: str, outcome: str, actor: str, tasks: tuple[str, ...] | list[str] = ()
    ) -> Need | None:
        """Someone changed a need's run from Airflow itself: marked, cleared or deleted it or some of its tasks.

        ``outcome`` is the run's new state (``failed``, ``success``, ``queued``), ``cleared`` or
        ``deleted``; with ``tasks`` it is what happened to those tasks (``success``, ``failed``,
        ``skipped``, ``cleared``, ``deleted``). The records say what happened and who did it; a need still
        in progress whose run was ended (marked failed or successful, deleted) is closed as cancelled,
        since nothing is published by such a change. A run state heard twice in a row is recorded once.
        """
        tasks = tuple(tasks)
        if tasks:
            action, what, closes_run = _task_change(outcome, tasks)
            activity = _activity_of(tasks)
        else:
            action, what, closes_run = _RUN_CHANGES[outcome]
            activity = 1
        with self.session() as s:
            need = self.records.need_of_run(s, run_id, for_update=True)
            if need is None:
                return None
            if not tasks and outcome != "cleared":
                last = s.scalar(select(Event).where(Event.need_id == need.id).order_by(Event.id.desc()).limit(1))
                if last is not None and last.action == action and last.actor == actor:
                    return need
            closes = closes_run and need.status == P.NeedStatus.IN_COURSE
            summary = f"{actor} {what} desde Airflow"
            if closes:
                summary += ": la necesidad queda cancelada sin publicar."
            elif closes_run:
                summary += f" (la necesidad ya estaba {_status_name(need.status)})."
            else:
                summary += f" (la necesidad sigue {_status_name(need.status)})."
            if closes:
                need.status = P.NeedStatus.CANCELLED
            detail = {"estado_airflow": outcome, "cierra": closes}
            if tasks:
                detail["tareas"] = list(tasks)
            self.records.event(s, need.id, activity, action, actor, summary, **detail)
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


# What a change to the whole run is called in the history, how it reads, and whether it ends the run.
_RUN_CHANGES = {
    "failed": ("ejecucion_fallida_en_airflow", "marcó como fallida la ejecución", True),
    "success": ("ejecucion_exitosa_en_airflow", "marcó como exitosa la ejecución", True),
    "queued": ("ejecucion_en_cola_en_airflow", "volvió a poner en cola la ejecución", False),
    "cleared": ("ejecucion_limpiada_en_airflow", "limpió la ejecución (sus tareas vuelven a ejecutarse)", False),
    "deleted": ("ejecucion_eliminada_en_airflow", "eliminó la ejecución", True),
}
_TASK_STATES = {
    "success": ("exitosa", "exitosas"),
    "failed": ("fallida", "fallidas"),
    "skipped": ("omitida", "omitidas"),
}


def _task_change(outcome: str, tasks: tuple[str, ...]) -> tuple[str, str, bool]:
    many = len(tasks) > 1
    names = ", ".join(f"«{t}»" for t in tasks)
    which = f"las tareas {names}" if many else f"la tarea {names}"
    if outcome in _TASK_STATES:
        word = _TASK_STATES[outcome][1 if many else 0]
        return f"tarea_{_TASK_STATES[outcome][0]}_en_airflow", f"marcó {which} como {word}", False
    if outcome == "cleared":
        again = "vuelven" if many else "vuelve"
        return "tarea_limpiada_en_airflow", f"limpió {which} ({again} a ejecutarse)", False
    if outcome == "deleted":
        return "tarea_eliminada_en_airflow", f"eliminó {which} de la ejecución", False
    raise KeyError(outcome)


def _activity_of(tasks: tuple[str, ...]) -> int:
    """The activity of the first task named (cvp.procedure.TASK_ACTIVITY), else activity 1."""
    return next((P.TASK_ACTIVITY[t] for t in tasks if t in P.TASK_ACTIVITY), 1)


def _status_name(status: str) -> str:
    return P.NEED_STATUS_NAMES.get(status, status).lower()
