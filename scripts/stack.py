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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
USERS = {"jefe": "user", "profesional": "user", "tecnico": "user", "lector": "viewer", "admin": "admin"}


@dataclass
class Stack:
    home: Path
    port: int = 8080
    log_port: int = 8793
    trigger_log_port: int = 8794
    parallelism: int = 4
    dags_folder: Path = ROOT / "dags"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "cvp"

    @property
    def records_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'registros.db'}"

    def env(self, base: dict | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        secret_file = self.home / "jwt_secret"
        if not secret_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_urlsafe(64))
            secret_file.chmod(0o600)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "America/Bogota",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
            "AIRFLOW_CONN_CVP_RECORDS": json.dumps({"conn_type": "sqlite",
                                                    "host": str(self.data_dir / "registros.db")}),
            "CVP_DATA_DIR": str(self.data_dir),
            "CVP_RECORDS_URL": self.records_url,
            "CVP_BASE_URL": self.base_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "plugins"), env.get("PYTHONPATH", "")])),
        })
        return env

    # --- lifecycle --------------------------------------------------------------------------------

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), env=self.env(), check=True, cwd=ROOT)

    def setup(self) -> None:
        """Create Airflow's metadata and the records schema (both idempotent)."""
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        self._run(str(VENV_BIN / "airflow"), "db", "migrate")
        self._run(str(VENV_BIN / "python"), "-m", "cvp", "db")

    def pidfile(self, component: str) -> Path:
        return self.home / "run" / f"{component}.pid"

    def start(self) -> None:
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        env = self.env()
        for component in COMPONENTS:
            if self._alive(component):
                continue
            log = open(self.home / "logs" / f"{component}.log", "ab")
            # Airflow's log servers bind every interface and cannot be told otherwise; on one machine
            # the api-server reads the task logs from the shared folder, so they are not started.
            extra = ["--skip-serve-logs"] if component in ("scheduler", "triggerer") else []
            proc = subprocess.Popen([str(VENV_BIN / "airflow"), component, *extra], env=env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            self.pidfile(component).write_text(str(proc.pid))

    def _alive(self, component: str) -> bool:
        try:
            pid = int(self.pidfile(component).read_text())
            os.kill(pid, 0)
            return True
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each component's process group, then SIGKILL what is left (workers ignore SIGTERM)."""
        pgids = []
        for component in COMPONENTS:
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
            for component in COMPONENTS:
                if not self._alive(component):
                    raise RuntimeError(f"{component} terminó; vea {self.home / 'logs' / (component + '.log')}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=3) as r:
                    health = json.load(r)
                states = {k: (v or {}).get("status") for k, v in health.items()}
                if all(states.get(k) == "healthy" for k in ("metadatabase", "scheduler", "triggerer",
                                                              "dag_processor")):
                    return
                last = str(states)
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
                last = str(exc)
            time.sleep(1)
        raise TimeoutError(f"Airflow no quedó listo en {timeout:.0f} s: {last}")

    def passwords(self) -> dict[str, str]:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return json.loads(path.read_text()) if path.exists() else {}


class StackApi:
    """A small client of the stack's REST API, logged in as one of its users (tests and benchmarks)."""

    def __init__(self, stack: Stack, user: str):
        self.base = stack.base_url
        status, body = self.call("POST", "/auth/token",
                                 {"username": user, "password": stack.passwords()[user]}, auth=False)
        if status >= 300:
            raise RuntimeError(f"token for {user}: {status} {body}")
        self.token = body["access_token"]

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def trigger_dag(self, dag_id: str, run_id: str, conf: dict | None = None):
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                         {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}})

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """Task instances by id (mapped ones as 'task_id[i]'); empty if the run is unknown."""
        status, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        if status != 200:
            return {}
        return {(t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"): t
                for t in body["task_instances"]}


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
    stack = Stack(Path(os.environ.get("CVP_AIRFLOW_HOME", ROOT / ".airflow")).resolve(),
                  port=int(os.environ.get("CVP_PORT", "8080")))
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
        for user, role in USERS.items():
            print(f"    {user:<12} {pw.get(user, '(ver ' + str(stack.home) + '/simple_auth_manager_passwords.json.generated)')}")
        print(f"  Correos (buzón local): {stack.data_dir / 'buzon'}")
        print(f"  Publicaciones sin conexión (bandeja local): {stack.data_dir / 'salida'}")
        print(f"  Registros: {stack.records_url}")
        print(f"  Bitácoras: {stack.home / 'logs'}    Detener: ./dev stop")
    elif cmd == "stop":
        stack.stop()
        print("Componentes detenidos.")
    elif cmd == "env":
        for k, v in stack.env({}).items():
            if k.startswith(("AIRFLOW", "CVP_")):
                print(f"export {k}={json.dumps(v)}")
    else:
        print(f"Uso: stack.py up|stop|env (recibido {cmd!r})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
