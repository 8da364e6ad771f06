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


@pytest.mark.parametrize("state, word", [("failed", "fallida"), ("success", "exitosa")])
def test_a_run_changed_from_airflow_is_recorded_with_who_did_it(apis, stack_env, state, word):
    from cvp.office import Office

    run = f"cambiada-{state}-{int(time.time())}"
    assert apis["jefe"].trigger(run, dict(NEED, accion_puntual=True, canales=["sitio_web"]))[0] == 200
    apis["jefe"].wait_task(run, "producir_contenidos")
    status, _ = apis["admin"].call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run}", {"state": state})
    assert status == 200
    office = Office()
    deadline = time.monotonic() + 30
    while office.need_by_run(run).status == "en_curso" and time.monotonic() < deadline:
        time.sleep(0.5)
    need = office.need_by_run(run)
    assert need.status == "cancelada"
    [event] = [e for e in office.events(need.id) if e.action == f"ejecucion_{word}_en_airflow"]
    assert event.actor == "admin" and f"marcó como {word}" in event.summary
    time.sleep(3)
    assert office.publications(need.id) == []  # marking the waits done never publishes
