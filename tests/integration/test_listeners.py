"""Where Airflow listeners are installed (this package's stack has two), the human steps still wait and resume.

The listener must be told of each human step's end: the wait resumes on a worker, which calls it.
"""

from __future__ import annotations

import pytest

from cvp.__main__ import main as cvp
from tests.conftest import NEED

pytestmark = pytest.mark.integration


def act(*args: str) -> None:
    assert cvp(list(args)) == 0, args


def test_the_listener_sees_the_human_steps_resume_and_skip(head_api, stack_env, task_events):
    from cvp.office import Office

    run = "necesidad-con-listener"
    assert (
        head_api.trigger(
            run, dict(NEED, titulo="Feria de vivienda en Bosa", accion_puntual=True, canales=["sitio_web"])
        )[0]
        == 200
    )
    assert head_api.wait_task(run, "producir_contenidos") == "deferred"
    office = Office()
    n = str(office.need_by_run(run).id)
    act("texto", n, "--como", "profesional")  # the drafts
    assert head_api.wait_task(run, "revisar_contenidos") == "deferred"
    act("decidir", n, "--punto", "7", "--decision", "aprobado", "--como", "jefe")
    assert head_api.wait_task(run, "elaborar_diseno") == "deferred"
    act("cancelar", n, "--como", "jefe", "--motivo", "La feria se aplazó")
    assert head_api.wait_run(run) == "success"
    states = head_api.task_states(run)
    assert states["producir_contenidos"] == states["revisar_contenidos"] == "success"
    assert states["elaborar_diseno"] == "skipped"

    told = [(e["task_id"], e["event"]) for e in task_events() if e["run_id"] == run]
    for step in ("producir_contenidos", "revisar_contenidos"):
        assert (step, "running") in told and (step, "success") in told, told
    assert ("elaborar_diseno", "skipped") in told, told
    assert ("identificar_necesidad", "success") in told and ("presentar_contenidos", "success") in told
