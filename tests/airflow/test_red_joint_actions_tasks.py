"""The Red Distrital's joint-action tasks: the agenda's sources, the deferred wait both ways, posting once, the adapted need."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
import responses
from airflow.sdk.exceptions import AirflowException, DagRunTriggerException, TaskDeferred

from cvp import joint_actions as J
from cvp.config import bogota_day_start
from cvp.publishers.x import XPublisher
from cvp_airflow import red_steps
from cvp_airflow.red_waits import JointDecisionsSensor, JointDecisionsTrigger, wait_bound

DAY = date(2030, 3, 4)
CONTEXT = {"data_interval_end": bogota_day_start(DAY) + timedelta(hours=8), "run_id": "scheduled__2030-03-04"}
HEADER = ["fecha", "entidad", "tema", "hashtag", "mensaje_sugerido", "enlace", "publicacion_a_amplificar", "canales"]


@pytest.fixture
def office_conn(office, monkeypatch):
    """The records connection as Airflow would find it; no agenda source configured."""
    path = office.url.split(":///", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_CVP_RECORDS", json.dumps({"conn_type": "sqlite", "host": path}))
    for name in (red_steps.AGENDA_FILE_SETTING, red_steps.SHEET_SETTING, "CVP_RED_ESPERA_HASTA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(red_steps, "_office", lambda: office)
    monkeypatch.setattr("cvp_airflow.channels.lookup_connection", lambda conn_id, get=None: None)
    return office


def test_without_a_source_the_sample_agenda_is_read_once(office_conn):
    first = red_steps.read_agenda(CONTEXT)
    assert first["creadas"] == 3 and first["filas_rechazadas"] == [] and "ejemplo" in first["fuente"]
    again = red_steps.read_agenda(CONTEXT)
    assert (again["creadas"], again["ya_registradas"]) == (0, 3)
    assert {v.action.day for v in J.actions_of_day(office_conn, DAY)} == {DAY}


def test_a_file_agenda_reports_its_bad_rows(office_conn, tmp_path, monkeypatch, caplog):
    agenda = tmp_path / "agenda.csv"
    agenda.write_text(
        ",".join(HEADER) + "\n2030-03-04,IDU,Obras,#Obras,Avanzan las obras,,,x\n2030-03-04,IDU,,#Obras,Sin tema,,,x\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(red_steps.AGENDA_FILE_SETTING, str(agenda))
    out = red_steps.read_agenda(CONTEXT)
    assert out["creadas"] == 1 and out["filas_rechazadas"] == ["Línea 3: falta el tema."]
    assert "Línea 3: falta el tema." in caplog.text


class FakeSheetsApi:
    """Answers ``spreadsheets.values.get`` as the Sheets API does, and records each request."""

    def __init__(self, values):
        self.requests = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                api.requests.append(
                    {"path": unquote(parts.path), "query": parts.query, "auth": self.headers["authorization"]}
                )
                data = json.dumps({"range": "Agenda!A1:H3", "majorDimension": "ROWS", "values": values}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_the_agenda_from_a_google_sheet_through_the_providers_hook(office_conn, monkeypatch):
    from airflow.providers.google.suite.hooks.sheets import GSheetsHook
    from google.oauth2.credentials import Credentials

    api = FakeSheetsApi(
        [HEADER, ["2030-03-04", "IDU", "Obras", "#Obras", "Avanzan las obras", "", "", "x, facebook"], ["2030-03-04"]]
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_CVP_SHEETS_PRUEBA",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"num_retries": 0}}),
    )
    try:
        hook = GSheetsHook(gcp_conn_id="cvp_sheets_prueba", api_endpoint=api.url)
        monkeypatch.setattr(hook, "get_credentials", lambda: Credentials("token-prueba"))
        monkeypatch.setenv(red_steps.SHEET_SETTING, "hoja-agenda-1")
        monkeypatch.setenv(red_steps.RANGE_SETTING, "Agenda!A1:H500")
        out = red_steps.read_agenda(CONTEXT, sheets_hook=hook)
    finally:
        api.close()
    assert out["creadas"] == 1 and out["filas_rechazadas"][0].startswith("Línea 3: ")
    [request] = api.requests
    assert request["path"] == "/v4/spreadsheets/hoja-agenda-1/values/Agenda!A1:H500"
    assert "majorDimension=ROWS" in request["query"] and request["auth"] == "Bearer token-prueba"
    [view] = J.actions_of_day(office_conn, DAY)
    assert view.action.channels == ["x", "facebook"]


def test_the_trigger_serializes_to_its_arguments():
    trigger = JointDecisionsTrigger("2030-03-04", "2030-03-05T05:00:00+00:00", "cvp_records", 0.2)
    classpath, kwargs = trigger.serialize()
    assert classpath == "cvp_airflow.red_waits.JointDecisionsTrigger"
    assert JointDecisionsTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_the_wait_defers_until_the_head_decides_everything(office_conn):
    red_steps.read_agenda(CONTEXT)
    ids = [v.action.id for v in J.actions_of_day(office_conn, DAY)]
    sensor = JointDecisionsSensor(task_id="esperar_decisiones", poll_interval=0.1)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, JointDecisionsTrigger) and trigger.day == DAY.isoformat()
    assert datetime.fromisoformat(trigger.until) == bogota_day_start(DAY + timedelta(days=1))

    async def first_event():
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.3)
        assert not task.done()
        for i in ids:
            await asyncio.to_thread(J.decide, office_conn, "jefe", i, J.JOIN)
        return await asyncio.wait_for(task, 10)

    event = asyncio.run(first_event())
    assert event.payload == {"status": "decididas", "dia": DAY.isoformat(), "pendientes": 0}
    assert sensor.execute_complete(CONTEXT, event.payload) == {"dia": DAY.isoformat(), "pendientes": 0}
    assert sensor.execute(CONTEXT) == {"dia": DAY.isoformat(), "pendientes": 0}  # decided: no wait at all
    with pytest.raises(AirflowException, match="terminó con error"):
        sensor.execute_complete(CONTEXT, {"status": "error", "mensaje": "base caída"})


def test_the_wait_ends_at_its_bound_with_what_still_waits(office_conn):
    red_steps.read_agenda(CONTEXT)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    event = asyncio.run(JointDecisionsTrigger(DAY.isoformat(), past, poll_interval=0.1).run().__anext__())
    assert event.payload == {"status": "fin_de_la_espera", "dia": DAY.isoformat(), "pendientes": 3}
    old = {"data_interval_end": bogota_day_start(date(2020, 1, 2)) + timedelta(hours=8)}
    J.record_agenda(office_conn, J.read_sample(red_steps.sample_agenda(), date(2020, 1, 2)), date(2020, 1, 2), "x")
    assert JointDecisionsSensor(task_id="t").execute(old) == {"dia": "2020-01-02", "pendientes": 3}


def test_the_bound_may_be_an_earlier_hour(monkeypatch):
    monkeypatch.setenv("CVP_RED_ESPERA_HASTA", "11:30")
    assert wait_bound(DAY) == datetime(2030, 3, 4, 16, 30, tzinfo=UTC)
    monkeypatch.setenv("CVP_RED_ESPERA_HASTA", "mediodía")
    with pytest.raises(AirflowException, match="no es una hora válida"):
        wait_bound(DAY)


def test_joined_actions_are_posted_once_even_when_the_task_is_retried(office_conn):
    red_steps.read_agenda(CONTEXT)
    repost, quote, share = (v.action.id for v in J.actions_of_day(office_conn, DAY))
    J.decide(office_conn, "jefe", repost, J.JOIN)
    J.decide(office_conn, "jefe", quote, J.DECLINE, "No aplica")
    J.decide(office_conn, "jefe", share, J.ADAPT)
    api = "https://api.x.test"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        wire.add(
            responses.GET, f"{api}/2/users/me", json={"data": {"id": "15", "username": "cvpbogota", "name": "CVP"}}
        )
        retweets = wire.add(responses.POST, f"{api}/2/users/15/retweets", json={"data": {"retweeted": True}})
        x = XPublisher(bearer_token="tok", base_url=api)
        out = red_steps.amplify(CONTEXT, publisher_for=lambda channel: x)
        assert [(p["accion"], p["canal"], p["estado"]) for p in out["publicadas"]] == [(repost, "x", "publicado")]
        red_steps.amplify(CONTEXT, publisher_for=lambda channel: x)  # the retry
        assert retweets.call_count == 1

    [run] = red_steps.adapted_runs(CONTEXT)
    assert run["trigger_run_id"] == f"red_distrital_adaptar__{share}" and run["conf"]["accion_puntual"] is True
    assert J.action(office_conn, share).action.need_run_id == run["trigger_run_id"]
    with pytest.raises(DagRunTriggerException) as opened:
        red_steps.open_need(run)
    signal = opened.value
    assert (signal.trigger_dag_id, signal.dag_run_id, signal.skip_when_already_exists) == (
        "necesidad_comunicacion",
        run["trigger_run_id"],
        True,
    )
    assert signal.conf == run["conf"]

    summary = red_steps.summary(CONTEXT)
    assert (summary["unidas"], summary["declinadas"], summary["adaptadas"], summary["sin_decision"]) == (1, 1, 1, 0)
    assert summary["correo_enviado"] is True and red_steps.summary(CONTEXT)["correo_enviado"] is False
