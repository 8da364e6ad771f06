"""The trigger behind every human step: waits, in the triggerer, until a record exists.

Every RecordConditionTrigger of a triggerer process shares one watcher (watcher.py): the trigger
only registers its (need, condition) and awaits the answer, so thousands of waits cost one read of
the records per interval, and on PostgreSQL a decision wakes its wait at once (NOTIFY). A waiting
run holds no worker slot. Where no Airflow listener is installed the trigger ends the task itself
(TaskSuccessEvent, the waited-for record summary as its XCom); otherwise the sensor resumes on a worker.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

DEFAULT_POLL_SECONDS = float(os.environ.get("CVP_POLL_SECONDS", "0.5"))
URL_TTL_SECONDS = 60.0
_urls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> conn_id -> (when, lookup)


async def records_url(conn_id: str) -> str:
    """The records URL of a connection, looked up once a minute per process, not once per wait.

    A triggerer that starts with 10,000 waits would otherwise ask Airflow for the same Connection
    10,000 times; concurrent askers share one lookup.
    """
    from cvp_airflow.hooks import RecordsHook

    now = time.monotonic()
    urls = _urls.setdefault(asyncio.get_running_loop(), {})
    cached = urls.get(conn_id)
    if cached is None or now - cached[0] > URL_TTL_SECONDS or (cached[1].done() and cached[1].exception()):
        cached = urls[conn_id] = (now, asyncio.ensure_future(RecordsHook(conn_id).aget_url()))
    return await asyncio.shield(cached[1])


def wait_summary(need_id: int, condition: str, info: dict) -> dict:
    """A met wait's XCom (the waited-for record): one shape whichever process ends the task."""
    return {"need_id": need_id, "condition": condition, **{k: v for k, v in info.items() if k != "status"}}


class RecordConditionTrigger(BaseTrigger):
    def __init__(
        self,
        need_id: int,
        condition: str,
        records_conn_id: str = "cvp_records",
        poll_interval: float = DEFAULT_POLL_SECONDS,
        end_from_trigger: bool = True,
    ):
        super().__init__()
        self.end_from_trigger = end_from_trigger
        self.need_id = need_id
        self.condition = condition
        self.records_conn_id = records_conn_id
        # Kept for rows serialized by earlier versions; the shared watcher's interval is CVP_POLL_SECONDS.
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "cvp_airflow.triggers.RecordConditionTrigger",
            {
                "need_id": self.need_id,
                "condition": self.condition,
                "records_conn_id": self.records_conn_id,
                "poll_interval": self.poll_interval,
                "end_from_trigger": self.end_from_trigger,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from cvp_airflow.watcher import RecordsUnavailable, shared_watcher

        watcher = shared_watcher(await records_url(self.records_conn_id))
        try:
            info = await watcher.wait(self.need_id, self.condition)
        except (RecordsUnavailable, ValueError) as exc:  # the sensor fails with the message
            yield TriggerEvent({"status": "error", "need_id": self.need_id, "message": str(exc)})
            return
        summary = wait_summary(self.need_id, self.condition, info)
        if info.get("cancelled") and self.end_from_trigger:
            yield TaskSkippedEvent()  # the need was withdrawn: the rest of the run is skipped
        elif self.end_from_trigger:
            yield TaskSuccessEvent(xcoms={"return_value": summary})
        else:
            yield TriggerEvent({"status": "met", **summary})
