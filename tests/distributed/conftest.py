"""The office's deployment, as docker-compose.yml runs it, made of real processes on loopback.

PostgreSQL for Airflow's metadata and for the records; Redis as Celery's broker; scheduler,
dag-processor, two triggerers and the api-server; two Celery workers, each in its own AIRFLOW_HOME and
working directory, sharing nothing local with the api-server but the storage base; the FAB auth
manager logging people in against a real slapd, the procedure roles read from its groups; the
platforms are the local fakes. One such stack serves every test of this package.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import ldap_server  # noqa: E402
from stack import Stack, free_port  # noqa: E402

from tests import fakes_platforms as F  # noqa: E402
from tests.clients import Api  # noqa: E402
from tests.conftest import PG_ADMIN_URL  # noqa: E402

pytestmark = pytest.mark.integration


def _platform_connections(fake: F.FakePlatforms) -> dict[str, str]:
    """X and Facebook as an administrator would enter them, pointing at the fake platforms."""
    return {
        "AIRFLOW_CONN_X_DEFAULT": json.dumps(
            {
                "conn_type": "http",
                "password": F.X_BEARER,
                "extra": {"user_id": F.X_USER_ID, "username": F.X_USERNAME, "base_url": fake.url},
            }
        ),
        "AIRFLOW_CONN_FACEBOOK_DEFAULT": json.dumps(
            {
                "conn_type": "http",
                "login": F.FB_PAGE_ID,
                "password": F.FB_TOKEN,
                "extra": {"app_secret": F.META_APP_SECRET, "base_url": fake.url},
            }
        ),
    }


@pytest.fixture(scope="package")
def directory():
    if not ldap_server.available():
        pytest.skip("slapd no está instalado (./dev test lo instala como root)")
    with ldap_server.LdapServer() as server:
        yield server


@pytest.fixture(scope="package")
def platforms(tmp_path_factory):
    # Workers on a loaded two-core machine may pause longer than the fake's default between body parts.
    with F.FakePlatforms(tmp_path_factory.mktemp("publico"), body_timeout=10) as fake:
        yield fake


class Broker:
    """A Redis of this deployment's own, so a test may take it away and bring it back on the same port."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server no arrancó")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="package")
def broker(tmp_path_factory):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server no está instalado")
    b = Broker(tmp_path_factory.mktemp("redis"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="package")
def databases():
    """Two throw-away PostgreSQL databases: Airflow's metadata and the records."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    tag = uuid.uuid4().hex[:10]
    names = {"metadata": f"airflow_dist_{tag}", "records": f"cvp_dist_{tag}"}
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names.values():
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield {k: f"{base}/{v}" for k, v in names.items()}
    with admin.connect() as conn:
        for name in names.values():
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="package")
def deployment(tmp_path_factory, directory, platforms, databases, broker):
    home = tmp_path_factory.mktemp("despliegue")
    env = {
        **directory.env(),
        **_platform_connections(platforms),
        "CVP_TEAM_SOURCE": "ldap",
        # A small cap on needs in flight, so the waiting line can be seen with three needs.
        "CVP_MAX_ACTIVE_NEEDS": "2",
        "CVP_QUEUE_GRACE_SECONDS": "0",
    }
    stack = Stack(
        home,
        port=free_port(),
        executor="CeleryExecutor",
        auth="fab",
        triggerers=2,
        workers=2,
        metadata_url=databases["metadata"],
        records_db_url=databases["records"],
        broker_url=broker.url,
        queue=f"cvp-{uuid.uuid4().hex[:8]}",
        storage_url=f"file://{home / 'almacen'}",
        extra_env=env,
        directory_passwords={u: directory.passwords[u] for u in ldap_server.USERS},
    )
    stack.setup()
    stack.start()
    try:
        stack.wait_ready(timeout=240)
        yield stack
    finally:
        stack.stop(timeout=5)  # the stack is thrown away: no need for graceful Celery shutdowns


@pytest.fixture(scope="package")
def head_api(deployment) -> Api:
    return Api(deployment, "jefe")
