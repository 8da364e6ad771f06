"""The deferrable record sensor and its trigger, both ways: deferred, and the trigger firing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.listeners import hookimpl
from airflow.sdk.exceptions import TaskDeferred

from cvp import procedure as P
from cvp_airflow.sensors import PublicationTimeSensor, RecordSensor, TextProductionSensor
from cvp_airflow.triggers import RecordConditionTrigger
from tests.conftest import NEED, ONE_OFF

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(params=["sin listener", "con listener"])
def mode(request):
    """Each outcome is checked where the trigger ends the task and where a listener makes a worker end it."""
    if request.param == "con listener":
        request.getfixturevalue("listener")
    return request.param


def test_a_wait_times_out_the_same_way_in_both_modes(office_conn, mode):
    """Thirty days without the record: the sensor fails with AirflowSensorTimeout (no retry), whoever ends it."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import AirflowSensorTimeout

    office_conn.register_need(NEED, "jefe", run_id="run-t")
    sensor = RecordSensor(task_id="reunion_equipo", condition=P.WAIT_MEETING)
    deferred = _defer(sensor, "run-t")
    assert deferred.trigger.end_from_trigger is (mode == "sin listener")
    assert deferred.timeout == timedelta(days=30) and sensor.timeout == timedelta(days=30).total_seconds()
    # What the task runner calls on the worker that the scheduler sends a timed-out deferral to.
    with pytest.raises(
        AirflowSensorTimeout, match="La espera de «reunion_registrada» venció sin respuesta tras 30 días"
    ):
        sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})


def test_the_scheduler_times_out_a_wait_whatever_ends_it():
    """A trigger that may end its task never does on a timeout: the triggerer cancels it without an event
    and the scheduler sends every timed-out deferral to a worker, with no regard to end_from_trigger."""
    import logging
    from types import SimpleNamespace

    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.sdk.exceptions import AirflowSensorTimeout

    class Session:
        statements: list = []

        def execute(self, statement):
            self.statements.append(statement)
            return SimpleNamespace(rowcount=0)

    session = Session()
    SchedulerJobRunner.check_trigger_timeouts(SimpleNamespace(log=logging.getLogger(__name__)), session=session)
    (update,) = session.statements
    assert {c.name for w in update._where_criteria for c in w.get_children() if hasattr(c, "name")} == {
        "state",
        "trigger_timeout",
    }
    params = update.compile().params
    assert params["state"] == "scheduled" and params["trigger_id"] is None
    sensor = RecordSensor(task_id="revisar_diseno", condition=P.WAIT_DESIGN_APPROVED, end_from_trigger=True)
    with pytest.raises(AirflowSensorTimeout, match="venció sin respuesta"):
        sensor.resume_execution(params["next_method"], params["next_kwargs"], {})


def test_listeners_always_win_over_the_preference(office_conn, listener, monkeypatch):
    office_conn.register_need(NEED, "jefe", run_id="run-lw")
    future = datetime.now(UTC) + timedelta(hours=1)
    office_conn.register_need(dict(NEED, publicar_en=future.isoformat()), "jefe", run_id="run-lwp")
    for setting in ("auto", "yes", "sí"):
        monkeypatch.setenv("CVP_WAITS_END_IN_TRIGGERER", setting)
        for prefer in (None, True):
            sensor = RecordSensor(task_id="reunion_equipo", condition=P.WAIT_MEETING, end_from_trigger=prefer)
            assert sensor.end_from_trigger is False, (setting, prefer)
            assert _defer(sensor, "run-lw").trigger.end_from_trigger is False, (setting, prefer)
            publication = PublicationTimeSensor(task_id="esperar_publicacion", end_from_trigger=prefer)
            assert publication.end_from_trigger is False
            assert _defer(publication, "run-lwp").trigger.end_from_trigger is False


def test_yes_lets_the_trigger_end_the_wait_where_no_listener_is_installed(monkeypatch):
    for setting in ("yes", "Sí", "true", "1", "on", " auto ", ""):
        monkeypatch.setenv("CVP_WAITS_END_IN_TRIGGERER", setting)
        assert RecordSensor(task_id="r", condition=P.WAIT_MEETING).end_from_trigger is True, setting
    for setting in ("no", "FALSE", "0", "off"):
        monkeypatch.setenv("CVP_WAITS_END_IN_TRIGGERER", setting)
        assert RecordSensor(task_id="r", condition=P.WAIT_MEETING).end_from_trigger is False, setting


def test_an_unknown_setting_is_warned_about_and_read_as_auto(monkeypatch, caplog):
    import logging

    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CVP_WAITS_END_IN_TRIGGERER", "quizás-mañana")
    with caplog.at_level(logging.WARNING, logger="cvp_airflow.sensors"):
        assert RecordSensor(task_id="r", condition=P.WAIT_MEETING).end_from_trigger is True
        assert RecordSensor(task_id="s", condition=P.WAIT_MEETING).end_from_trigger is True
    warnings = [r.getMessage() for r in caplog.records if r.name == "cvp_airflow.sensors"]
    assert len(warnings) == 1, warnings  # once per process, not once per task
    assert "'quizás-mañana' no es un valor válido: se usa «auto»" in warnings[0]
    for accepted in ("auto", "yes", "no", "false", "0", "off"):
        assert accepted in warnings[0]
    bag = DagBag(dag_folder=str(ROOT / "dags" / "necesidad_comunicacion.py"))
    assert bag.import_errors == {} and "necesidad_comunicacion" in bag.dags


def test_a_met_wait_gives_the_same_xcom_at_once_from_the_trigger_and_on_a_worker(office_conn):
    office = office_conn
    need = office.register_need(NEED, "jefe", run_id="run-x")
    office.record_meeting(
        need.id, "jefe", {"temas": ["t"], "fuentes": ["f"], "productos": ["p"], "canales": ["x"], "asistentes": ["a"]}
    )
    sensor = RecordSensor(task_id="reunion_equipo", condition=P.WAIT_MEETING)
    at_once = sensor.execute({"run_id": "run-x"})

    def first_event(end_from_trigger: bool):
        trigger = RecordConditionTrigger(need.id, P.WAIT_MEETING, end_from_trigger=end_from_trigger)
        return asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 10))

    from_trigger = first_event(True).xcoms["return_value"]
    on_worker = sensor.execute_complete({"run_id": "run-x"}, first_event(False).payload)
    assert at_once == from_trigger == on_worker
    assert at_once["need_id"] == need.id and at_once["condition"] == P.WAIT_MEETING
    assert at_once["author"] == "jefe" and "status" not in at_once


@pytest.fixture(scope="module")
def procedure_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "necesidad_comunicacion.py"))
    return bag.dags["necesidad_comunicacion"]


def test_the_step_after_every_wait_delivers_the_needs_pending_mail(procedure_dag, monkeypatch):
    """The trigger that ends a wait sends no mail; the act's mails went out from the forms, and whatever is
    still pending (a mail server that was down) goes with the next step, in both modes. A cancelled need
    skips the rest: the last step runs anyway (all_done) and delivers the cancellation's mails."""
    from unittest import mock

    from airflow.sdk import BaseSensorOperator

    from cvp import waits
    from cvp_airflow import hooks, steps

    office = mock.MagicMock(name="office")
    office.need_by_run.return_value = mock.MagicMock(id=42, channels=["x"])
    monkeypatch.setattr(steps, "_office", lambda: office)
    monkeypatch.setattr(hooks.RecordsHook, "office", lambda self, **kw: office)
    monkeypatch.setattr(waits, "condition_met", lambda s, need_id, condition: {"document_id": 1, "author": "jefe"})

    def delivers(task) -> bool:
        office.reset_mock()
        if isinstance(task, BaseSensorOperator):
            task.execute({"run_id": "run-m"})
        else:
            task.python_callable(run_id="run-m")
        return mock.call(need_id=42) in office.deliver_pending.call_args_list

    waits_ = [t for t in procedure_dag.tasks if isinstance(t, RecordSensor)]
    assert len(waits_) == 6
    for wait in waits_:
        assert wait.downstream_list, wait.task_id
        for step in wait.downstream_list:
            assert delivers(step), (wait.task_id, step.task_id)
    last = procedure_dag.get_task("registrar_metricas")
    assert last.trigger_rule == "all_done" and not last.downstream_list
    with mock.patch("cvp.metrics.log_metrics", return_value={}):
        assert delivers(last)
