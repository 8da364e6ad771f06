"""Deferrable sensor for the human steps of the procedure: it waits on the records, not on a worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from cvp_airflow.triggers import DEFAULT_POLL_SECONDS, RecordConditionTrigger


class RecordSensor(BaseSensorOperator):
    """Wait until ``condition`` holds for the run's need (a record written by a person through the forms).

    Checks once; if not yet, defers to RecordConditionTrigger and frees its worker slot.
    """

    ui_color = "#fde9c9"

    def __init__(self, *, condition: str, records_conn_id: str = "cvp_records",
                 poll_interval: float = DEFAULT_POLL_SECONDS, timeout: timedelta = timedelta(days=30),
                 end_from_trigger: bool = True, **kwargs):
        super().__init__(timeout=timeout.total_seconds(), **kwargs)
        self.condition = condition
        self.end_from_trigger = end_from_trigger
        self.records_conn_id = records_conn_id
        self.poll_interval = poll_interval
        self.wait_timeout = timeout

    def prepare(self, office, need_id: int) -> None:
        """What the step does before a person acts (e.g. pre-render drafts); nothing by default."""

    def execute(self, context: Any) -> dict | None:
        from cvp_airflow.hooks import RecordsHook

        office = RecordsHook(self.records_conn_id).office()
        need = office.need_by_run(context["run_id"])
        self.prepare(office, need.id)
        office.deliver_pending(need_id=need.id)
        info = office.condition_met(need.id, self.condition)
        if info is not None and info.get("cancelled"):
            raise AirflowSkipException(f"La necesidad n.º {need.id} fue cancelada.")
        if info is not None:
            return self._done(office, need.id, info)
        self.defer(
            trigger=RecordConditionTrigger(need.id, self.condition, self.records_conn_id, self.poll_interval,
                                           end_from_trigger=self.end_from_trigger),
            method_name="execute_complete",
            timeout=self.wait_timeout,
        )

    def execute_complete(self, context: Any, event: dict | None = None) -> dict:
        if event and event.get("cancelled"):
            raise AirflowSkipException(f"La necesidad n.º {event.get('need_id')} fue cancelada.")
        if not event or event.get("status") != "met":
            raise AirflowException(f"La espera de «{self.condition}» terminó con error: "
                                   f"{(event or {}).get('message', 'sin detalle')}")
        from cvp_airflow.hooks import RecordsHook

        office = RecordsHook(self.records_conn_id).office()
        return self._done(office, event["need_id"], event)

    def _done(self, office, need_id: int, info: dict) -> dict:
        office.deliver_pending(need_id=need_id)
        self.log.info("Need %s: %s (%s)", need_id, self.condition, info)
        return {k: v for k, v in info.items() if k != "status"}


class TextProductionSensor(RecordSensor):
    """Activity 5: prepares the per-channel drafts, then waits for the professional's first text."""

    def prepare(self, office, need_id: int) -> None:
        office.prepare_drafts(need_id)


class PublicationTimeSensor(BaseSensorOperator):
    """Activity 14 keeps the piece's moment ("oportunidad"): waits, deferred, until its publication time.

    The time comes from the need (trigger form) or from the head at control point 12; without one the
    piece is published at once. The trigger ends the task itself, so no worker resumes just to finish.
    """

    ui_color = "#e3f0ff"

    def __init__(self, *, records_conn_id: str = "cvp_records", **kwargs):
        super().__init__(**kwargs)
        self.records_conn_id = records_conn_id

    def execute(self, context: Any) -> str | None:
        from datetime import datetime, timezone

        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from cvp_airflow.hooks import RecordsHook

        need = RecordsHook(self.records_conn_id).office(with_mailer=False).need_by_run(context["run_id"])
        if need.publish_at is None or need.publish_at <= datetime.now(timezone.utc):
            return None
        self.log.info("Need %s is published at %s: deferring until then", need.id, need.publish_at.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=need.publish_at, end_from_trigger=True),
                   method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        return None
