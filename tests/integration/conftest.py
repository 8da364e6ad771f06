"""One real Airflow stack (scheduler, dag-processor, triggerer, api-server) shared by the integration tests."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from stack import Stack  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """A small client of Airflow's REST API, logged in as one user."""

    def __init__(self, stack: Stack, user: str):
        self.base = stack.base_url
        password = stack.passwords()[user]
        self.token = self.call("POST", "/auth/token", {"username": user, "password": password}, auth=False)[1][
            "access_token"]

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def trigger(self, run_id: str, conf: dict):
        return self.call("POST", "/api/v2/dags/necesidad_comunicacion/dagRuns",
                         {"dag_run_id": run_id, "logical_date": None, "conf": conf})

    def run_state(self, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/necesidad_comunicacion/dagRuns/{run_id}")[1]["state"]

    def task_states(self, run_id: str) -> dict[str, str]:
        _, body = self.call("GET", f"/api/v2/dags/necesidad_comunicacion/dagRuns/{run_id}/taskInstances?limit=100")
        return {(t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"): t["state"]
                for t in body["task_instances"]}

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
