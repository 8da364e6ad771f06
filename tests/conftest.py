"""Shared fixtures: an Office on a fresh records database (SQLite, and PostgreSQL where marked)."""

from __future__ import annotations

import os
import shutil
import struct
import uuid
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("CVP_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xb5\x12\x1b" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    from cvp.records.db import engine_for, migrate

    path = tmp_path_factory.mktemp("template") / "registros.db"
    migrate(f"sqlite:///{path}")
    engine_for(f"sqlite:///{path}").dispose()  # the last close checkpoints the WAL into the file
    return path


@pytest.fixture
def cvp_env(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "datos"
    monkeypatch.setenv("CVP_DATA_DIR", str(data))
    monkeypatch.delenv("CVP_RECORDS_URL", raising=False)
    monkeypatch.setenv("CVP_BASE_URL", "http://127.0.0.1:8080")
    return data


@pytest.fixture
def sqlite_url(cvp_env, migrated_sqlite) -> str:
    cvp_env.mkdir(parents=True, exist_ok=True)
    dest = cvp_env / "registros.db"
    shutil.copyfile(migrated_sqlite, dest)
    return f"sqlite:///{dest}"


@pytest.fixture
def pg_url(cvp_env):
    """A throw-away PostgreSQL database with the records schema."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from cvp.records.db import engine_for, migrate

    name = f"cvp_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    yield url
    engine_for(url).dispose()
    engine_for.cache_clear()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def office(sqlite_url):
    from cvp.mail import MailboxMailer
    from cvp.office import Office

    o = Office(sqlite_url)
    o.mailer = MailboxMailer(o.cfg.mailbox_dir)
    return o


NEED = {
    "titulo": "Entrega de títulos en Ciudad Bolívar",
    "necesidad": "Divulgar la entrega de 120 títulos de propiedad a hogares de Ciudad Bolívar.",
    "fuente": "plan_accion",
    "canales": ["x", "facebook"],
    "publicos_interes": ["ciudadania", "hogares_beneficiarios"],
    "dependencia": "urbanizaciones_titulacion",
    "fecha_limite": "2099-12-15",
    "accion_puntual": False,
}
ONE_OFF = dict(NEED, accion_puntual=True)  # a one-off need goes straight to activity 5 (no meeting, no plan)
