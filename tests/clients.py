"""Clients of a running stack for the integration tests: Airflow's REST API and the /cvp forms' JSON API."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from stack import StackApi  # noqa: E402


class Api(StackApi):
    """The REST client, with the communication-need DAG as default."""

    DAG = "necesidad_comunicacion"

    def trigger(self, run_id: str, conf: dict):
        return self.trigger_dag(self.DAG, run_id, conf)

    def run_state(self, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/necesidad_comunicacion/dagRuns/{run_id}")[1]["state"]

    def task_states(self, run_id: str) -> dict[str, str]:
        return {k: t["state"] for k, t in self.task_instances(self.DAG, run_id).items()}

    def wait_task(self, run_id: str, task_id: str, states=("deferred",), timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.task_states(run_id).get(task_id)
            if state in states:
                return state
            if state in ("failed", "upstream_failed"):
                raise AssertionError(f"{task_id} {state}: {self.task_states(run_id)}")
            time.sleep(0.5)
        raise TimeoutError(f"{task_id} never reached {states}: {self.task_states(run_id)}")

    def wait_run(self, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise TimeoutError(f"run {run_id} still {self.run_state(run_id)}: {self.task_states(run_id)}")


class Forms:
    """A client of /cvp as one user: with the Airflow JWT as Bearer header, or as the `_token` cookie."""

    def __init__(self, stack, user: str, *, cookie: bool = False):
        self.base = stack.base_url
        self.user = user
        self.token = Api(stack, user).token
        self.cookie = cookie
        self.csrf = None

    def headers(self, csrf: bool = True) -> dict:
        if not self.cookie:
            return {"Authorization": f"Bearer {self.token}"}
        headers = {"Cookie": f"_token={self.token}"}
        if csrf:
            if self.csrf is None:
                self.csrf = self.call("GET", "/cvp/api/yo")[1]["codigo_csrf"]
            headers["X-CSRF-Token"] = self.csrf
        return headers

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        csrf: bool = True,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, method=method, data=data)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        for k, v in self.headers(csrf and method != "GET").items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, _json(r.read(), r.headers), r.headers
        except urllib.error.HTTPError as e:
            return e.code, _json(e.read(), e.headers), e.headers

    def upload(
        self,
        need: int,
        content: bytes,
        filename: str = "afiche.png",
        alt: str = "Afiche de la entrega",
        *,
        csrf: bool = True,
    ):
        boundary = uuid.uuid4().hex
        parts = []
        if self.cookie and csrf:
            self.headers()
            parts.append(("codigo_csrf", None, self.csrf.encode()))
        parts += [("texto_alternativo", None, alt.encode()), ("archivo", filename, content)]
        body = b""
        for name, fname, value in parts:
            disp = f'form-data; name="{name}"' + (f'; filename="{fname}"' if fname else "")
            body += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
            body += (b"Content-Type: application/octet-stream\r\n" if fname else b"") + b"\r\n" + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        return self.call(
            "POST",
            f"/cvp/api/necesidades/{need}/diseno",
            raw=body,
            csrf=False,
            content_type=f"multipart/form-data; boundary={boundary}",
        )


def _json(raw: bytes, headers):
    if "json" in (headers.get("Content-Type") or ""):
        return json.loads(raw or b"null")
    return raw
