"""The Red Distrital's joint actions on a real stack: a day's agenda, the head's three decisions, posting once, a need run.

The stack has no platform connection and no agenda source: the shipped sample agenda is read, dated
today, and the joined action goes to the local outbox through the same ledger as a platform post.
"""

from __future__ import annotations

import email
import json
import time
from email import policy

import pytest

from cvp.__main__ import main as cvp
from cvp.config import bogota_date
from tests.clients import Api, Forms

pytestmark = pytest.mark.integration

DAG = "red_distrital_diaria"


class RedApi(Api):
    DAG = DAG

    def run_state(self, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}")[1]["state"]


def wait_for(predicate, timeout: float = 120, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(what)


def test_a_day_of_joint_actions_joined_declined_adapted_posted_once(airflow_stack, stack_env):
    from cvp import joint_actions as J
    from cvp.office import Office

    api, head = RedApi(airflow_stack, "jefe"), Forms(airflow_stack, "jefe")
    today = bogota_date()
    assert api.trigger_dag(DAG, "red-dia-1", {})[0] == 200
    # The scheduler may also have started today's scheduled run (the DAG is unpaused): whichever reads the
    # agenda first creates the day's three actions, and both then wait for the head.

    def listed():
        status, body, _ = head.call("GET", f"/cvp/api/red-distrital/acciones?dia={today.isoformat()}")
        return body if status == 200 and len(body) == 3 else None

    actions = wait_for(listed, timeout=240, what="the day's actions")
    assert all(a["estado"] == "pendiente" for a in actions)
    repost, quote, share = (a["id"] for a in actions)
    assert [p["modo"] for p in actions[0]["vistas_previas"]] == ["repost"]
    path = "/cvp/api/red-distrital/acciones/{}/decision"
    refused = Forms(airflow_stack, "profesional").call("POST", path.format(repost), {"decision": "unirse"})
    assert refused[0] == 403
    assert head.call("POST", path.format(repost), {"decision": "unirse"})[0] == 201
    assert head.call("POST", path.format(quote), {"decision": "declinar", "motivo": "No es tema de la CVP"})[0] == 201
    status, body, _ = head.call("POST", path.format(share), {"decision": "adaptar"})
    assert status == 201 and body["accion"]["decision"]["decidido_por"] == "jefe"

    assert api.wait_run("red-dia-1", timeout=300) == "success", api.task_states("red-dia-1")
    wait_for(lambda: all_finished(api), timeout=180, what="every run of the day finished")
    states = api.task_states("red-dia-1")
    assert states["amplificar"] == "success" and states["resumen_del_dia"] == "success", states

    office = Office()
    posts = J.action(office, repost).posts
    assert [(p.channel, p.state, p.attempts) for p in posts] == [("x", "publicado", 1)]
    manifest = stack_env.data_dir / "salida" / "red_distrital" / "x" / f"accion-{repost}" / "accion.json"
    first_written = json.loads(manifest.read_text(encoding="utf-8"))
    assert first_written["modo"] == "repost" and first_written["objetivo"] == "1863000000000000001"
    assert J.action(office, quote).posts == () and J.action(office, share).posts == ()

    # The amplification task run again (a retry, a cleared task): nothing is posted twice.
    status, _ = RedApi(airflow_stack, "admin").call(
        "POST",
        f"/api/v2/dags/{DAG}/clearTaskInstances",
        {
            "dry_run": False,
            "dag_run_id": "red-dia-1",
            "task_ids": ["amplificar"],
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    assert status == 200
    wait_for(lambda: api.task_instances(DAG, "red-dia-1")["amplificar"]["try_number"] >= 2, what="cleared task")
    assert api.wait_run("red-dia-1", timeout=180) == "success"
    assert api.task_states("red-dia-1")["amplificar"] == "success"
    assert [(p.state, p.attempts) for p in J.action(office, repost).posts] == [("publicado", 1)]
    assert json.loads(manifest.read_text(encoding="utf-8")) == first_written

    # The adapted action became a one-off need run with the action's fields.
    need_run = J.action(office, share).action.need_run_id
    assert need_run == f"red_distrital_adaptar__{share}"
    status, run = api.call("GET", f"/api/v2/dags/necesidad_comunicacion/dagRuns/{need_run}")
    assert status == 200 and run["conf"]["accion_puntual"] is True
    need = wait_for(lambda: _need(office, need_run), what="the adapted need")
    assert need.one_off and "Derechos humanos".casefold() in need.title.casefold()

    # A second run of the same day creates nothing new and opens no second need.
    assert api.trigger_dag(DAG, "red-dia-2", {})[0] == 200
    assert api.wait_run("red-dia-2", timeout=300) == "success", api.task_states("red-dia-2")
    assert len(J.actions_of_day(office, today)) == 3
    assert J.loads_of_day(office, today)[-1].created == 0
    assert api.task_states("red-dia-2")["abrir_necesidad_adaptada[0]"] == "skipped"
    assert [(p.state, p.attempts) for p in J.action(office, repost).posts] == [("publicado", 1)]

    subjects = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
        for p in (stack_env.data_dir / "buzon").iterdir()
    ]
    assert sum("resumen de las acciones conjuntas" in s for s in subjects) == 1, subjects

    assert cvp(["cancelar", str(need.id), "--como", "jefe", "--motivo", "Fin de la prueba de la Red Distrital"]) == 0


def all_finished(api) -> bool:
    status, body = api.call("GET", f"/api/v2/dags/{DAG}/dagRuns?limit=50")
    return status == 200 and all(r["state"] in ("success", "failed") for r in body["dag_runs"])


def _need(office, run_id):
    from cvp.errors import NotFound

    try:
        return office.need_by_run(run_id)
    except NotFound:
        return None
