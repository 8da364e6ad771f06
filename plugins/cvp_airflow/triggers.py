"""The trigger behind every human step: waits, in the triggerer, until a record exists.

It polls one indexed query at a short interval, off the event loop; a waiting run holds no worker
slot, and the interval bounds how long a decision takes to resume the run.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseTrigger, TriggerEvent

DEFAULT_POLL_SECONDS = float(os.environ.get("CVP_POLL_SECONDS", "0.5"))


class RecordConditionTrigger(BaseTrigger):
    def __init__(self, need_id: int, condition: str, records_conn_id: str = "cvp_records",
                 poll_interval: float = DEFAULT_POLL_SECONDS):
        super().__init__()
        self.need_id = need_id
        self.condition = condition
        self.records_conn_id = records_conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "cvp_airflow.triggers.RecordConditionTrigger",
            {"need_id": self.need_id, "condition": self.condition, "records_conn_id": self.records_conn_id,
             "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from cvp.office import Office

        from cvp_airflow.hooks import RecordsHook

        url = await RecordsHook(self.records_conn_id).aget_url()
        office = await asyncio.to_thread(Office, url)
        while True:
            try:
                info = await asyncio.to_thread(office.condition_met, self.need_id, self.condition)
            except Exception as exc:  # noqa: BLE001 - report, the sensor fails with the message
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if info is not None:
                yield TriggerEvent({"status": "met", "need_id": self.need_id, "condition": self.condition, **info})
                return
            await asyncio.sleep(self.poll_interval)
