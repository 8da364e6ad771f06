"""Two triggerers share the waits (Airflow's HA triggerer, issue 9): killing the one that holds a need's
wait loses neither the wait nor the decisions taken while it was down.

Runs last in the package (it takes a triggerer away and brings it back). The decisions go through the
command line against the deployment's records database, as a person on the office's network would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy
from sqlalchemy import text

from tests.conftest import NEED

pytestmark = pytest.mark.integration

TEXTS = {"sitio_web": "La Caja de la Vivienda Popular entregó 40 títulos de propiedad en Usme."}
TRIGGERERS = ("triggerer-1", "triggerer-2")


def cli(deployment, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cvp", *args],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def holder_of(metadata, run_id: str, task_id: str) -> int | None:
    """The triggerer job that holds the task's trigger (None while nobody holds it)."""
    with metadata.connect() as c:
        return c.execute(
            text(
                "SELECT t.triggerer_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
                "WHERE ti.dag_id = 'necesidad_comunicacion' AND ti.run_id = :r AND ti.task_id = :t"
            ),
            {"r": run_id, "t": task_id},
        ).scalar()


def heartbeats(metadata) -> dict[int, datetime]:
    with metadata.connect() as c:
        rows = c.execute(
            text("SELECT id, latest_heartbeat FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
        )
        return {jid: beat.replace(tzinfo=beat.tzinfo or UTC) for jid, beat in rows}


def kill_and_find_dead_job(deployment, metadata, component: str) -> int:
    """Kill one triggerer and tell which job stopped heartbeating (Airflow records no pid for a job)."""
    killed_at = datetime.now(UTC)
    before = {jid: beat for jid, beat in heartbeats(metadata).items() if (killed_at - beat).total_seconds() < 12}
    deployment.kill(component)
    time.sleep(15)  # three heartbeats of the survivor ([triggerer] job_heartbeat_sec = 5)
    after = heartbeats(metadata)
    dead = [jid for jid in before if jid in after and after[jid] < killed_at]
    assert len(dead) == 1, (before, after)
    return dead[0]


def test_killing_the_triggerer_that_holds_a_wait_loses_neither_the_wait_nor_the_decisions(deployment, head_api):
    metadata = sqlalchemy.create_engine(deployment.metadata_url)
    run = f"relevo-{int(time.time())}"
    conf = dict(NEED, titulo="Entrega de títulos en Usme (relevo)", accion_puntual=True, canales=["sitio_web"])
    assert head_api.trigger(run, conf)[0] == 200
    head_api.wait_task(run, "producir_contenidos", timeout=180)
    deadline = time.monotonic() + 60
    while (held_by := holder_of(metadata, run, "producir_contenidos")) is None:
        assert time.monotonic() < deadline, "ningún triggerer tomó la espera"
        time.sleep(0.5)

    # Kill triggerer-1; if it was not the holder, bring it back and kill triggerer-2 (then it was).
    dead = kill_and_find_dead_job(deployment, metadata, TRIGGERERS[0])
    if dead != held_by:
        deployment.start()
        deadline = time.monotonic() + 60
        while len(heartbeats(metadata)) < 3:  # the restarted one registered (the dead job stays 'running')
            assert time.monotonic() < deadline, heartbeats(metadata)
            time.sleep(1)
        dead = kill_and_find_dead_job(deployment, metadata, TRIGGERERS[1])
    assert dead == held_by

    try:
        # While its triggerer is gone: the text, and the head's approval at control point 7.
        need = int(cli(deployment, "numero", run, "--esperar", "30").strip())
        cli(deployment, "texto", str(need), "--como", "profesional", "--textos", json.dumps(TEXTS))
        cli(deployment, "decidir", str(need), "--como", "jefe", "--punto", "7", "--decision", "aprobado")

        # The surviving triggerer adopts the waits of the dead one and both resume from the records.
        head_api.wait_task(run, "elaborar_diseno", timeout=180)
        states = head_api.task_states(run)
        assert states["producir_contenidos"] == "success" and states["revisar_contenidos"] == "success", states
        deadline = time.monotonic() + 60  # the next wait is taken by a live triggerer
        while (next_holder := holder_of(metadata, run, "elaborar_diseno")) is None:
            assert time.monotonic() < deadline, "ningún triggerer tomó la espera siguiente"
            time.sleep(0.5)
        assert next_holder != dead
        trail = cli(deployment, "historial", str(need))
        assert " 7. " in trail and "jefe" in trail and "profesional" in trail, trail
    finally:
        deployment.start()  # the killed triggerer comes back for whatever runs after
        metadata.dispose()
        subprocess.run(
            [sys.executable, "-m", "cvp", "cancelar", str(need), "--como", "jefe", "--motivo", "Fin de la prueba"]
            if "need" in locals()
            else ["true"],
            env=deployment.env(),
            capture_output=True,
            timeout=120,
        )
