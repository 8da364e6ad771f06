"""One real Airflow stack (scheduler, dag-processor, triggerer, api-server) shared by the integration tests."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from stack import Stack, free_port  # noqa: E402

from tests.clients import Api  # noqa: E402


@pytest.fixture(scope="package")
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
