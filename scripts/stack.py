"""Start and stop the embedded Airflow stack (scheduler, dag-processor, triggerer, api-server on SQLite).

Used by `./dev up` and by the integration tests, so both run the product the same way. Each component
is its own process, started here and stopped by PID (`airflow standalone` orphans its children).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
# The embedded default's components (benchmarks measure these).
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
# Airflow roles of the embedded users: only the head triggers runs; the professional and the technician
# act through the /cvp forms, so Airflow itself refuses them a trigger or a change of a run.
USERS = {"jefe": "user", "profesional": "viewer", "tecnico": "viewer", "lector": "viewer", "admin": "admin"}


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass
class Stack:
    """One Airflow deployment made of real processes on loopback.

    The embedded default (``./dev up``): SQLite, LocalExecutor, SimpleAuthManager, one triggerer.
    The office's deployment, as ``docker-compose.yml`` runs it: PostgreSQL (``metadata_url``,
    ``records_url``), CeleryExecutor on Redis (``broker_url``) with ``workers`` Celery workers, each in
    its own AIRFLOW_HOME and working directory (a host of its own as far as files go), ``triggerers``
    triggerers, the files under ``storage_url``, and the FAB auth manager (``auth="fab"``) whose
    directory settings come in ``extra_env``.
    """

    home: Path
    port: int = 8080
    log_port: int = 8793
    trigger_log_port: int = 8794
    parallelism: int = 4
    dags_folder: Path = ROOT / "dags"
    executor: str = "LocalExecutor"
    metadata_url: str | None = None
    records_db_url: str | None = None
    broker_url: str | None = None
    storage_url: str | None = None
    auth: str = "simple"
    triggerers: int = 1
    workers: int = 0
    queue: str = "default"
    extra_env: dict = field(default_factory=dict)
    # With auth="fab": each user's password in the directory, for the REST clients (never in the components).
    directory_passwords: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "cvp"

    @property
    def records_url(self) -> str:
        return self.records_db_url or f"sqlite:///{self.data_dir / 'registros.db'}"

    @property
    def components(self) -> list[str]:
        triggerers = (
            ["triggerer"] if self.triggerers == 1 else [f"triggerer-{i}" for i in range(1, self.triggerers + 1)]
        )
        workers = [f"worker-{i}" for i in range(1, self.workers + 1)]
        return ["scheduler", "dag-processor", *triggerers, "api-server", *workers]

    def worker_home(self, component: str) -> Path:
        """A Celery worker's own AIRFLOW_HOME: nothing in it is seen by any other component."""
        return self.home / "hosts" / component

    def _records_conn(self) -> str:
        url = make_url(self.records_url)
        if url.drivername.startswith("sqlite"):
            return json.dumps({"conn_type": "sqlite", "host": url.database})
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": url.host or "127.0.0.1",
                "port": url.port or 5432,
                "login": url.username or "",
                "password": url.password or "",
                "schema": url.database,
            }
        )

    def env(self, base: dict | None = None, component: str | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        secret_file = self.home / "jwt_secret"
        if not secret_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            _write_secret(secret_file, secrets.token_urlsafe(64))
        home, data_dir = self.home, self.data_dir
        if component and component.startswith("worker-"):
            home = self.worker_home(component)
            data_dir = home / "cvp"
        storage = self.storage_url or f"file://{self.data_dir}"
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__DEFAULT_TIMEZONE": "America/Bogota",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER if self.auth == "fab" else SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url or f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                # Each waiting need is one trigger: room for a district's worth (Airflow's default is 1,000).
                "AIRFLOW__TRIGGERER__CAPACITY": "10000",
                "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
                "AIRFLOW_CONN_CVP_RECORDS": self._records_conn(),
                "CVP_DATA_DIR": str(data_dir),
                "CVP_RECORDS_URL": self.records_url,
                "CVP_STORAGE_URL": storage,
                "CVP_BASE_URL": self.base_url,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "plugins"), env.get("PYTHONPATH", "")])),
            }
        )
        if self.metadata_url is None:
            # SQLite: wait for the write lock instead of answering 500 (see plugins/cvp_airflow/sqlite_db.py).
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "cvp_airflow.sqlite_db.CONNECT_ARGS"
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"] = "cvp_airflow.sqlite_db.ASYNC_CONNECT_ARGS"
        if self.auth == "simple":
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, r in USERS.items())
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.passwords_file)
        else:
            env["AIRFLOW__FAB__CONFIG_FILE"] = str(ROOT / "include" / "config" / "webserver_config.py")
        if self.executor == "CeleryExecutor":
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url or "redis://127.0.0.1:6379/0"
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + (self.metadata_url or "")
            env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] = self.queue
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "2"
        env.update(self.extra_env)
        return env

    # --- lifecycle --------------------------------------------------------------------------------

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), env=self.env(), check=True, cwd=ROOT)

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def setup(self) -> None:
        """Create Airflow's metadata and the records schema (both idempotent), and the users' passwords."""
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        if self.auth == "simple":
            self._ensure_passwords()
        self._run(str(VENV_BIN / "airflow"), "db", "migrate")
        if self.auth == "fab":
            self._run(str(VENV_BIN / "airflow"), "fab-db", "migrate")
        self._run(str(VENV_BIN / "python"), "-m", "cvp", "db")

    def _ensure_passwords(self) -> None:
        """Write the users' passwords ourselves (0600): Airflow would print generated ones into its log."""
        current = self.passwords()
        missing = {u: secrets.token_urlsafe(12) for u in USERS if u not in current}
        if missing or (self.passwords_file.exists() and self.passwords_file.stat().st_mode & 0o077):
            _write_secret(self.passwords_file, json.dumps({**current, **missing}) + "\n")

    def pidfile(self, component: str) -> Path:
        return self.home / "run" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def command(self, component: str) -> list[str]:
        airflow = str(VENV_BIN / "airflow")
        if component.startswith("worker-"):
            # Each worker is named apart; it serves no logs on the network (they stay in its own home).
            return [
                airflow,
                "celery",
                "worker",
                "--skip-serve-logs",
                "--queues",
                self.queue,
                "--celery-hostname",
                f"{component}@cvp-{self.port}",
            ]
        base = component.split("-")[0] if component.startswith("triggerer") else component
        # Airflow's log servers bind every interface and cannot be told otherwise; on one machine
        # the api-server reads the task logs from the shared folder, so they are not started.
        extra = ["--skip-serve-logs"] if base in ("scheduler", "triggerer") else []
        return [airflow, base, *extra]

    def start(self) -> None:
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        os.chmod(self.home / "logs", 0o700)
        for component in self.components:
            if self._alive(component):
                continue
            env = self.env(component=component)
            cwd = ROOT
            if component.startswith("worker-"):
                cwd = self.worker_home(component)
                cwd.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.log_file(component), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as log:
                proc = subprocess.Popen(
                    self.command(component),
                    env=env,
                    cwd=cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.pidfile(component).write_text(str(proc.pid))

    def _alive(self, component: str) -> bool:
        try:
            pid = int(self.pidfile(component).read_text())
            os.kill(pid, 0)
            return True
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False

    def kill(self, component: str, sig: int = signal.SIGKILL) -> None:
        """Kill one component's process group at once (fault tests)."""
        pid = int(self.pidfile(component).read_text())
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        self.pidfile(component).unlink(missing_ok=True)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each component's process group, then SIGKILL what is left (workers ignore SIGTERM)."""
        pgids = []
        known = set(self.components) | {p.stem for p in (self.home / "run").glob("*.pid")}
        for component in known:
            try:
                pid = int(self.pidfile(component).read_text())
            except (FileNotFoundError, ValueError):
                continue
            try:
                os.killpg(pid, signal.SIGTERM)
                pgids.append(pid)
            except ProcessLookupError:
                pass
            self.pidfile(component).unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        while pgids and time.monotonic() < deadline:
            pgids = [g for g in pgids if _group_alive(g)]
            time.sleep(0.3)
        for g in pgids:
            try:
                os.killpg(g, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait until the api-server answers and every component reports healthy."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for component in self.components:
                if not self._alive(component):
                    raise RuntimeError(f"{component} terminó; vea {self.log_file(component)}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=3) as r:
                    health = json.load(r)
                states = {k: (v or {}).get("status") for k, v in health.items()}
                if all(states.get(k) == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    return
                last = str(states)
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
                last = str(exc)
            time.sleep(1)
        raise TimeoutError(f"Airflow no quedó listo en {timeout:.0f} s: {last}")

    def passwords(self) -> dict[str, str]:
        path = self.passwords_file
        return json.loads(path.read_text()) if path.exists() else {}

    def credentials(self) -> dict[str, str]:
        """Each user's password: the directory's (``directory_passwords``) or SimpleAuthManager's."""
        return dict(self.directory_passwords) if self.auth == "fab" else self.passwords()


def _write_secret(path: Path, content: str) -> None:
    """Write a secret file readable by its owner only, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.replace(tmp, path)


class StackApi:
    """A small client of the stack's REST API, logged in as one of its users (tests and benchmarks)."""

    def __init__(self, stack: Stack, user: str):
        self.base = stack.base_url
        status, body = self.call(
            "POST", "/auth/token", {"username": user, "password": stack.credentials()[user]}, auth=False
        )
        if status >= 300:
            raise RuntimeError(f"token for {user}: {status} {body}")
        self.token = body["access_token"]

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        req = urllib.request.Request(
            self.base + path, method=method, data=json.dumps(body).encode() if body is not None else None
        )
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            # The embedded SQLite metadata waits up to 30 s for its write lock (cvp_airflow.sqlite_db): a
            # client giving up at the same 30 s would turn a slow answer on a busy machine into a failure.
            with urllib.request.urlopen(req, timeout=75) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def trigger_dag(self, dag_id: str, run_id: str, conf: dict | None = None):
        return self.call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """Task instances by id (mapped ones as 'task_id[i]'); empty if the run is unknown."""
        status, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        if status != 200:
            return {}
        return {
            (t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"): t
            for t in body["task_instances"]
        }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def main(argv: list[str]) -> int:
    stack = Stack(
        Path(os.environ.get("CVP_AIRFLOW_HOME", ROOT / ".airflow")).resolve(),
        port=int(os.environ.get("CVP_PORT", "8080")),
    )
    cmd = argv[0] if argv else "up"
    if cmd == "up":
        stack.setup()
        stack.start()
        stack.wait_ready()
        pw = stack.passwords()
        print("\nLa plataforma de la OAC está en marcha.")
        print(f"  Airflow:     {stack.base_url}  (Disparar «Necesidad de comunicación (208-COM-Pr-04)»)")
        print(f"  Formularios: {stack.base_url}/cvp/")
        print("  Usuarios y contraseñas:")
        for user in USERS:
            print(
                f"    {user:<12} {pw.get(user, '(ver ' + str(stack.home) + '/simple_auth_manager_passwords.json.generated)')}"
            )
        print(f"  Correos (buzón local): {stack.data_dir / 'buzon'}")
        print(f"  Publicaciones sin conexión (bandeja local): {stack.data_dir / 'salida'}")
        print(f"  Registros: {stack.records_url}")
        print(f"  Bitácoras: {stack.home / 'logs'}    Detener: ./dev stop")
    elif cmd == "stop":
        stack.stop()
        print("Componentes detenidos.")
    elif cmd == "token":
        # A token of Airflow's REST API for one of the embedded users (for curl and scripts).
        if len(argv) < 2 or argv[1] not in stack.passwords():
            print(
                f"Uso: stack.py token USUARIO (uno de: {', '.join(stack.passwords()) or 'ninguno: ./dev up'})",
                file=sys.stderr,
            )
            return 2
        print(StackApi(stack, argv[1]).token)
    elif cmd == "env":
        for k, v in stack.env({}).items():
            if k.startswith(("AIRFLOW", "CVP_")):
                print(f"export {k}={json.dumps(v)}")
    else:
        print(f"Uso: stack.py up|stop|env|token USUARIO (recibido {cmd!r})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
