"""The api-server's guard of a need's run (cvp_airflow.run_changes.RunGuard), without a stack.

A tiny ASGI application stands for Airflow's REST API: it answers what Airflow would and says what it
saw. The records are a real Office on a fresh SQLite database; the JWT check is replaced by a table.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from cvp_airflow import run_changes as R
from tests.conftest import NEED

DAG = R.DAG_ID
TOKENS = {"t-jefe": "jefe", "t-prof": "profesional", "t-admin": "admin", "t-nadie": "nadie"}


class FakeAirflow:
    """Answers every request with ``status`` and ``answer``; remembers what reached it."""

    def __init__(self, status: int = 200, answer: dict | None = None):
        self.status, self.answer, self.seen = status, answer or {}, []

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((scope["method"], scope["path"], body))
        payload = json.dumps(self.answer).encode()
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def guard(office, monkeypatch):
    asked: list[str] = []

    async def user_of_token(token: str) -> str:
        asked.append(token)
        if token not in TOKENS:
            raise ValueError("Invalid JWT token")
        return TOKENS[token]

    monkeypatch.setattr(R, "_user_of_token", user_of_token)
    monkeypatch.setattr(R, "_office", lambda: office)
    return asked


def call(app, method: str, path: str, body=None, token: str | None = "t-jefe", cookie: bool = False):
    headers = {}
    if token and cookie:
        headers["Cookie"] = f"_token={token}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"

    async def go():
        transport = httpx.ASGITransport(app=R.RunGuard(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(method, path, json=body, headers=headers)

    return asyncio.run(go())


def events(office, need_id: int) -> list:
    return [e for e in office.events(need_id) if "airflow" in e.action]


@pytest.mark.parametrize(
    "method, path, route",
    [
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", "run_patch"),
        ("DELETE", f"/api/v2/dags/{DAG}/dagRuns/r-1", "run_delete"),
        ("POST", f"/api/v2/dags/{DAG}/dagRuns/r-1/clear", "run_clear"),
        ("POST", f"/api/v2/dags/{DAG}/clearTaskInstances", "tis_clear"),
        ("POST", "/api/v2/dags/~/clearDagRuns", "runs_clear"),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns", "runs_bulk"),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances", "tis_bulk"),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/revisar_contenidos", "ti_patch"),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/publicar_pieza/0", "ti_patch"),
        ("DELETE", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/publicar_pieza", "ti_delete"),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskGroupInstances/publicar_pieza", "group_patch"),
        ("DELETE", f"/api/v2/dags/{DAG}", "dag_delete"),
        ("PATCH", f"/base/api/v2/dags/{DAG}/dagRuns/r-1", "run_patch"),  # under [api] base_url's path
    ],
)
def test_the_routes_that_change_a_need_run_are_recognised(method, path, route):
    target = R.match(method, path, "/base" if path.startswith("/base") else "")
    assert target is not None and target.route == route


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"/api/v2/dags/{DAG}/dagRuns/r-1"),
        ("POST", f"/api/v2/dags/{DAG}/dagRuns"),  # a trigger: activity 1 refuses it on its own
        ("POST", f"/api/v2/dags/{DAG}/dagRuns/list"),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/revisar_contenidos/dry_run"),
        ("PATCH", "/api/v2/dags/red_distrital_diaria/dagRuns/r-1"),
        ("POST", "/api/v2/dags/red_distrital_diaria/clearTaskInstances"),
        ("PATCH", f"/api/v2/dags/{DAG}"),  # pausing the DAG
        ("PATCH", f"/cvp/api/v2/dags/{DAG}/dagRuns/r-1"),  # not Airflow's API
    ],
)
def test_other_requests_are_not_the_guard_s_business(method, path):
    assert R.match(method, path) is None


def test_the_head_marks_a_need_run_failed_and_the_need_records_who(guard, office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    airflow = FakeAirflow()
    r = call(airflow, "PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", {"state": "failed"})
    assert r.status_code == 200
    assert airflow.seen == [("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", b'{"state":"failed"}')]
    [event] = events(office, need.id)
    assert (event.action, event.actor) == ("ejecucion_fallida_en_airflow", "jefe")
    assert "jefe marcó como fallida la ejecución desde Airflow" in event.summary
    assert office.need(need.id).status == "cancelada"


@pytest.mark.parametrize("user, words", [("t-prof", "rol Profesional"), ("t-admin", "rol Consulta")])
def test_anyone_else_is_refused_in_spanish_and_airflow_never_sees_the_request(guard, office, user, words):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    airflow = FakeAirflow()
    for method, path, body in [
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", {"state": "success"}),
        ("POST", f"/api/v2/dags/{DAG}/dagRuns/r-1/clear", {"dry_run": False}),
        ("POST", f"/api/v2/dags/{DAG}/clearTaskInstances", {"dry_run": False, "dag_run_id": "r-1"}),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/producir_contenidos", {"new_state": "success"}),
        ("POST", "/api/v2/dags/~/clearDagRuns", {"dry_run": False, "dag_runs": [{"dag_id": DAG, "dag_run_id": "r-1"}]}),
    ]:
        r = call(airflow, method, path, body, token=user, cookie=True)
        assert r.status_code == 403, path
        assert "corresponde a la Jefe OAC" in r.json()["detail"] and words in r.json()["detail"]
    assert airflow.seen == [] and events(office, need.id) == []
    assert office.need(need.id).status == "en_curso"


def test_someone_outside_the_team_is_refused(guard, office):
    r = call(FakeAirflow(), "DELETE", f"/api/v2/dags/{DAG}/dagRuns/r-1", token="t-nadie")
    assert r.status_code == 403 and "no está en el equipo de la OAC" in r.json()["detail"]


def test_another_dag_s_run_is_let_through_without_looking_at_who(guard, office):
    need = office.register_need(NEED, "jefe", run_id="r-1")  # the same run id, in another DAG
    airflow = FakeAirflow()
    r = call(airflow, "PATCH", "/api/v2/dags/red_distrital_diaria/dagRuns/r-1", {"state": "failed"}, token="t-prof")
    assert r.status_code == 200 and len(airflow.seen) == 1
    r = call(
        airflow,
        "POST",
        "/api/v2/dags/~/clearDagRuns",
        {"dry_run": False, "dag_runs": [{"dag_id": "red_distrital_diaria", "dag_run_id": "r-1"}]},
        token="t-prof",
    )
    assert r.status_code == 200 and len(airflow.seen) == 2
    assert guard == [] and events(office, need.id) == []


def test_dry_runs_and_notes_pass_for_anyone(guard, office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    airflow = FakeAirflow()
    for method, path, body in [
        ("POST", f"/api/v2/dags/{DAG}/dagRuns/r-1/clear", {}),  # dry_run is Airflow's default
        ("POST", f"/api/v2/dags/{DAG}/clearTaskInstances", {"dry_run": True, "dag_run_id": "r-1"}),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", {"note": "revisar"}),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1?update_mask=note", {"state": "failed", "note": "x"}),
        ("PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/producir_contenidos", {"note": "x"}),
    ]:
        assert call(airflow, method, path, body, token="t-prof").status_code == 200, path
    assert len(airflow.seen) == 5 and events(office, need.id) == []


def test_a_request_without_a_valid_login_is_left_to_airflow(guard, office):
    office.register_need(NEED, "jefe", run_id="r-1")
    airflow = FakeAirflow(status=401, answer={"detail": "Not authenticated"})
    for token in (None, "caducado"):
        r = call(airflow, "PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", {"state": "failed"}, token=token)
        assert r.status_code == 401
    assert len(airflow.seen) == 2 and office.need_by_run("r-1").status == "en_curso"


def test_the_actor_is_found_from_the_cookie_and_from_airflow_s_trusted_user(guard, office):
    from airflow.api_fastapi.core_api.security import USER_INJECTED_BY_TRUSTED_MIDDLEWARE

    class User:
        def get_name(self):
            return "jefe"

    def scope(headers=(), state=None):
        return {"type": "http", "headers": list(headers), "state": state or {}}

    assert asyncio.run(R.who_asks(scope([(b"cookie", b"otra=1; _token=t-prof")]))) == "profesional"
    assert asyncio.run(R.who_asks(scope([(b"authorization", b"Bearer t-admin")]))) == "admin"
    trusted = {"user": User(), "user_authenticated_via": USER_INJECTED_BY_TRUSTED_MIDDLEWARE}
    assert asyncio.run(R.who_asks(scope(state=trusted))) == "jefe"
    assert asyncio.run(R.who_asks(scope(state={"user": User()}))) is None  # an untrusted write is ignored
    # An explicit Bearer token wins over the session, as in Airflow's get_user.
    assert asyncio.run(R.who_asks(scope([(b"authorization", b"Bearer t-prof")], trusted))) == "profesional"


def test_a_failure_to_record_never_breaks_airflow_s_answer(guard, office, monkeypatch, caplog):
    office.register_need(NEED, "jefe", run_id="r-1")

    def broken(*args, **kwargs):
        raise RuntimeError("base de registros caída")

    monkeypatch.setattr(office, "record_run_change", broken)
    airflow = FakeAirflow(answer={"dag_run_id": "r-1", "state": "success"})
    with caplog.at_level(logging.ERROR, logger=R.log.name):
        r = call(airflow, "PATCH", f"/api/v2/dags/{DAG}/dagRuns/r-1", {"state": "success"})
    assert r.status_code == 200 and r.json() == {"dag_run_id": "r-1", "state": "success"}
    assert "No se pudo registrar en la necesidad el cambio de la ejecución r-1" in caplog.text


def test_nothing_is_recorded_when_airflow_refuses_the_change(guard, office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    r = call(FakeAirflow(status=409), "DELETE", f"/api/v2/dags/{DAG}/dagRuns/r-1")
    assert r.status_code == 409 and events(office, need.id) == []


def test_a_clear_is_recorded_with_the_tasks_airflow_cleared_in_each_run(guard, office):
    one = office.register_need(NEED, "jefe", run_id="r-1")
    two = office.register_need(dict(NEED, titulo="Otra necesidad"), "jefe", run_id="r-2")
    cleared = {
        "task_instances": [
            {"dag_id": DAG, "dag_run_id": "r-1", "task_id": "revisar_contenidos"},
            {"dag_id": DAG, "dag_run_id": "r-1", "task_id": "entregar_material"},
            {"dag_id": DAG, "dag_run_id": "r-2", "task_id": "revisar_contenidos"},
        ],
        "total_entries": 3,
    }
    body = {"dry_run": False, "task_ids": ["revisar_contenidos"], "include_downstream": True}
    r = call(FakeAirflow(answer=cleared), "POST", f"/api/v2/dags/{DAG}/clearTaskInstances", body)
    assert r.status_code == 200
    [first] = events(office, one.id)
    assert first.action == "tarea_limpiada_en_airflow" and first.activity == 7 and first.actor == "jefe"
    assert "limpió las tareas «revisar_contenidos», «entregar_material»" in first.summary
    assert "la necesidad sigue en curso" in first.summary
    [second] = events(office, two.id)
    assert "limpió la tarea «revisar_contenidos» (vuelve a ejecutarse)" in second.summary
    assert office.need(one.id).status == "en_curso"


def test_a_head_s_task_change_and_run_clear_are_recorded_every_time(guard, office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    airflow = FakeAirflow()
    path = f"/api/v2/dags/{DAG}/dagRuns/r-1/taskInstances/producir_contenidos"
    assert call(airflow, "PATCH", path, {"new_state": "SUCCESS"}).status_code == 200
    for _ in range(2):
        assert call(airflow, "POST", f"/api/v2/dags/{DAG}/dagRuns/r-1/clear", {"dry_run": False}).status_code == 200
    task, *clears = events(office, need.id)
    assert task.action == "tarea_exitosa_en_airflow" and task.activity == 5
    assert "jefe marcó la tarea «producir_contenidos» como exitosa desde Airflow" in task.summary
    assert [c.action for c in clears] == ["ejecucion_limpiada_en_airflow"] * 2
    assert office.need(need.id).status == "en_curso"


def test_a_bulk_change_records_each_run_of_the_need_dag(guard, office):
    one = office.register_need(NEED, "jefe", run_id="r-1")
    two = office.register_need(dict(NEED, titulo="Otra necesidad"), "jefe", run_id="r-2")
    body = {
        "actions": [
            {"action": "update", "entities": [{"dag_run_id": "r-1", "state": "failed"}]},
            {"action": "delete", "entities": ["r-2"]},
        ]
    }
    assert call(FakeAirflow(), "PATCH", f"/api/v2/dags/{DAG}/dagRuns", body).status_code == 200
    assert [e.action for e in events(office, one.id)] == ["ejecucion_fallida_en_airflow"]
    assert [e.action for e in events(office, two.id)] == ["ejecucion_eliminada_en_airflow"]
    assert office.need(two.id).status == "cancelada"


def test_a_bulk_change_records_only_what_airflow_reports_done(guard, office):
    one = office.register_need(NEED, "jefe", run_id="r-1")
    two = office.register_need(dict(NEED, titulo="Otra necesidad"), "jefe", run_id="r-2")
    three = office.register_need(dict(NEED, titulo="Tercera necesidad"), "jefe", run_id="r-3")
    body = {
        "actions": [
            {
                "action": "update",
                "entities": [{"dag_run_id": "r-1", "state": "failed"}, {"dag_run_id": "r-2", "state": "failed"}],
            },
            {"action": "delete", "entities": ["r-3"]},
        ]
    }
    # Airflow's BulkResponse: r-2's update and r-3's deletion failed (not found, conflict...).
    answer = {
        "update": {"success": [f"{DAG}.r-1"], "errors": [{"error": "no encontrada", "status_code": 404}]},
        "delete": {"success": [], "errors": [{"error": "conflicto", "status_code": 409}]},
    }
    assert call(FakeAirflow(answer=answer), "PATCH", f"/api/v2/dags/{DAG}/dagRuns", body).status_code == 200
    assert [e.action for e in events(office, one.id)] == ["ejecucion_fallida_en_airflow"]
    assert events(office, two.id) == [] and events(office, three.id) == []
    assert office.need(two.id).status == "en_curso" and office.need(three.id).status == "en_curso"

    tis = {
        "actions": [
            {
                "action": "update",
                "entities": [
                    {"dag_run_id": "r-2", "task_id": "producir_contenidos", "new_state": "success"},
                    {"dag_run_id": "r-3", "task_id": "producir_contenidos", "new_state": "success"},
                ],
            }
        ]
    }
    answer = {"update": {"success": [f"{DAG}.r-3.producir_contenidos[-1]"], "errors": [{"error": "x"}]}}
    path = f"/api/v2/dags/{DAG}/dagRuns/~/taskInstances"
    assert call(FakeAirflow(answer=answer), "PATCH", path, tis).status_code == 200
    assert events(office, two.id) == []
    assert [e.action for e in events(office, three.id)] == ["tarea_exitosa_en_airflow"]
