"""The deferrable record sensor and its trigger, both ways: deferred, and the trigger firing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.listeners import hookimpl
from airflow.sdk.exceptions import TaskDeferred

from cvp import procedure as P
from cvp_airflow.sensors import PublicationTimeSensor, RecordSensor, TextProductionSensor
from cvp_airflow.triggers import RecordConditionTrigger
from tests.conftest import NEED, ONE_OFF


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
    assert kwargs == {
        "need_id": 7,
        "condition": P.WAIT_TEXT_APPROVED,
        "records_conn_id": "cvp_records",
        "poll_interval": 0.2,
        "end_from_trigger": True,
    }
    assert RecordConditionTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_sensor_defers_while_waiting_and_completes_from_the_event(office_conn):
    office = office_conn
    need = office.register_need(ONE_OFF, "jefe", run_id="run-s")
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
        await asyncio.to_thread(
            office.submit_text,
            need.id,
            "profesional",
            {"x": "Hoy entregamos títulos.", "facebook": "Hoy entregamos títulos."},
        )
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
    office.record_meeting(
        need.id, "jefe", {"temas": ["t"], "fuentes": ["f"], "productos": ["p"], "canales": ["x"], "asistentes": ["a"]}
    )
    sensor = RecordSensor(task_id="reunion_equipo", condition=P.WAIT_MEETING)
    assert sensor.execute({"run_id": "run-m"})["author"] == "jefe"


def test_publication_time_waits_deferred_only_for_a_future_time(office_conn):
    office = office_conn
    future = datetime.now(UTC) + timedelta(hours=3)
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


class TaskEventRecorder:
    """A listener as an audit plugin would install it: it keeps the task events it is told of."""

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        self.events.append(("success", task_instance.task_id))


@pytest.fixture
def listener():
    """A real listener registered in this process, with the task SDK (and the DAG bag, if it is loaded here)."""
    import sys

    from airflow.sdk.listener import get_listener_manager

    managers = [get_listener_manager()]
    if "airflow.listeners.listener" in sys.modules:
        managers.append(sys.modules["airflow.listeners.listener"].get_listener_manager())
    recorder = TaskEventRecorder()
    for manager in managers:
        manager.add_listener(recorder)
    yield recorder
    for manager in managers:
        manager.pm.unregister(recorder)


def _defer(sensor, run_id: str) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"run_id": run_id})
    return deferred.value


def test_with_a_listener_the_wait_resumes_on_a_worker_with_the_same_outcomes(office_conn, listener):
    """Resume, cancel (skipped) and error end the same way; only where the task ends changes."""
    from airflow.sdk.exceptions import AirflowSkipException

    office = office_conn
    need = office.register_need(ONE_OFF, "jefe", run_id="run-l")
    sensor = TextProductionSensor(task_id="producir_contenidos", condition=P.WAIT_TEXT_SUBMITTED)
    assert sensor.end_from_trigger is False
    deferred = _defer(sensor, "run-l")
    assert deferred.trigger.end_from_trigger is False and deferred.timeout == timedelta(days=30)

    async def met_after_text():
        task = asyncio.ensure_future(deferred.trigger.run().__anext__())
        await asyncio.sleep(0.3)
        assert not task.done()
        await asyncio.to_thread(office.submit_text, need.id, "profesional", {"x": "Hoy.", "facebook": "Hoy."})
        return await asyncio.wait_for(task, 10)

    payload = asyncio.run(met_after_text()).payload
    assert payload["status"] == "met" and payload["need_id"] == need.id
    assert sensor.execute_complete({"run_id": "run-l"}, payload)["author"] == "profesional"

    waiting = _defer(
        RecordSensor(task_id="revisar_contenidos", condition=P.WAIT_TEXT_APPROVED, poll_interval=0.05), "run-l"
    )
    office.cancel_need(need.id, "jefe", "Se aplazó el evento")
    cancelled = asyncio.run(asyncio.wait_for(waiting.trigger.run().__anext__(), 10)).payload
    assert cancelled["cancelled"] is True
    with pytest.raises(AirflowSkipException, match="cancelada"):
        RecordSensor(task_id="revisar_contenidos", condition=P.WAIT_TEXT_APPROVED).execute_complete({}, cancelled)
    with pytest.raises(Exception, match="terminó con error"):
        sensor.execute_complete({}, {"status": "error", "message": "base caída"})


def test_with_a_listener_the_publication_time_also_resumes_on_a_worker(office_conn, listener):
    future = datetime.now(UTC) + timedelta(hours=1)
    office_conn.register_need(dict(NEED, publicar_en=future.isoformat()), "jefe", run_id="run-lp")
    deferred = _defer(PublicationTimeSensor(task_id="esperar_publicacion"), "run-lp")
    assert deferred.trigger.end_from_trigger is False


def test_the_office_may_choose_to_resume_every_wait_on_a_worker(office_conn, monkeypatch):
    office_conn.register_need(NEED, "jefe", run_id="run-w")
    sensor = RecordSensor(task_id="reunion_equipo", condition=P.WAIT_MEETING)
    assert _defer(sensor, "run-w").trigger.end_from_trigger is True  # no listener, no setting: the triggerer
    monkeypatch.setenv("CVP_WAITS_END_IN_TRIGGERER", "no")
    assert sensor.end_from_trigger is False
    assert _defer(sensor, "run-w").trigger.end_from_trigger is False
    monkeypatch.setenv("CVP_WAITS_END_IN_TRIGGERER", "auto")
    assert RecordSensor(task_id="r", condition=P.WAIT_MEETING, end_from_trigger=False).end_from_trigger is False
