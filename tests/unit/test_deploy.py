"""The deployment files (docker-compose.yml, .env.example, Dockerfile, the locks) read as data.

There is no Docker engine where the tests run, so the compose file is checked for what would make
`docker compose up` fail or run something other than intended: the services and their health checks,
the order they start in, every variable it reads present in .env.example, no credential written in it,
one Airflow configuration for every Airflow service, and an image that holds no test tool.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ("init", "api-server", "scheduler", "dag-processor", "triggerer", "worker")
SERVICES = {"postgres", "redis", *AIRFLOW_SERVICES, "openldap"}
TEST_PACKAGES = {
    "pytest",
    "respx",
    "responses",
    "selenium",
    "hypothesis",
    "schemathesis",
    "coverage",
    "mypy",
    "ruff",
    "faker",
    "freezegun",
    "trio",
    "playwright",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), line
            values[key] = value
    return values


def interpolated(text: str) -> set[str]:
    """Variables compose substitutes: ${VAR}, ${VAR:-x}, ${VAR:?x}, $VAR; `$$` is a literal dollar."""
    text = text.replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)) | set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))


def locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            assert re.fullmatch(r"[A-Za-z0-9._\[\],-]+==[A-Za-z0-9.+!-]+", line), (
                f"{name}: {line} no está fijado con =="
            )
            package, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", package.split("[")[0]).lower()] = version
    return pins


# --- docker-compose.yml ----------------------------------------------------------------------------


def test_compose_names_the_office_services_and_only_openldap_is_optional():
    services = compose()["services"]
    assert set(services) == SERVICES
    assert services["openldap"]["profiles"] == ["openldap"]
    assert all("profiles" not in s for name, s in services.items() if name != "openldap")


def test_every_service_has_a_health_check():
    for name, service in compose()["services"].items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_health_checks_are_the_official_ones():
    services = compose()["services"]
    joined = {name: " ".join(s["healthcheck"]["test"]) for name, s in services.items()}
    assert "pg_isready" in joined["postgres"] and "redis-cli ping" in joined["redis"]
    assert "/api/v2/monitor/health" in joined["api-server"]
    assert "localhost:8974/health" in joined["scheduler"]
    assert "--job-type DagProcessorJob" in joined["dag-processor"]
    assert "--job-type TriggererJob" in joined["triggerer"]
    assert "inspect ping" in joined["worker"] and "celery@$${HOSTNAME}" in joined["worker"]
    # The scheduler's health server only exists when enabled.
    assert compose()["x-airflow-common"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


def test_two_triggerers_scalable_workers_and_only_the_api_server_on_the_host():
    services = compose()["services"]
    assert services["triggerer"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: un nombre fijo impide --scale"
        if name != "api-server":
            assert "ports" not in service, f"{name} publica puertos en el host"
    assert "replicas" not in services["worker"].get("deploy", {})
    assert services["worker"]["command"] == "celery worker"
    assert services["api-server"]["ports"] == ["127.0.0.1:${CVP_PORT:-8080}:8080"]


def test_every_airflow_service_shares_one_configuration_on_celery():
    doc = compose()
    common = doc["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["AIRFLOW__CELERY__BROKER_URL"] == "redis://${CVP_REDIS_HOST:-redis}:6379/0"
    assert common["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://${CVP_API_HOST:-api-server}:8080/execution/"
    assert "@${CVP_POSTGRES_HOST:-postgres}:5432/airflow" in common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert common["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")
    assert common["AIRFLOW__FAB__CONFIG_FILE"] == "/opt/cvp/include/config/webserver_config.py"
    assert (ROOT / "include/config/webserver_config.py").is_file()
    assert common["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert common["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert common["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "America/Bogota"
    assert common["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"  # the channels' connection forms test their tokens
    assert '"conn_type": "postgres"' in common["AIRFLOW_CONN_CVP_RECORDS"]
    assert common["CVP_RECORDS_URL"].startswith("postgresql+psycopg2://cvp:")
    assert common["CVP_STORAGE_URL"] == "${CVP_STORAGE_URL:-file:///opt/airflow/cvp-archivo}"
    assert "cvp-archivo:/opt/airflow/cvp-archivo" in doc["x-airflow-common"]["volumes"]
    # Only these additions on top of the common block: the first admin (init), warm shutdown (worker).
    allowed_extra = {
        "init": {
            "CVP_RECORDS_OWNER_PASSWORD",
            "_AIRFLOW_WWW_USER_USERNAME",
            "_AIRFLOW_WWW_USER_PASSWORD",
            "_AIRFLOW_WWW_USER_EMAIL",
        },
        "worker": {"DUMB_INIT_SETSID"},
    }
    for name in AIRFLOW_SERVICES:
        service = doc["services"][name]
        assert service["image"] == doc["x-airflow-common"]["image"], name
        env = service["environment"]
        assert {k: env[k] for k in common} == common, name
        assert set(env) - set(common) == allowed_extra.get(name, set()), name
        assert service["volumes"] == doc["x-airflow-common"]["volumes"], name


def test_start_order_waits_for_the_databases_and_for_init():
    services = compose()["services"]
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}, name
        assert deps["redis"] == {"condition": "service_healthy"}, name
        if name != "init":
            assert deps["init"] == {"condition": "service_completed_successfully"}, name
    assert services["worker"]["depends_on"]["api-server"] == {"condition": "service_healthy"}
    assert services["init"]["restart"] == "no"
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services and "profiles" not in services[target], (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
    # No cycle: a topological order exists.
    pending = {n: set(s.get("depends_on") or {}) for n, s in services.items()}
    while pending:
        ready = [n for n, deps in pending.items() if not deps & set(pending)]
        assert ready, f"dependencias circulares: {pending}"
        for n in ready:
            del pending[n]


def test_every_variable_the_compose_reads_is_in_env_example_and_none_is_left_over():
    used = interpolated((ROOT / "docker-compose.yml").read_text())
    defined = set(env_example())
    assert used - defined == set(), "faltan en .env.example"
    assert defined - used == set(), "en .env.example sin uso en docker-compose.yml"


def test_no_credential_is_written_in_the_compose_or_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    doc = compose()
    environments = [doc["x-airflow-common"]["environment"]] + [
        s.get("environment") or {} for s in doc["services"].values()
    ]
    for env in environments:
        for key, value in env.items():
            if SECRET_NAME.search(key):
                # A reference to .env with no default, or an empty default for optional ones.
                assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:\?[^}]*|:-)?\}", str(value)), (key, value)
    # Passwords inside URLs and JSON connections are references too.
    for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text) + re.findall(r'"password": "([^"]*)"', text):
        assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}", password), password
    # The required secrets stop compose with a message instead of starting with an empty value.
    for name in (
        "POSTGRES_PASSWORD",
        "CVP_RECORDS_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_API_SECRET_KEY",
    ):
        assert re.search(r"\$\{%s:\?" % name, text), name
    for key, value in env_example().items():
        if SECRET_NAME.search(key) or key.startswith("AIRFLOW_CONN_"):
            assert value == "", f".env.example trae un valor para {key}"


def test_postgres_creates_the_records_database_with_its_own_role():
    postgres = compose()["services"]["postgres"]
    source, target, _ = postgres["volumes"][1].split(":")
    assert target.startswith("/docker-entrypoint-initdb.d/") and (ROOT / source).is_file()
    sql = (ROOT / source).read_text()
    assert "\\getenv cvp_records_password CVP_RECORDS_PASSWORD" in sql
    assert "CREATE ROLE cvp LOGIN" in sql and "CREATE DATABASE cvp OWNER cvp" in sql
    assert postgres["environment"]["CVP_RECORDS_PASSWORD"].startswith("${CVP_RECORDS_PASSWORD:?")


def test_init_runs_the_script_the_image_carries():
    init = compose()["services"]["init"]
    script = init["command"][-1]
    assert script == "/opt/cvp/docker/airflow-init.sh"
    copies = [line.split()[1:] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert ["docker/airflow-init.sh", script] in copies
    text = (ROOT / "docker/airflow-init.sh").read_text()
    for step in (
        "airflow db migrate",
        "airflow fab-db migrate",
        "python -m cvp db",
        "airflow sync-perm",
        "airflow users create --role Admin",
    ):
        assert step in text, step
    subprocess.run(["bash", "-n", str(ROOT / "docker/airflow-init.sh")], check=True)


# --- Dockerfile and locks ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_extends_the_official_image_with_the_runtime_lock_only():
    instructions = dockerfile_instructions()
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11" in instructions
    # Each install command on its own (a RUN may chain several with &&).
    installs = [
        part.strip() for i in instructions for part in i.split("&&") if re.search(r"\b(pip|uv pip) install\b", part)
    ]
    requirement_files = {f for i in installs for f in re.findall(r"(?<!\S)-r\s+(\S+)", i)}
    assert {Path(f).name for f in requirement_files} == {"requirements.txt"}
    assert "requirements-test" not in (ROOT / "Dockerfile").read_text()
    assert any('"apache-airflow==${AIRFLOW_VERSION}"' in i and "uv pip install" in i for i in installs)
    assert any("--no-deps" in i and "cvp" in i for i in installs)
    # Nothing else is named for installation besides the lock, Airflow's pin and the project.
    for install in installs:
        words = shlex.split(install.split("install", 1)[1])
        named = [w for w in words if not w.startswith("-") and "/" not in w and not w.endswith(".txt")]
        assert all(w.startswith("apache-airflow==") or w.startswith("$(grep") for w in named), install


def test_dockerfile_copies_what_exists_and_the_build_context_lets_it_in():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[1:2] == ["*"] or "*" in ignore
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    for instruction in dockerfile_instructions():
        if instruction.startswith("COPY ") and "--from=" not in instruction:
            sources = [w for w in instruction.split()[1:-1] if not w.startswith("--")]
            for src in sources:
                assert (ROOT / src).exists(), src
                assert any(src == a or src.startswith(a + "/") for a in allowed), f"{src} excluido por .dockerignore"


def test_image_data_folders_belong_to_the_airflow_user():
    instructions = dockerfile_instructions()
    chown = next(i for i in instructions if "chown" in i)
    assert "50000:0" in chown and "/opt/airflow/cvp-archivo" in chown and "/opt/airflow/cvp " in chown
    assert instructions[-1].startswith("ENV ") or any(i.startswith("USER airflow") for i in instructions)
    users = [i for i in instructions if i.startswith("USER ")]
    assert users[-1] == "USER airflow", "la imagen final debe correr como airflow"


def test_python_ldap_is_built_outside_the_final_image():
    instructions = dockerfile_instructions()
    stages = [i for i in instructions if i.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS ldap-wheel")
    final = instructions[instructions.index(stages[1]) :]
    assert not any("build-essential" in i or "libldap2-dev" in i for i in final)
    assert "python-ldap" in locked("requirements.txt")


def test_runtime_lock_is_pinned_and_holds_no_test_package():
    pins = locked("requirements.txt")
    assert pins["apache-airflow"] == "3.3.2"
    for provider in (
        "apache-airflow-providers-celery",
        "apache-airflow-providers-redis",
        "apache-airflow-providers-fab",
        "python-ldap",
        "psycopg2-binary",
    ):
        assert provider in pins, provider
    assert TEST_PACKAGES.isdisjoint(pins) and not any(p.startswith("pytest") for p in pins), sorted(
        TEST_PACKAGES & set(pins)
    )


def test_test_lock_is_pinned_and_agrees_with_the_runtime_lock():
    runtime, test = locked("requirements.txt"), locked("requirements-test.txt")
    assert "pytest" in test and "selenium" in test
    disagree = {p: (runtime[p], v) for p, v in test.items() if p in runtime and runtime[p] != v}
    assert disagree == {}


# --- The try-out directory (profile openldap) ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ldap(*args: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run([args[0], "-x", "-H", url, *args[1:]], capture_output=True, text=True, timeout=20)


def _start_openldap(tmp_path: Path, port: int, env: dict) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"openldap-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        ["bash", str(ROOT / "docker/openldap/entrypoint.sh")], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    url = f"ldap://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "Sirviendo" in log.read_text() and _ldap("ldapsearch", "-b", "", "-s", "base", url=url).returncode == 0:
            return proc, log
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(log.read_text())


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(
    not (shutil.which("slapd") or Path("/usr/sbin/slapd").exists()) or not shutil.which("ldapsearch"),
    reason="slapd y ldap-utils no están instalados",
)
def test_openldap_profile_serves_the_example_team_with_groups_and_passwords(tmp_path):
    """The openldap service's entrypoint, run against Debian's slapd on 127.0.0.1: first start
    configures and seeds include/ldap, the service account and each person can bind, memberOf is
    filled in, and a restart serves the same directory without seeding it again."""
    service = compose()["services"]["openldap"]
    assert "./include/ldap:/seed:ro" in service["volumes"]
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    import os

    env = {
        "PATH": os.environ.get("PATH", "") + ":/usr/sbin",
        "LDAP_BASE_DN": service["environment"]["LDAP_BASE_DN"],
        "LDAP_ADMIN_PASSWORD": "admin-de-prueba",
        "LDAP_READONLY_PASSWORD": "lectura-de-prueba",
        "LDAP_STATE_DIR": str(tmp_path / "state"),
        "LDAP_SEED_DIR": str(ROOT / "include/ldap"),
        "LDAP_LISTEN_URL": url,
    }
    base = "dc=cvp,dc=gov,dc=co"
    proc, log = _start_openldap(tmp_path, port, env)
    try:
        # The compose health check's own query.
        check = service["healthcheck"]["test"][1].replace("ldap://127.0.0.1", url).replace(">/dev/null", "")
        assert subprocess.run(check, shell=True, capture_output=True, text=True).returncode == 0
        found = _ldap(
            "ldapsearch",
            "-D",
            f"cn=readonly,{base}",
            "-w",
            "lectura-de-prueba",
            "-b",
            base,
            "-LLL",
            "(uid=jefe)",
            "memberOf",
            url=url,
        )
        assert found.returncode == 0, found.stderr
        assert f"memberOf: cn=jefes,ou=grupos,{base}" in found.stdout
        passwords = dict(re.findall(r"Contraseña inicial de (\S+): (\S+)", log.read_text()))
        jefe = f"uid=jefe,ou=personas,{base}"
        assert jefe in passwords and len(passwords) == 5
        assert _ldap("ldapwhoami", "-D", jefe, "-w", passwords[jefe], url=url).returncode == 0
        assert _ldap("ldapwhoami", "-D", jefe, "-w", "otra", url=url).returncode != 0
        # Nobody reads password hashes anonymously.
        anon = _ldap("ldapsearch", "-b", base, "-LLL", "(uid=jefe)", "userPassword", url=url)
        assert "userPassword" not in anon.stdout
    finally:
        _stop(proc)
    proc, log = _start_openldap(tmp_path, port, env)
    try:
        assert "Primer arranque" not in log.read_text()
        assert _ldap("ldapwhoami", "-D", jefe, "-w", passwords[jefe], url=url).returncode == 0
    finally:
        _stop(proc)
