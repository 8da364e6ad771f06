"""The deployment's records roles, for real: scripts/postgres-init.sql on a private PostgreSQL, then `init`'s steps.

The owner migrates and grants; the product's role `cvp` runs the procedure but cannot empty or rewrite
the audit trail, nor drop its triggers.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def private_postgres():
    if not BIN or os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("hace falta PostgreSQL de Debian y ser root para un servidor privado de prueba")
    bin_dir = BIN[-1]
    folder = Path(tempfile.mkdtemp(prefix="cvp-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, f"{bin_dir}/initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [
            *as_pg,
            f"{bin_dir}/postgres",
            "-D",
            str(folder / "data"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([f"{bin_dir}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode:
            assert time.monotonic() < deadline, "PostgreSQL privado no arrancó"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(folder, ignore_errors=True)


def _psql(port: int, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-X", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_init_script_refuses_without_passwords(private_postgres):
    done = _psql(
        private_postgres,
        "-d",
        "postgres",
        "-f",
        str(ROOT / "scripts" / "postgres-init.sql"),
        env={"CVP_RECORDS_PASSWORD": "", "CVP_RECORDS_OWNER_PASSWORD": ""},
    )
    assert done.returncode != 0 and "Falta CVP_RECORDS_OWNER_PASSWORD" in done.stderr


def test_the_products_role_runs_the_procedure_but_cannot_touch_the_trail(private_postgres, cvp_env, monkeypatch):
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from cvp.office import Office
    from cvp.records.db import engine_for, grant_app_role, migrate
    from tests.conftest import NEED

    env = {"CVP_RECORDS_PASSWORD": "clave-app", "CVP_RECORDS_OWNER_PASSWORD": "clave-dueno"}
    done = _psql(
        private_postgres,
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        str(ROOT / "scripts" / "postgres-init.sql"),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    owner = f"postgresql+psycopg2://cvp_owner:clave-dueno@127.0.0.1:{private_postgres}/cvp"
    app = f"postgresql+psycopg2://cvp:clave-app@127.0.0.1:{private_postgres}/cvp"
    migrate(owner)  # what docker/airflow-init.sh does: `python -m cvp db --app-role cvp` as the owner
    grant_app_role(owner, "cvp")

    office = Office(app)
    need = office.register_need(NEED, "jefe", run_id="r-1")
    office.cancel_need(need.id, "jefe", "Prueba de permisos")
    assert office.need(need.id).status == "cancelada"

    engine = create_engine(app)
    for sql in (
        "TRUNCATE events CASCADE",
        "DELETE FROM events",
        "UPDATE events SET actor = 'otro'",
        "DROP TABLE events CASCADE",
        "ALTER TABLE events DISABLE TRIGGER ALL",
        "CREATE TABLE x (id int)",
    ):
        with engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(text(sql))
            conn.commit()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events WHERE need_id = :n"), {"n": need.id}) >= 2
    engine.dispose()
    engine_for(app).dispose()
    engine_for(owner).dispose()
