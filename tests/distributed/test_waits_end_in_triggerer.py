"""Where no listener is installed (the office's deployment: Celery workers, no listener plugin), a human
step's wait is ended by its trigger: no worker is started just to close it (issue 15).

Activity 5's wait is met through the forms; its task instance then succeeds with its one worker run,
the one that deferred it: the Celery workers were handed it once, the worker's log of that try says
the triggerer ends the wait and has no line of a resumed sensor, and the XCom is the trigger's.
Sorts before test_zz_triggerer_failover.py, which takes a triggerer away.
"""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy
from sqlalchemy import text

from tests.clients import Forms
from tests.conftest import NEED

pytestmark = pytest.mark.integration

DAG = "necesidad_comunicacion"
TASK = "producir_contenidos"
TEXTS = {"sitio_web": "La Caja de la Vivienda Popular entregó 25 títulos de propiedad en Kennedy."}


def log_events(path) -> list[str]:
    """The messages of a task's log file (JSON lines; a plain line is kept as it is)."""
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(str(json.loads(line).get("event", "")))
        except (ValueError, AttributeError):
            events.append(line)
    return events


def workloads_of(deployment, run_id: str, task_id: str) -> list[str]:
    """The Celery workers' "Executing workload" lines for one task instance of the run, in any try."""
    lines = []
    for worker in (c for c in deployment.components if c.startswith("worker-")):
        for line in deployment.log_file(worker).read_text(encoding="utf-8", errors="replace").splitlines():
            if "Executing workload in Celery" in line and run_id in line and f"task_id='{task_id}'" in line:
                lines.append(line)
    return lines


def test_a_met_wait_is_ended_by_its_trigger_without_a_worker(deployment, head_api):
    run = f"sin-trabajador-{int(time.time())}"
    conf = dict(NEED, titulo="Entrega de títulos en Kennedy (espera)", accion_puntual=True, canales=["sitio_web"])
    assert head_api.trigger(run, conf)[0] == 200
    head_api.wait_task(run, TASK, timeout=180)
    handed = workloads_of(deployment, run, TASK)
    assert len(handed) == 1, handed  # the worker that checked once and deferred

    head, prof = Forms(deployment, "jefe"), Forms(deployment, "profesional")
    need = next(n["id"] for n in head.call("GET", "/cvp/api/necesidades?estado=todas")[1] if n["ejecucion"] == run)
    metadata = sqlalchemy.create_engine(deployment.metadata_url)
    try:
        status, rev, _ = prof.call("POST", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})
        assert status == 201, rev
        head_api.wait_task(run, TASK, states=("success",), timeout=120)
        head_api.wait_task(run, "revisar_contenidos", timeout=180)  # the run went on from the trigger's end

        # No worker was handed the task again: one workload, one try.
        handed = workloads_of(deployment, run, TASK)
        assert len(handed) == 1, handed  # with CVP_WAITS_END_IN_TRIGGERER=no there are two
        ti = head_api.task_instances(DAG, run)[TASK]
        assert ti["state"] == "success" and ti["try_number"] == 1, ti
        with metadata.connect() as c:
            row = c.execute(
                text(
                    "SELECT next_method, next_kwargs FROM task_instance "
                    "WHERE dag_id = :d AND run_id = :r AND task_id = :t"
                ),
                {"d": DAG, "r": run, "t": TASK},
            ).one()
            xcom = c.execute(
                text(
                    "SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = :t AND key = 'return_value'"
                ),
                {"d": DAG, "r": run, "t": TASK},
            ).scalar_one()
        # A resumed sensor gets the event in its kwargs; the trigger that ends the task hands over none.
        assert "event" not in json.dumps(row.next_kwargs or {}), row
        value = json.loads(xcom) if isinstance(xcom, str) else xcom
        assert value["need_id"] == need and value["author"] == "profesional" and value["number"] == 1, value
        assert "status" not in value

        # The worker's log of that try: it deferred saying the triggerer ends the wait, and nothing resumed.
        logs = [
            p
            for worker in (deployment.home / "hosts").iterdir()
            for p in worker.glob(f"logs/dag_id={DAG}/run_id={run}/task_id={TASK}/attempt=1.log")
        ]
        assert len(logs) == 1, logs
        events = log_events(logs[0])
        assert any("La espera termina en el triggerer" in e for e in events), events
        assert not any("se cumplió" in e for e in events), events  # the sensor's line when it ends on a worker
    finally:
        metadata.dispose()
        head.call("POST", f"/cvp/api/necesidades/{need}/cancelar", {"motivo": "Fin de la prueba"})
