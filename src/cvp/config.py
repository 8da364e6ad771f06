"""Settings of the domain core, from the environment with defaults that work on a fresh machine.

Credentials never live here: they come from Airflow Connections, read by the Airflow-facing hooks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TIMEZONE = ZoneInfo("America/Bogota")


# --- Bogotá time ---------------------------------------------------------------------------------------
# The office lives in Bogotá: people type and read its wall clock, deadlines and reports are its days,
# the records keep UTC. These are the only conversions between the two.


def bogota(value: datetime) -> datetime:
    """The instant on Bogotá's clock; a naive value is what a person typed there (taken as Bogotá time)."""
    return value.replace(tzinfo=TIMEZONE) if value.tzinfo is None else value.astimezone(TIMEZONE)


def bogota_date(value: datetime | None = None) -> date:
    """The Bogotá day of an instant (now when none is given): deadlines and reports count these days."""
    return bogota(value if value is not None else datetime.now(UTC)).date()


def bogota_day_start(day: date) -> datetime:
    """The UTC instant at which the Bogotá day ``day`` begins (periods are half-open from here)."""
    return datetime.combine(day, time.min, TIMEZONE).astimezone(UTC)


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    templates_dir: Path
    team_file: Path
    base_url: str
    mail_from: str
    red_distrital_email: str
    records_url_override: str | None = None
    storage_url: str = ""
    storage_conn_id: str | None = None

    @property
    def storage_base_url(self) -> str:
        """Base URL of every file the product keeps: ``CVP_STORAGE_URL``, else ``file://`` + the data dir."""
        return self.storage_url or self.data_dir.as_uri()

    @property
    def mailbox_dir(self) -> Path:
        return self.data_dir / "buzon"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "salida"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "archivos"

    @property
    def default_records_url(self) -> str:
        return self.records_url_override or f"sqlite:///{self.data_dir / 'registros.db'}"


def settings() -> Settings:
    """Read the settings now (not at import), so tests and processes can set the environment first."""
    airflow_home = os.environ.get("AIRFLOW_HOME")
    default_data = Path(airflow_home) / "cvp" if airflow_home else Path.home() / "cvp"
    data_dir = _path("CVP_DATA_DIR", default_data)
    return Settings(
        data_dir=data_dir,
        templates_dir=_path("CVP_TEMPLATES_DIR", PROJECT_ROOT / "include" / "templates"),
        team_file=_path("CVP_TEAM_FILE", PROJECT_ROOT / "include" / "config" / "equipo.yml"),
        base_url=os.environ.get("CVP_BASE_URL", "http://127.0.0.1:8080").rstrip("/"),
        mail_from=os.environ.get("CVP_MAIL_FROM", "comunicaciones@cajaviviendapopular.gov.co"),
        red_distrital_email=os.environ.get("CVP_RED_DISTRITAL_EMAIL", "redessociales@alcaldiabogota.gov.co"),
        records_url_override=os.environ.get("CVP_RECORDS_URL") or None,
        storage_url=(os.environ.get("CVP_STORAGE_URL") or "").strip() or data_dir.as_uri(),
        storage_conn_id=(os.environ.get("CVP_STORAGE_CONN_ID") or "").strip() or None,
    )
