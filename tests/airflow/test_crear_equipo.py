"""docker/crear_equipo.py against Airflow's real FAB user table, as the compose `init` service runs it.

A fresh SQLite Airflow home with the FAB auth manager goes through init's own steps (migrations, roles,
the first administrator from .env), then the script runs twice. What a person would see in
`docker compose logs init` is everything these processes print; the passwords are read back from the
0600 file and tried against FAB's own password check in a separate process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "clave-del-primer-administrador-de-prueba"
PROBE = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

lines = [l for l in open(sys.argv[1], encoding="utf-8").read().splitlines() if l and not l.startswith("#")]
kept = dict(l.rsplit(": ", 1) for l in lines)
with get_application_builder() as ab, ab.app.test_request_context():
    sm = ab.sm
    out = {
        user: {
            "right": bool(sm.auth_user_db(user, password)),
            "wrong": bool(sm.auth_user_db(user, password + "x")),
            "roles": sorted(r.name for r in sm.find_user(username=user).roles),
        }
        for user, password in kept.items()
    }
    out["admin"] = {"right": bool(sm.auth_user_db("admin", sys.argv[2]))}
print("RESULT " + json.dumps(out))
"""


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CVP_LDAP_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__FAB__CONFIG_FILE": str(ROOT / "include/config/webserver_config.py"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "CVP_TEAM_FILE": str(ROOT / "include/config/equipo.yml"),
        }
    )
    return env


@pytest.fixture(scope="module")
def init(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("init-airflow")
    secrets_file = home / "secretos" / "contrasenas-iniciales.txt"
    env = _env(home)
    airflow = [sys.executable, "-m", "airflow"]
    script = [sys.executable, str(ROOT / "docker/crear_equipo.py"), env["CVP_TEAM_FILE"], str(secrets_file)]
    steps = [
        airflow + ["db", "migrate"],
        airflow + ["fab-db", "migrate"],
        airflow + ["sync-perm"],
        airflow
        + ["users", "create", "--role", "Admin", "--username", "admin", "--password", ADMIN_PASSWORD]
        + ["--firstname", "Administración", "--lastname", "CVP", "--email", "admin@cvp.invalid"],
        script,
    ]
    log = ""
    for step in steps:
        r = subprocess.run(step, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        log += r.stdout + r.stderr
        assert r.returncode == 0, (step, r.stdout[-2000:], r.stderr[-4000:])
    first = secrets_file.read_bytes()
    mode = stat.S_IMODE(secrets_file.stat().st_mode)
    again = subprocess.run(script, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-4000:]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(secrets_file), ADMIN_PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert probe.returncode == 0, probe.stderr[-4000:]
    result = next(line for line in probe.stdout.splitlines() if line.startswith("RESULT "))
    return {
        "log": log,
        "again": again.stdout + again.stderr,
        "file": secrets_file,
        "first": first,
        "mode": mode,
        "logins": json.loads(result.removeprefix("RESULT ")),
    }


def test_each_person_of_the_team_logs_in_with_the_password_kept_in_the_file(init):
    logins = init["logins"]
    assert logins.pop("admin") == {"right": True}
    # The first administrator exists already (from .env): the team's "admin" entry is not recreated.
    assert set(logins) == {"jefe", "profesional", "tecnico", "lector"}
    for user, login in logins.items():
        assert login["right"] and not login["wrong"], user
    assert logins["jefe"]["roles"] == ["User"] and logins["tecnico"]["roles"] == ["Viewer"]


def test_the_file_is_0600_and_belongs_to_the_user_init_runs_as(init):
    assert init["mode"] == 0o600 and init["file"].stat().st_uid == os.getuid()


def test_no_password_reaches_inits_output(init):
    passwords = [
        line.rsplit(": ", 1)[1]
        for line in init["first"].decode("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert len(passwords) == 4
    for output in (init["log"], init["again"]):
        assert not any(p in output for p in passwords)
        assert ADMIN_PASSWORD not in output
    assert f"su contraseña inicial está en {init['file']}" in init["log"]


def test_running_init_again_rotates_nothing(init):
    assert init["file"].read_bytes() == init["first"]
    assert "no se creó ni se cambió ninguna contraseña" in init["again"]
