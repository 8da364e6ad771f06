"""The Red Distrital's daily wait for the head's decisions on the joint actions, deferred like the control points.

The sensor checks once; while some of the day's actions have no decision it defers to the trigger,
which asks the records every ``poll_interval`` seconds in the triggerer (no worker held) and fires when
every action is decided or when the wait's bound passes (the end of the day in Bogotá by default,
``CVP_RED_ESPERA_HASTA`` = ``HH:MM`` for an earlier hour). Ending at the bound is not a failure: what
still waits is said in the day's summary.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

DEFAULT_POLL_SECONDS = 30.0
UNTIL_SETTING = "CVP_RED_ESPERA_HASTA"


def wait_bound(day: date) -> datetime:
    """Until when the day's decisions are waited for (UTC): the configured Bogotá hour, else the day's end."""
    from cvp.config import TIMEZONE, bogota_day_start

    raw = (os.environ.get(UNTIL_SETTING) or "").strip()
    if raw:
        try:
            hour = time.fromisoformat(raw)
        except ValueError:
            raise AirflowException(f"{UNTIL_SETTING}={raw!r} no es una hora válida (HH:MM, hora de Bogotá).") from None
        return datetime.combine(day, hour, TIMEZONE).astimezone(UTC)
    return bogota_day_start(day + timedelta(days=1)).astimezone(UTC)


def undecided(url: str, day: date) -> int:
    from sqlalchemy.orm import Session

    from cvp.joint_actions import undecided_count
    from cvp.records.db import engine_for

    with Session(engine_for(url)) as s:
        return undecided_count(s, day)


class JointDecisionsTrigger(BaseTrigger):
    """Fires once every action of ``day`` has the head's decision, or at ``until``."""

    def __init__(
        self, day: str, until: str, records_conn_id: str = "cvp_records", poll_interval: float = DEFAULT_POLL_SECONDS
    ):
        super().__init__()
        self.day = day
        self.until = until
        self.records_conn_id = records_conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "cvp_airflow.red_waits.JointDecisionsTrigger",
            {
                "day": self.day,
                "until": self.until,
                "records_conn_id": self.records_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from cvp_airflow.triggers import records_url

        day, until = date.fromisoformat(self.day), datetime.fromisoformat(self.until)
        try:
            url = await records_url(self.records_conn_id)
            while True:
                pending = await asyncio.to_thread(undecided, url, day)
                if pending == 0:
                    yield TriggerEvent({"status": "decididas", "dia": self.day, "pendientes": 0})
                    return
                remaining = (until - datetime.now(UTC)).total_seconds()
                if remaining <= 0:
                    yield TriggerEvent({"status": "fin_de_la_espera", "dia": self.day, "pendientes": pending})
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
        except Exception as exc:  # noqa: BLE001 - the sensor fails with the message, in Spanish
            yield TriggerEvent({"status": "error", "dia": self.day, "mensaje": f"{type(exc).__name__}: {exc}"})


class JointDecisionsSensor(BaseSensorOperator):
    """Wait (deferred) for the head's decisions on the day's joint actions, bounded by the day's end."""

    ui_color = "#fde9c9"

    def __init__(
        self,
        *,
        records_conn_id: str = "cvp_records",
        poll_interval: float = DEFAULT_POLL_SECONDS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.records_conn_id = records_conn_id
        self.poll_interval = poll_interval

    def _state(self, context: Any) -> tuple[date, datetime, int]:
        from cvp_airflow.hooks import RecordsHook
        from cvp_airflow.red_steps import run_day

        day = run_day(context)
        return day, wait_bound(day), undecided(RecordsHook(self.records_conn_id).get_url(), day)

    def poke(self, context: Any) -> bool:
        _, until, pending = self._state(context)
        return pending == 0 or datetime.now(UTC) >= until

    def execute(self, context: Any) -> dict | None:
        day, until, pending = self._state(context)
        if pending == 0 or datetime.now(UTC) >= until:
            return {"dia": day.isoformat(), "pendientes": pending}
        self.log.info("%s acciones conjuntas del %s esperan decisión; se espera hasta %s", pending, day, until)
        self.defer(
            trigger=JointDecisionsTrigger(day.isoformat(), until.isoformat(), self.records_conn_id, self.poll_interval),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict | None = None) -> dict:
        if not event or event.get("status") not in ("decididas", "fin_de_la_espera"):
            raise AirflowException(
                "La espera de las decisiones sobre las acciones conjuntas terminó con error: "
                f"{(event or {}).get('mensaje', 'sin detalle')}"
            )
        if event["pendientes"]:
            self.log.warning("%s acciones conjuntas quedaron sin decisión al cerrar la espera", event["pendientes"])
        return {"dia": event["dia"], "pendientes": event["pendientes"]}
