"""The forms' app in-process (TestClient), logged in with real Airflow JWTs from SimpleAuthManager.

Mounted under /cvp in a bare FastAPI app, as the api-server mounts it. The records are a fresh
SQLite per test; the mailer writes to a folder. Only Airflow's revocation list (a metadata-database
table) is replaced: these tests have no Airflow database, the integration tests do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USERS = {
    "jefe": "user",
    "profesional": "user",
    "tecnico": "user",
    "lector": "viewer",
    "admin": "admin",
    "intruso": "user",
}


def pytest_configure(config):
    home = Path(os.environ.get("PYTEST_AIRFLOW_HOME", "/tmp/cvp-webtests-airflow"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "prueba-" + "x" * 80)
    os.environ.setdefault(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, r in USERS.items())
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if str(ROOT / "plugins") not in sys.path:
        sys.path.insert(0, str(ROOT / "plugins"))


@pytest.fixture(scope="session")
def auth_manager():
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.models.revoked_token import RevokedToken

    mp = pytest.MonkeyPatch()
    mp.setattr(RevokedToken, "is_revoked", classmethod(lambda cls, jti, session=None: False))
    yield create_auth_manager()
    mp.undo()


@pytest.fixture(scope="session")
def tokens(auth_manager):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return {u: auth_manager.generate_jwt(SimpleAuthManagerUser(username=u, role=r)) for u, r in USERS.items()}


class Web:
    """The mounted app and one logged-in browser-like client per user (cookie ``_token``)."""

    def __init__(self, parent, sub, tokens, office, mailbox: Path):
        from fastapi.testclient import TestClient

        self.parent, self.app, self.tokens, self.office, self.mailbox = parent, sub, tokens, office, mailbox
        self._clients: dict[str, TestClient] = {}
        self.TestClient = TestClient

    def anonymous(self):
        return self.TestClient(self.parent, follow_redirects=False)

    def as_(self, user: str):
        """A client with the user's cookie, like the browser after Airflow's login page."""
        if user not in self._clients:
            c = self.TestClient(self.parent, follow_redirects=False)
            c.cookies.set("_token", self.tokens[user])
            self._clients[user] = c
        return self._clients[user]

    def bearer(self, user: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def csrf(self, user: str) -> str:
        r = self.as_(user).get("/cvp/api/yo")
        assert r.status_code == 200, r.text
        return r.json()["codigo_csrf"]

    def post_json(self, user: str, path: str, body: dict, *, csrf: bool = True):
        headers = {"X-CSRF-Token": self.csrf(user)} if csrf else {}
        return self.as_(user).post(path, json=body, headers=headers)

    def post_form(self, user: str, path: str, data: dict, *, csrf: bool = True, files=None):
        data = dict(data)
        if csrf:
            data = {"codigo_csrf": self.csrf(user), **data}
        return self.as_(user).post(path, data=data, files=files)


@pytest.fixture(scope="module")
def web_app():
    """The forms' app, built once per test module (building it is the slow part); each test brings its records."""
    from fastapi import FastAPI

    from cvp_airflow.web.app import create_app

    mp = pytest.MonkeyPatch()
    mp.setenv("CVP_MAX_UPLOAD_MB", "1")
    sub = create_app()
    parent = FastAPI()
    parent.mount("/cvp", sub)
    yield parent, sub
    mp.undo()


@pytest.fixture
def web(web_app, office, tokens, tmp_path, monkeypatch):
    from cvp.mail import MailboxMailer
    from cvp_airflow.web.services import get_mailer, get_office

    monkeypatch.setenv("CVP_MAX_UPLOAD_MB", "1")
    parent, sub = web_app
    mailbox = tmp_path / "buzon-web"
    sub.dependency_overrides = {get_office: lambda: office, get_mailer: lambda: MailboxMailer(mailbox)}
    yield Web(parent, sub, tokens, office, mailbox)
    sub.dependency_overrides = {}
