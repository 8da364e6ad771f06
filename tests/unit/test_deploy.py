"""The deployment files (docker-compose.yml, .env.example, Dockerfile, the locks) read as data.

There is no Docker engine where the tests run, so the compose file is checked for what would make
`docker compose up` fail or run something other than intended: the services and their health checks,
the order they start in, every variable it reads present in .env.example, no credential written in it,
one Airflow configuration for every Airflow service, and an image that holds no test tool.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from cvp.team import Member, Team

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
SECRETS_VOLUME = "cvp-secretos:/opt/airflow/secretos"


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
        # init alone adds the secrets volume, where it keeps the team's initial passwords.
        extra_volumes = [SECRETS_VOLUME] if name == "init" else []
        assert service["volumes"] == doc["x-airflow-common"]["volumes"] + extra_volumes, name


def test_only_init_mounts_the_secrets_volume():
    doc = compose()
    volume = SECRETS_VOLUME.split(":")[0]
    assert volume in doc["volumes"]
    mounting = {
        name for name, s in doc["services"].items() if any(v.split(":")[0] == volume for v in s.get("volumes") or [])
    }
    assert mounting == {"init"}
    assert not any(v.split(":")[0] == volume for v in doc["x-airflow-common"]["volumes"])
    # The folder the volume starts from (its ownership and mode are copied into a new named volume):
    # the airflow user's alone.
    instructions = dockerfile_instructions()
    target = SECRETS_VOLUME.split(":")[1]
    setup = next(i for i in instructions if target in i)
    assert "mkdir -p" in setup and re.search(rf"chown -R 50000:0 [^&]*{re.escape(target)}", setup)
    assert f"chmod 0700 {target}" in setup


def test_max_active_needs_defaults_to_a_districts_hundreds():
    common = compose()["x-airflow-common"]["environment"]
    assert common["CVP_MAX_ACTIVE_NEEDS"] == "${CVP_MAX_ACTIVE_NEEDS:-500}"
    assert env_example()["CVP_MAX_ACTIVE_NEEDS"] == "500"
    # The DAG's own fallback (no variable, or a bad one) is the same number.
    dag = (ROOT / "dags/necesidad_comunicacion.py").read_text()
    assert re.search(r"^DEFAULT_MAX_ACTIVE_NEEDS = (\d+)", dag, re.M).group(1) == "500"


def test_where_waits_end_is_a_deployment_setting_defaulting_to_auto():
    common = compose()["x-airflow-common"]["environment"]
    assert common["CVP_WAITS_END_IN_TRIGGERER"] == "${CVP_WAITS_END_IN_TRIGGERER:-auto}"
    assert env_example()["CVP_WAITS_END_IN_TRIGGERER"] == "auto"
    # The name the sensors read, and "auto" is not one of their "no" values.
    sensors = (ROOT / "plugins/cvp_airflow/sensors.py").read_text()
    assert 'END_IN_TRIGGERER_SETTING = "CVP_WAITS_END_IN_TRIGGERER"' in sensors
    no_values = ast.literal_eval(re.search(r"^_NO = (\(.*\))$", sensors, re.M).group(1))
    assert "no" in no_values and "auto" not in no_values


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
    assert ["docker/crear_equipo.py", "/opt/cvp/docker/crear_equipo.py"] in copies
    text = (ROOT / "docker/airflow-init.sh").read_text()
    for step in (
        "airflow db migrate",
        "airflow fab-db migrate",
        "python -m cvp db",
        "airflow sync-perm",
        "airflow users create --role Admin",
        'python /opt/cvp/docker/crear_equipo.py "$CVP_TEAM_FILE" "$SECRETS_FILE"',
    ):
        assert step in text, step
    # The team's passwords go to a file on the volume only init mounts.
    secrets_file = re.search(r"^SECRETS_FILE=(\S+)$", text, re.M).group(1)
    assert Path(secrets_file).parent == Path(SECRETS_VOLUME.split(":")[1])
    subprocess.run(["bash", "-n", str(ROOT / "docker/airflow-init.sh")], check=True)


# --- The team's initial passwords (docker/crear_equipo.py) --------------------------------------------


def _crear_equipo() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("crear_equipo", ROOT / "docker/crear_equipo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeSecurityManager:
    """FAB's security manager as crear_equipo.py uses it, with the users in a dict."""

    def __init__(self, existing: tuple[str, ...] = ()):
        self.users = {name: {"password": None} for name in existing}
        self.added: list[str] = []

    def find_user(self, username=None, email=None):
        return self.users.get(username)

    def find_role(self, name):
        return types.SimpleNamespace(name=name)

    def add_user(self, username, first_name, last_name, email, role, password):
        if any(u.get("email") == email for u in self.users.values()):
            return None
        self.users[username] = {"email": email, "role": role.name, "password": password}
        self.added.append(username)
        return self.users[username]


def _kept(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return dict(line.rsplit(": ", 1) for line in lines)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _team() -> Team:
    return Team.load(ROOT / "include/config/equipo.yml")


def test_init_keeps_the_teams_passwords_in_a_0600_file_and_never_prints_them(tmp_path, capsys):
    module = _crear_equipo()
    secrets_file = tmp_path / "secretos" / "contrasenas-iniciales.txt"
    sm = FakeSecurityManager(existing=("admin",))  # the first administrator, created from .env
    created = module.create_team(sm, _team(), secrets_file)
    out = capsys.readouterr()
    assert created == ["jefe", "profesional", "tecnico", "lector"] == sm.added
    # The head opens needs (Airflow's User role); the others act through the forms (Viewer).
    assert sm.users["jefe"]["role"] == "User" and sm.users["tecnico"]["role"] == "Viewer"
    kept = _kept(secrets_file)
    assert kept == {name: sm.users[name]["password"] for name in created}
    assert all(len(p) >= 16 for p in kept.values()) and len(set(kept.values())) == len(kept)
    assert _mode(secrets_file) == 0o600 and secrets_file.stat().st_uid == os.getuid()
    for password in kept.values():
        assert password not in out.out + out.err
    # What the log says instead: who was created, where the file is and how to read it.
    assert "Usuario «jefe» creado (rol de Airflow User)" in out.out
    assert f"docker compose run --rm --no-deps --entrypoint cat init {secrets_file}" in out.out


def test_running_init_again_neither_rotates_nor_reveals_a_password(tmp_path, capsys):
    module = _crear_equipo()
    secrets_file = tmp_path / "contrasenas-iniciales.txt"
    sm = FakeSecurityManager(existing=("admin",))
    module.create_team(sm, _team(), secrets_file)
    before = secrets_file.read_bytes()
    passwords = {name: user["password"] for name, user in sm.users.items()}
    capsys.readouterr()

    assert module.create_team(sm, _team(), secrets_file) == []
    out = capsys.readouterr().out
    assert secrets_file.read_bytes() == before
    assert {name: user["password"] for name, user in sm.users.items()} == passwords
    assert "no se creó ni se cambió ninguna contraseña" in out
    assert not any(p and p in out for p in passwords.values())

    # A person added to the team later: only that one is created and appended; the rest stay.
    team = _team()
    team = Team({**team.members, "disenadora": Member("disenadora", "tecnico", "Diseñadora OAC", "d@cvp.invalid")})
    secrets_file.chmod(0o644)  # a file someone loosened: written again, it is 0600
    assert module.create_team(sm, team, secrets_file) == ["disenadora"]
    assert secrets_file.read_bytes().startswith(before)
    assert _kept(secrets_file)["disenadora"] == sm.users["disenadora"]["password"]
    assert _mode(secrets_file) == 0o600
    assert sm.users["disenadora"]["password"] not in capsys.readouterr().out


def test_init_creates_nobody_whose_password_it_cannot_keep(tmp_path, capsys):
    module = _crear_equipo()
    blocker = tmp_path / "no-es-carpeta"
    blocker.write_text("")
    sm = FakeSecurityManager()
    with pytest.raises(SystemExit, match="No se pudo escribir el archivo de contraseñas iniciales"):
        module.create_team(sm, _team(), blocker / "contrasenas-iniciales.txt")
    assert sm.added == []


def test_init_stops_on_a_user_fab_refuses_and_keeps_the_ones_created(tmp_path):
    module = _crear_equipo()
    secrets_file = tmp_path / "contrasenas-iniciales.txt"
    team = Team({n: Member(n, "lector", n, "mismo@cvp.invalid") for n in ("uno", "dos")})
    sm = FakeSecurityManager()
    with pytest.raises(SystemExit, match="No se pudo crear el usuario «dos»") as stop:
        module.create_team(sm, team, secrets_file)
    assert sm.users["uno"]["password"] not in str(stop.value)
    assert _kept(secrets_file) == {"uno": sm.users["uno"]["password"]}


def test_the_script_reads_the_team_file_and_uses_fabs_security_manager(tmp_path, monkeypatch, capsys):
    """main() as airflow-init.sh calls it, with FAB's application builder replaced by the fake."""
    module = _crear_equipo()
    sm = FakeSecurityManager(existing=("admin",))

    class Builder:
        def __enter__(self):
            return types.SimpleNamespace(sm=sm)

        def __exit__(self, *exc):
            return False

    utils = types.ModuleType("airflow.providers.fab.auth_manager.cli_commands.utils")
    utils.get_application_builder = Builder
    monkeypatch.setitem(sys.modules, utils.__name__, utils)
    secrets_file = tmp_path / "contrasenas-iniciales.txt"
    module.main([str(ROOT / "include/config/equipo.yml"), str(secrets_file)])
    assert set(_kept(secrets_file)) == {"jefe", "profesional", "tecnico", "lector"}
    with pytest.raises(SystemExit, match="Uso: crear_equipo.py"):
        module.main([])


def test_readme_and_env_example_say_where_the_initial_passwords_are_not_the_logs():
    init = (ROOT / "docker/airflow-init.sh").read_text()
    secrets_file = re.search(r"^SECRETS_FILE=(\S+)$", init, re.M).group(1)
    read = _crear_equipo().READ_COMMAND.format(path=secrets_file)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    deployment = readme[readme.index("## Despliegue") :]
    deployment = deployment[: deployment.index("\n## ")]
    assert read in deployment and read in (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "contraseñas iniciales" not in " ".join(re.findall(r"docker compose logs \S+.*", deployment))
    # The try-out directory's file: in its data volume, under the name the entrypoint writes.
    ldap = (ROOT / "docker/openldap/entrypoint.sh").read_text()
    name = re.search(r'^SECRETS_FILE="\$STATE_DIR/(\S+)"$', ldap, re.M).group(1)
    volume = next(v for v in compose()["services"]["openldap"]["volumes"] if v.startswith("openldap-data:"))
    assert f"exec openldap cat {volume.split(':')[1]}/{name}" in deployment
    assert "logs openldap" not in deployment


# A line that writes to the output (shell: echo, printf, say; Python: print, a log call, SystemExit)
# and names a password. A shell line that redirects into a file named by a variable writes that file.
_SHELL_PRINT = re.compile(r"\b(echo|printf|say)\b")
_SHELL_SECRET = re.compile(r"\$\{?[A-Za-z_]*(?i:pass|contrase)[A-Za-z_]*")
_SHELL_TO_FILE = re.compile(r'>>?\s*"?\$\{?[A-Za-z_]+')
_PY_SECRET = re.compile(r"pass|contrase", re.I)
_PY_OUTPUT = {"print", "SystemExit", "say", "report", "info", "warning", "error", "debug", "exception", "critical"}


def _shell_lines_printing_a_password(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        and _SHELL_PRINT.search(line)
        and _SHELL_SECRET.search(line)
        and not _SHELL_TO_FILE.search(line)
    ]


def _python_lines_printing_a_password(text: str) -> list[int]:
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        stream = isinstance(func, ast.Attribute) and ast.unparse(func) in ("sys.stdout.write", "sys.stderr.write")
        if name not in _PY_OUTPUT and not stream:
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            names = [n.id for n in ast.walk(arg) if isinstance(n, ast.Name)]
            names += [n.attr for n in ast.walk(arg) if isinstance(n, ast.Attribute)]
            if any(_PY_SECRET.search(n) for n in names):
                found.append(node.lineno)
    return found


def test_the_password_detector_catches_what_the_scripts_used_to_print():
    assert _shell_lines_printing_a_password('    say "Contraseña inicial de ${dn}: ${password}"')
    assert _shell_lines_printing_a_password('echo "admin: $_AIRFLOW_WWW_USER_PASSWORD"')
    assert not _shell_lines_printing_a_password('    printf \'%s: %s\\n\' "$dn" "$password" >>"$SECRETS_FILE"')
    assert not _shell_lines_printing_a_password('  say "Falta LDAP_ADMIN_PASSWORD (archivo .env)." >&2')
    assert _python_lines_printing_a_password(
        'print(f"[init] Usuario «{username}» creado, contraseña inicial: {password}")'
    )
    assert _python_lines_printing_a_password("log.info('%s', user.password)")
    assert not _python_lines_printing_a_password('print(f"contraseñas en {secrets_path}")')
    assert _python_lines_printing_a_password('report(f"{username}: {password}")')
    assert not _python_lines_printing_a_password("kept.keep(username, password)")
    # The old init script's embedded Python, found in its heredoc.
    old_init = "python - <<'PY'\nprint(f\"contraseña inicial: {password}\")\nPY\n"
    snippets = re.findall(r"<<-?'?(PY\w*)'?\n(.*?)\n\1$", old_init, re.S | re.M)
    assert [_python_lines_printing_a_password(s[1]) for s in snippets] == [[1]]


def test_no_deployment_script_prints_a_password():
    scripts = sorted((ROOT / "docker").rglob("*.sh")) + sorted((ROOT / "docker").rglob("*.py"))
    assert {p.name for p in scripts} >= {"airflow-init.sh", "entrypoint.sh", "crear_equipo.py"}
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".sh":
            assert _shell_lines_printing_a_password(text) == [], path
            # Python embedded in a script (a heredoc ending in PY…) is Python.
            for snippet in re.findall(r"<<-?'?(PY\w*)'?\n(.*?)\n\1$", text, re.S | re.M):
                assert _python_lines_printing_a_password(snippet[1]) == [], path
        else:
            assert _python_lines_printing_a_password(text) == [], path


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
    configures and seeds include/ldap, the service account and each person can bind with the password
    kept in a 0600 file of the data volume (never in the log), memberOf is filled in, and a restart
    serves the same directory without seeding it again or touching the passwords."""
    service = compose()["services"]["openldap"]
    assert "./include/ldap:/seed:ro" in service["volumes"]
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
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
        secrets_file = tmp_path / "state" / "contrasenas-iniciales.txt"
        assert _mode(secrets_file) == 0o600 and secrets_file.stat().st_uid == os.getuid()
        passwords = _kept(secrets_file)
        jefe = f"uid=jefe,ou=personas,{base}"
        assert jefe in passwords and len(passwords) == 5
        assert all(len(p) == 16 for p in passwords.values())
        # The log says where the passwords are and how to read them, and shows none of them.
        output = log.read_text()
        assert f"cat {secrets_file}" in output
        assert not any(p in output for p in passwords.values())
        assert "admin-de-prueba" not in output and "lectura-de-prueba" not in output
        for dn, password in passwords.items():
            assert _ldap("ldapwhoami", "-D", dn, "-w", password, url=url).returncode == 0, dn
        assert _ldap("ldapwhoami", "-D", jefe, "-w", passwords[jefe], url=url).returncode == 0
        assert _ldap("ldapwhoami", "-D", jefe, "-w", "otra", url=url).returncode != 0
        # Nobody reads password hashes anonymously.
        anon = _ldap("ldapsearch", "-b", base, "-LLL", "(uid=jefe)", "userPassword", url=url)
        assert "userPassword" not in anon.stdout
    finally:
        _stop(proc)
    kept = secrets_file.read_bytes()
    proc, log = _start_openldap(tmp_path, port, env)
    try:
        assert "Primer arranque" not in log.read_text()
        assert _ldap("ldapwhoami", "-D", jefe, "-w", passwords[jefe], url=url).returncode == 0
        assert secrets_file.read_bytes() == kept and _mode(secrets_file) == 0o600
    finally:
        _stop(proc)
