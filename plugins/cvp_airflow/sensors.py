"""Deferrable sensors for the human steps of the procedure: they wait on the records, not on a worker.

Where it can, the trigger ends the task itself (no worker is started just to return). Airflow's
listeners (OpenLineage, an audit plugin, the example plugins) are called only by the worker that
finishes a task, so where any is installed the wait resumes on a worker instead, and the DAG bag
accepts the DAG: each process asks its own Airflow which case it is in.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from cvp_airflow.triggers import DEFAULT_POLL_SECONDS, RecordConditionTrigger, wait_summary

log = logging.getLogger(__name__)

# "auto" (default) or a yes: the trigger ends the task unless listeners are installed; a no: always on
# a worker. Any other value is warned about and read as "auto" (the DAG file still loads).
END_IN_TRIGGERER_SETTING = "CVP_WAITS_END_IN_TRIGGERER"
_AUTO = ("", "auto")
_YES = ("yes", "si", "sí", "true", "1", "on")
_NO = ("no", "false", "0", "off")
_warned: set[str] = set()


def listeners_installed() -> bool:
    """Whether this Airflow process has listener plugins, which must see each task end on a worker.

    The DAG bag's own listener manager is asked while a DAG is parsed (so the answer is the one its
    check uses); elsewhere the task SDK's, which a worker has already loaded to call them.
    """
    core = sys.modules.get("airflow.listeners.listener")
    if core is not None:
        return core.get_listener_manager().has_listeners
    from airflow.sdk.listener import get_listener_manager

    return get_listener_manager().has_listeners


def configured_preference() -> bool:
    """Whether CVP_WAITS_END_IN_TRIGGERER lets the trigger end the waits (listeners still win).

    An unknown value is not an error (it would fail the DAG's import): it is read as "auto", the
    choice that is safe everywhere, and said once per process in the log.
    """
    raw = os.environ.get(END_IN_TRIGGERER_SETTING, "auto")
    value = raw.strip().lower()
    if value in _NO:
        return False
    if value not in _AUTO + _YES and raw not in _warned:
        _warned.add(raw)
        log.warning(
            "%s=%r no es un valor válido: se usa «auto» (el triggerer termina la espera si no hay listeners "
            "de Airflow instalados). Valores aceptados: auto; %s (terminar en el triggerer si se puede); "
            "%s (retomar siempre en un trabajador).",
            END_IN_TRIGGERER_SETTING,
            raw,
            ", ".join(_YES),
            ", ".join(_NO),
        )
    return True


def waits_end_in_triggerer(preferred: bool | None = None) -> bool:
    """Whether a wait may end its task from the trigger here: if preferred (or configured) and no listener."""
    if preferred is None:
        preferred = configured_preference()
    return bool(preferred) and not listeners_installed()


def _duration(span: timedelta) -> str:
    """A wait's limit in Spanish words: "30 días", "2 horas", "90 segundos"."""
    seconds = int(span.total_seconds())
    for unit, size in (("día", 86400), ("hora", 3600), ("minuto", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} segundo{'s' if seconds != 1 else ''}"


class TriggerEndChoice:
    """``end_from_trigger`` answered by the running Airflow, never fixed when the DAG file is written.

    Airflow's DAG bag refuses a task whose ``end_from_trigger`` is true where listeners are installed;
    this property is false there, so the DAG loads and the wait resumes on a worker the listeners see.
    """

    prefer_end_from_trigger: bool | None = None

    @property
    def end_from_trigger(self) -> bool:
        return waits_end_in_triggerer(self.prefer_end_from_trigger)

    def _log_end_choice(self, end_from_trigger: bool) -> None:
        if end_from_trigger:
            self.log.info("La espera termina en el triggerer: ningún trabajador se ocupa para cerrarla.")
        else:
            self.log.info(
                "La espera se retoma en un trabajador al cumplirse (hay listeners de Airflow "
                "instalados o %s=no), para que los listeners vean el fin de la tarea.",
                END_IN_TRIGGERER_SETTING,
            )


class RecordSensor(TriggerEndChoice, BaseSensorOperator):
    """Wait until ``condition`` holds for the run's need (a record written by a person through the forms).

    Checks once; if not yet, defers to RecordConditionTrigger and frees its worker slot.
    ``end_from_trigger``: None follows CVP_WAITS_END_IN_TRIGGERER; listeners always win (see module doc).
    """

    ui_color = "#fde9c9"

    def __init__(
        self,
        *,
        condition: str,
        records_conn_id: str = "cvp_records",
        poll_interval: float = DEFAULT_POLL_SECONDS,
        timeout: timedelta = timedelta(days=30),
        end_from_trigger: bool | None = None,
        **kwargs,
    ):
        super().__init__(timeout=timeout.total_seconds(), **kwargs)
        self.condition = condition
        self.prefer_end_from_trigger = end_from_trigger
        self.records_conn_id = records_conn_id
        self.poll_interval = poll_interval
        self.wait_timeout = timeout

    def prepare(self, office, need_id: int) -> None:
        """What the step does before a person acts (e.g. pre-render drafts); nothing by default."""

    def execute(self, context: Any) -> dict | None:
        from cvp import waits
        from cvp_airflow.hooks import RecordsHook

        office = RecordsHook(self.records_conn_id).office()
        need = office.need_by_run(context["run_id"])
        self.prepare(office, need.id)
        office.deliver_pending(need_id=need.id)
        with office.session() as s:
            info = waits.condition_met(s, need.id, self.condition)
        if info is not None and info.get("cancelled"):
            raise AirflowSkipException(f"La necesidad n.º {need.id} fue cancelada.")
        if info is not None:
            return self._done(need.id, info)
        end_from_trigger = self.end_from_trigger
        self._log_end_choice(end_from_trigger)
        self.defer(
            trigger=RecordConditionTrigger(
                need.id, self.condition, self.records_conn_id, self.poll_interval, end_from_trigger=end_from_trigger
            ),
            method_name="execute_complete",
            timeout=self.wait_timeout,
        )

    def execute_complete(self, context: Any, event: dict | None = None) -> dict:
        if event and event.get("cancelled"):
            raise AirflowSkipException(f"La necesidad n.º {event.get('need_id')} fue cancelada.")
        if not event or event.get("status") != "met":
            raise AirflowException(
                f"La espera de «{self.condition}» terminó con error: {(event or {}).get('message', 'sin detalle')}"
            )
        return self._done(event["need_id"], event)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any):
        """On a worker: the event, or the scheduler's timeout, said in Spanish (the same in both modes).

        A deferral that times out is never ended by its trigger (the triggerer cancels it without an
        event); the scheduler sends it to a worker with ``__fail__``, and the SDK raises
        AirflowSensorTimeout, which fails the task without retries.
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(
                f"La espera de «{self.condition}» venció sin respuesta tras {_duration(self.wait_timeout)}."
            ) from exc

    def _done(self, need_id: int, info: dict) -> dict:
        """The XCom of a met wait: the same whether it was met at once, on a worker or in the trigger.

        The mails of the act that met it are not delivered here (the trigger, which may end the task,
        could not either): the forms deliver them right after the act, and the step after every wait
        delivers whatever is still pending (tests/airflow/test_sensors.py checks that step).
        """
        summary = wait_summary(need_id, self.condition, info)
        self.log.info("Necesidad %s: se cumplió «%s» (%s)", need_id, self.condition, summary)
        return summary


class TextProductionSensor(RecordSensor):
    """Activity 5: prepares the per-channel drafts, then waits for the professional's first text."""

    def prepare(self, office, need_id: int) -> None:
        office.prepare_drafts(need_id)


class PublicationTimeSensor(TriggerEndChoice, BaseSensorOperator):
    """Activity 14 keeps the piece's moment ("oportunidad"): waits, deferred, until its publication time.

    The time comes from the need (trigger form) or from the head at control point 12; without one the
    piece is published at once. Like the human steps, the trigger ends the task where no listener is
    installed, so no worker resumes just to finish.
    """

    ui_color = "#e3f0ff"

    def __init__(self, *, records_conn_id: str = "cvp_records", end_from_trigger: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        self.records_conn_id = records_conn_id
        self.prefer_end_from_trigger = end_from_trigger

    def execute(self, context: Any) -> str | None:
        from datetime import datetime

        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from cvp_airflow.hooks import RecordsHook

        need = RecordsHook(self.records_conn_id).office(with_mailer=False).need_by_run(context["run_id"])
        if need.publish_at is None or need.publish_at <= datetime.now(UTC):
            return None
        self.log.info("Need %s is published at %s: deferring until then", need.id, need.publish_at.isoformat())
        end_from_trigger = self.end_from_trigger
        self._log_end_choice(end_from_trigger)
        self.defer(
            trigger=DateTimeTrigger(moment=need.publish_at, end_from_trigger=end_from_trigger),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        return None
