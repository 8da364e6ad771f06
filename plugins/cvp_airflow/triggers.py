"""The trigger behind every human step: waits, in the triggerer, until a record exists.

It polls one indexed query at a short interval, off the event loop; a waiting run holds no worker
slot, and the interval bounds how long a decision takes to resume the run. By default the trigger
ends the task itself (TaskSuccessEvent, the waited-for record summary as its XCom): no worker
process is started just to return, which is most of what a resume would otherwise cost.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseTrigger, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

DEFAULT_POLL_SECONDS = float(os.environ.get("CVP_POLL_SECONDS", "0.5"))


class RecordConditionTrigger(BaseTrigger):
    def __init__(self, need_id: int, condition: str, records_conn_id: str = "cvp_records",
                 poll_interval: float = DEFAULT_POLL_SECONDS, end_from_trigger: bool = True):
        super().__init__()
        self.end_from_trigger = end_from_trigger
        self.need_id = need_id
        self.condition = condition
        self.records_conn_id = records_conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "cvp_airflow.triggers.RecordConditionTrigger",
            {"need_id": self.need_id, "condition": self.condition, "records_conn_id": self.records_conn_id,
             "poll_interval": self.poll_interval, "end_from_trigger": self.end_from_trigger},
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
                summary = {"need_id": self.need_id, "condition": self.condition, **info}
                if info.get("cancelled") and self.end_from_trigger:
                    yield TaskSkippedEvent()  # the need was withdrawn: the rest of the run is skipped
                elif self.end_from_trigger:
                    yield TaskSuccessEvent(xcoms={"return_value": summary})
                else:
                    yield TriggerEvent({"status": "met", **summary})
                return
            await asyncio.sleep(self.poll_interval)
