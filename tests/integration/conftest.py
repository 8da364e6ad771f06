"""One real Airflow stack (scheduler, dag-processor, triggerer, api-server) shared by the integration tests."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from stack import Stack, StackApi, free_port  # noqa: E402


class Api(StackApi):
    """The REST client, with the communication-need DAG as default."""

    DAG = "necesidad_comunicacion"

    def trigger(self, run_id: str, conf: dict):
        return self.trigger_dag(self.DAG, run_id, conf)

    def run_state(self, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/necesidad_comunicacion/dagRuns/{run_id}")[1]["state"]

    def task_states(self, run_id: str) -> dict[str, str]:
        return {k: t["state"] for k, t in self.task_instances(self.DAG, run_id).items()}

    def wait_task(self, run_id: str, task_id: str, states=("deferred",), timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.task_states(run_id).get(task_id)
            if state in states:
                return state
            if state in ("failed", "upstream_failed"):
                raise AssertionError(f"{task_id} {state}: {self.task_states(run_id)}")
            time.sleep(0.5)
        raise TimeoutError(f"{task_id} never reached {states}: {self.task_states(run_id)}")

    def wait_run(self, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise TimeoutError(f"run {run_id} still {self.run_state(run_id)}: {self.task_states(run_id)}")


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    stack = Stack(home, port=free_port(), log_port=free_port(), trigger_log_port=free_port(), parallelism=4)
    stack.setup()
    stack.start()
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()
        for name in ("scheduler", "triggerer", "dag-processor", "api-server"):
            log = home / "logs" / f"{name}.log"
            if log.exists() and os.environ.get("CVP_SHOW_AIRFLOW_LOGS"):
                print(f"===== {name}\n" + log.read_text()[-5000:])


@pytest.fixture(scope="session")
def head_api(airflow_stack) -> Api:
    return Api(airflow_stack, "jefe")


@pytest.fixture
def stack_env(airflow_stack, monkeypatch):
    """The test process acts as the office's command line against the stack's records."""
    for k, v in airflow_stack.env({}).items():
        if k.startswith("CVP_"):
            monkeypatch.setenv(k, v)
    return airflow_stack
