"""The README's walk, run as written: its marked shell blocks, in order, against the shared stack.

A newcomer copies these commands; if one stops working, this test says so. Each command is retried for
a while when it is refused, as a person would when the run has not reached that step yet.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration
MARK = "<!-- recorrido -->"


def walk_commands() -> list[str]:
    """The logical command lines of the README's marked bash blocks, in order (continuations joined)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(re.escape(MARK) + r"\s*```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return commands


def test_the_readme_walk_has_the_steps_a_newcomer_needs():
    text = "\n".join(walk_commands())
    for step in (
        "stack.py env",
        "stack.py token jefe",
        "/api/v2/dags/necesidad_comunicacion/dagRuns",
        "cvp numero",
        "cvp reunion",
        "cvp plan",
        "cvp texto",
        "--decision devuelto",
        "cvp diseno",
        "--punto 12",
        "cvp historial",
        "cvp exportar",
    ):
        assert step in text, step


def test_the_readme_walk_runs_as_written(airflow_stack, tmp_path):
    for name in (".venv", "scripts", "include", "src"):
        (tmp_path / name).symlink_to(ROOT / name)
    script = [
        "set -u",
        'try() { local i; for i in $(seq 90); do eval "$1" && return 0; sleep 2; done; '
        'echo "FALLÓ: $1" >&2; return 1; }',
    ]
    script += [f"try {shlex.quote(cmd)} || exit 1" for cmd in walk_commands()]
    script += ['echo "RUN=$RUN"', 'echo "N=$N"']
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CVP_"))}
    env.update(CVP_AIRFLOW_HOME=str(airflow_stack.home), CVP_PORT=str(airflow_stack.port))
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = re.search(r"^RUN=(\S+)$", done.stdout, flags=re.M).group(1)
    need = int(re.search(r"^N=(\d+)$", done.stdout, flags=re.M).group(1))
    assert f"Necesidad n.º {need}" in done.stdout
    html = (tmp_path / "expediente.html").read_text(encoding="utf-8")
    assert "Feria de vivienda en Usme" in html
    assert "texto_devuelto" in done.stdout and "diseno_aprobado" in done.stdout  # the historial printed

    from tests.clients import Api

    api = Api(airflow_stack, "jefe")
    assert api.wait_run(run, timeout=max(60, 600 - (time.monotonic() - started))) == "success", api.task_states(run)
