"""Only the head opens a need, whatever the door; a need's run changed from Airflow shows in the records."""

from __future__ import annotations

import time

import pytest

from tests.clients import Api
from tests.conftest import NEED

pytestmark = pytest.mark.integration
DAG = "necesidad_comunicacion"


@pytest.fixture(scope="module")
def apis(airflow_stack) -> dict[str, Api]:
    return {u: Api(airflow_stack, u) for u in ("jefe", "profesional", "tecnico", "admin")}


def test_the_professional_and_the_technician_cannot_trigger_or_change_a_run(apis):
    for user in ("profesional", "tecnico"):
        status, _ = apis[user].trigger(f"no-{user}-{int(time.time())}", NEED)
        assert status == 403, user
    run = f"de-la-jefe-{int(time.time())}"
    assert apis["jefe"].trigger(run, dict(NEED, accion_puntual=True, canales=["sitio_web"]))[0] == 200
    apis["jefe"].wait_task(run, "producir_contenidos")
    for user in ("profesional", "tecnico"):
        status, _ = apis[user].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": "failed"})
        assert status == 403, user
    assert apis["jefe"].run_state(run) == "running"
    apis["jefe"].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": "failed"})  # leave nothing waiting


def test_an_administrator_who_is_not_the_head_cannot_open_a_need(apis, stack_env):
    from cvp.errors import NotFound
    from cvp.office import Office

    run = f"del-admin-{int(time.time())}"
    assert apis["admin"].trigger(run, dict(NEED, titulo="Pedida por administración"))[0] == 200
    assert apis["admin"].wait_run(run) == "failed"
    states = apis["admin"].task_states(run)
    assert states["identificar_necesidad"] == "failed" and states.get("producir_contenidos") != "success"
    office = Office()
    with pytest.raises(NotFound):
        office.need_by_run(run)
    refused = next(r for r in office.refused_needs() if r.run_id == run)
    assert refused.requested_by == "admin" and "corresponde a la Jefe OAC" in refused.reason
    status, body = apis["admin"].call(
        "GET", f"/api/v2/dags/{DAG}/dagRuns/{run}/taskInstances/identificar_necesidad/logs/1"
    )
    assert status == 200 and "corresponde a la Jefe OAC" in str(body)


def _event(office, need_id: int, action: str, timeout: float = 30):
    """The need's history event ``action`` (written right after Airflow answers the change)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in office.events(need_id) if e.action == action]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no {action}: {[e.action for e in office.events(need_id)]}")


def _need_waiting(apis, name: str):
    from cvp.office import Office

    run = f"{name}-{int(time.time())}"
    assert apis["jefe"].trigger(run, dict(NEED, accion_puntual=True, canales=["sitio_web"]))[0] == 200
    apis["jefe"].wait_task(run, "producir_contenidos")
    office = Office()
    return run, office, office.need_by_run(run)


@pytest.mark.parametrize("state, word", [("failed", "fallida"), ("success", "exitosa")])
def test_a_run_changed_from_airflow_is_refused_to_others_and_recorded_with_who_did_it(apis, stack_env, state, word):
    run, office, need = _need_waiting(apis, f"cambiada-{state}")
    status, body = apis["admin"].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": state})
    assert status == 403 and "corresponde a la Jefe OAC" in body["detail"] and "«admin»" in body["detail"]
    assert apis["jefe"].run_state(run) == "running" and office.need(need.id).status == "en_curso"
    status, _ = apis["jefe"].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": state})
    assert status == 200
    [event] = _event(office, need.id, f"ejecucion_{word}_en_airflow")
    assert event.actor == "jefe" and f"marcó como {word}" in event.summary
    assert office.need(need.id).status == "cancelada"
    time.sleep(3)
    assert office.publications(need.id) == []  # marking the waits done never publishes


def test_a_waiting_task_marked_successful_publishes_nothing_and_says_who(apis, stack_env):
    run, office, need = _need_waiting(apis, "espera-exitosa")
    path = f"/api/v2/dags/{DAG}/dagRuns/{run}/taskInstances/producir_contenidos"
    status, body = apis["admin"].call("PATCH", path, {"new_state": "success"})
    assert status == 403 and "corresponde a la Jefe OAC" in body["detail"]
    assert apis["jefe"].task_states(run)["producir_contenidos"] == "deferred"
    status, _ = apis["jefe"].call("PATCH", path, {"new_state": "success"})
    assert status == 200
    [event] = _event(office, need.id, "tarea_exitosa_en_airflow")
    assert event.actor == "jefe" and event.activity == 5
    assert "jefe marcó la tarea «producir_contenidos» como exitosa desde Airflow" in event.summary
    # The next step runs with no text to present: it refuses, and nothing reaches a platform.
    apis["jefe"].wait_task(run, "presentar_contenidos", states=("up_for_retry", "failed"), timeout=180)
    assert office.publications(need.id) == []
    assert not list(stack_env.data_dir.glob(f"salida/*/necesidad-{need.id}-*"))  # no platform got the piece
    apis["jefe"].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": "failed"})  # leave nothing waiting


def test_a_clear_is_refused_to_others_and_recorded_for_the_head(apis, stack_env):
    run, office, need = _need_waiting(apis, "limpiada")
    clear = f"/api/v2/dags/{DAG}/dagRuns/{run}/clear"
    for user in ("admin", "profesional"):
        status, body = apis[user].call("POST", clear, {"dry_run": False})
        assert status == 403 and "corresponde a la Jefe OAC" in body["detail"], user
    status, body = apis["admin"].call("POST", clear, {"dry_run": True})  # a preview changes nothing
    assert status == 200 and body["total_entries"] >= 1
    status, body = apis["admin"].call(
        "POST", f"/api/v2/dags/{DAG}/clearTaskInstances", {"dry_run": False, "dag_run_id": run, "only_failed": False}
    )
    assert status == 403 and "corresponde a la Jefe OAC" in body["detail"]
    assert [e for e in office.events(need.id) if e.action.endswith("_en_airflow")] == []
    status, _ = apis["jefe"].call("POST", clear, {"dry_run": False})
    assert status == 200
    [event] = _event(office, need.id, "ejecucion_limpiada_en_airflow")
    assert event.actor == "jefe" and "limpió la ejecución" in event.summary
    assert office.need(need.id).status == "en_curso"
    apis["jefe"].wait_task(run, "producir_contenidos")  # the cleared run waits again for the text
    apis["jefe"].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": "failed"})  # leave nothing waiting
