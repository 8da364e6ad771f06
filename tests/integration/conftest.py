"""One real Airflow stack (scheduler, dag-processor, triggerer, api-server) shared by the integration tests.

It runs with Airflow listeners installed, as a deployment with lineage or an audit plugin would: a
test listener that writes every task event it is told of (``plugins/registro_de_tareas.py``, beside
the product's own plugin) and OpenLineage on the console. The waits then resume on a worker; the
distributed deployment's stack (tests/distributed) runs without listeners, where the trigger ends them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from stack import Stack, free_port  # noqa: E402

from tests.clients import Api  # noqa: E402


@pytest.fixture(scope="package")
def airflow_stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    listeners = {
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(Path(__file__).parent / "plugins"),
        "CVP_TEST_LISTENER_LOG": str(home / "eventos_de_tareas.jsonl"),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "console"}),
    }
    stack = Stack(
        home, port=free_port(), log_port=free_port(), trigger_log_port=free_port(), parallelism=4, extra_env=listeners
    )
    stack.setup()
    stack.start()
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop(timeout=5)  # the stack is thrown away: no need for graceful shutdowns
        for name in ("scheduler", "triggerer", "dag-processor", "api-server"):
            log = home / "logs" / f"{name}.log"
            if log.exists() and os.environ.get("CVP_SHOW_AIRFLOW_LOGS"):
                print(f"===== {name}\n" + log.read_text()[-5000:])


@pytest.fixture
def task_events(airflow_stack):
    """What the test listener was told so far: one dict per task event."""

    def read() -> list[dict]:
        path = Path(airflow_stack.extra_env["CVP_TEST_LISTENER_LOG"])
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    return read


@pytest.fixture(scope="package")
def head_api(airflow_stack) -> Api:
    return Api(airflow_stack, "jefe")


@pytest.fixture
def stack_env(airflow_stack, monkeypatch):
    """The test process acts as the office's command line against the stack's records."""
    for k, v in airflow_stack.env({}).items():
        if k.startswith("CVP_"):
            monkeypatch.setenv(k, v)
    return airflow_stack
