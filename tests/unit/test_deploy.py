"""The deployment files say what the product needs, with no credential written in them."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_each_component_on_postgres_without_literal_secrets():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "init", "api-server", "scheduler", "dag-processor", "triggerer"} <= set(services)
    for name in ("api-server", "scheduler", "dag-processor", "triggerer", "init"):
        env = services[name]["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert '"conn_type": "postgres"' in env["AIRFLOW_CONN_CVP_RECORDS"]
    assert services["api-server"]["ports"] == ["127.0.0.1:8080:8080"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${POSTGRES_PASSWORD:?}" in text and "${AIRFLOW_JWT_SECRET:?}" in text
    init_sql = services["postgres"]["volumes"][1].split(":")[0]
    assert (ROOT / init_sql).is_file()


def test_dockerfile_copies_what_exists_and_installs_the_lock():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
    assert any("-r requirements.txt" in line for line in lines)


def test_requirements_is_a_complete_pinned_lock():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")):
            assert "==" in line, line
