"""DAG tests run with an AIRFLOW_HOME of their own (SQLite, nothing started)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    home = Path(os.environ.get("PYTEST_AIRFLOW_HOME", "/tmp/cvp-dagtests-airflow"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    if str(ROOT / "plugins") not in sys.path:
        sys.path.insert(0, str(ROOT / "plugins"))
