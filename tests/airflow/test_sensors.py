"""The deferrable record sensor and its trigger, both ways: deferred, and the trigger firing."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import TaskDeferred

from cvp import procedure as P
from cvp_airflow.sensors import PublicationTimeSensor, RecordSensor, TextProductionSensor
from cvp_airflow.triggers import RecordConditionTrigger
from tests.conftest import NEED


@pytest.fixture
def office_conn(office, monkeypatch):
    """The records connection as Airflow would find it (an AIRFLOW_CONN_* variable)."""
    path = office.url.split(":///", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_CVP_RECORDS", json.dumps({"conn_type": "sqlite", "host": path}))
    return office


def test_trigger_serializes_to_its_arguments():
    trigger = RecordConditionTrigger(7, P.WAIT_TEXT_APPROVED, "cvp_records", 0.2)
    classpath, kwargs = trigger.serialize()
    assert classpath == "cvp_airflow.triggers.RecordConditionTrigger"
    assert kwargs == {"need_id": 7, "condition": P.WAIT_TEXT_APPROVED, "records_conn_id": "cvp_records",
                      "poll_interval": 0.2, "end_from_trigger": True}
    assert RecordConditionTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_sensor_defers_while_waiting_and_completes_from_the_event(office_conn):
    office = office_conn
    need = office.register_need(NEED, "jefe", run_id="run-s")
    sensor = TextProductionSensor(task_id="producir_contenidos", condition=P.WAIT_TEXT_SUBMITTED)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"run_id": "run-s"})
    trigger = deferred.value.trigger
    assert isinstance(trigger, RecordConditionTrigger) and trigger.need_id == need.id
    assert deferred.value.method_name == "execute_complete"
    assert office.drafts(need.id) == office.documents(need.id)[0].data  # drafts prepared before waiting

    async def first_event():
        gen = trigger.run()
        task = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.3)
        assert not task.done()  # nothing submitted yet: still waiting
        await asyncio.to_thread(office.submit_text, need.id, "profesional",
                                {"x": "Hoy entregamos títulos.", "facebook": "Hoy entregamos títulos."})
        return await asyncio.wait_for(task, 10)

    event = asyncio.run(first_event())
    # The trigger ends the task itself, its summary as the XCom: no worker resumes just to return.
    assert event.task_instance_state == "success"
    assert event.xcoms["return_value"]["number"] == 1
    assert event.xcoms["return_value"]["author"] == "profesional"
    resumed = RecordConditionTrigger(need.id, P.WAIT_TEXT_SUBMITTED, end_from_trigger=False)
    payload = asyncio.run(resumed.run().__anext__()).payload
    assert payload["status"] == "met"
    assert sensor.execute_complete({"run_id": "run-s"}, payload)["author"] == "profesional"
    with pytest.raises(Exception, match="terminó con error"):
        sensor.execute_complete({"run_id": "run-s"}, {"status": "error", "message": "db caída"})


def test_sensor_returns_at_once_when_the_record_exists(office_conn):
    office = office_conn
    need = office.register_need(NEED, "jefe", run_id="run-m")
    office.record_meeting(need.id, "jefe", {"temas": ["t"], "fuentes": ["f"], "productos": ["p"],
                                            "canales": ["x"], "asistentes": ["a"]})
    sensor = RecordSensor(task_id="reunion_equipo", condition=P.WAIT_MEETING)
    assert sensor.execute({"run_id": "run-m"})["author"] == "jefe"


def test_publication_time_waits_deferred_only_for_a_future_time(office_conn):
    office = office_conn
    future = datetime.now(timezone.utc) + timedelta(hours=3)
    office.register_need(dict(NEED, publicar_en=future.isoformat()), "jefe", run_id="run-later")
    office.register_need(NEED, "jefe", run_id="run-now")
    sensor = PublicationTimeSensor(task_id="esperar_publicacion")
    assert sensor.execute({"run_id": "run-now"}) is None
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"run_id": "run-later"})
    assert abs((deferred.value.trigger.moment - future).total_seconds()) < 1


def test_a_cancelled_need_ends_the_wait_as_skipped(office_conn):
    from airflow.sdk.exceptions import AirflowSkipException

    office = office_conn
    need = office.register_need(NEED, "jefe", run_id="run-c")
    trigger = RecordConditionTrigger(need.id, P.WAIT_TEXT_APPROVED, poll_interval=0.05)

    async def cancelled_while_waiting():
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.2)
        await asyncio.to_thread(office.cancel_need, need.id, "jefe", "Se aplazó el evento")
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(cancelled_while_waiting()).task_instance_state == "skipped"
    with pytest.raises(AirflowSkipException, match="cancelada"):
        RecordSensor(task_id="revisar_contenidos", condition=P.WAIT_TEXT_APPROVED).execute({"run_id": "run-c"})
