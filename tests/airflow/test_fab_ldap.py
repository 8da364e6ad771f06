"""Directory login through the FAB auth manager and include/config/webserver_config.py, against a real slapd.

The auth manager's own app (``POST /token``, FAB's login page) runs in one separate process
(tests/airflow/fab_ldap_probe.py) on a fresh SQLite Airflow database, because Airflow's configuration
and FAB's Flask app are per process; the slapd servers are this test's.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import ldap_server  # noqa: E402

pytestmark = pytest.mark.skipif(
    not ldap_server.available(), reason="slapd de OpenLDAP no está instalado (paquete Debian slapd)"
)
CONFIG = ROOT / "include" / "config" / "webserver_config.py"
CLEAN = ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__AUTH_MANAGER")


def load_config(env: dict) -> dict:
    """The settings webserver_config.py gives Flask for this environment (what ``from_pyfile`` would load)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        scope: dict = {}
        exec(compile(CONFIG.read_text(encoding="utf-8"), str(CONFIG), "exec"), scope)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {k: v for k, v in scope.items() if k.isupper()}


MESSAGES = load_config({})["LOGIN_MESSAGES"]


def test_without_a_directory_the_login_is_airflows_own_user_table():
    from flask_appbuilder.const import AUTH_DB

    cfg = load_config({})
    assert cfg["AUTH_TYPE"] == AUTH_DB and "SECURITY_MANAGER_CLASS" not in cfg
    assert cfg["BABEL_DEFAULT_LOCALE"] == "es"


def test_directory_settings_map_each_group_to_its_airflow_role():
    from flask_appbuilder.const import AUTH_LDAP

    env = ldap_server.LdapServer(port=389).env()  # never started: only its variables
    cfg = load_config({**env, "CVP_LDAP_USE_TLS": "1"})
    assert cfg["AUTH_TYPE"] == AUTH_LDAP and cfg["AUTH_LDAP_SERVER"] == "ldap://127.0.0.1:389"
    assert cfg["AUTH_LDAP_USE_TLS"] is True and cfg["AUTH_LDAP_SEARCH"] == ldap_server.PEOPLE_BASE
    assert cfg["AUTH_USER_REGISTRATION"] and cfg["AUTH_ROLES_SYNC_AT_LOGIN"]
    assert cfg["AUTH_ROLES_MAPPING"] == {
        ldap_server.group_dn("jefe"): ["User"],
        ldap_server.group_dn("profesional"): ["Viewer"],
        ldap_server.group_dn("tecnico"): ["Viewer"],
        ldap_server.group_dn("lector"): ["Viewer"],
        ldap_server.group_dn("admin"): ["Admin"],
    }


def _airflow_env(home: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CVP_LDAP_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__FAB__CONFIG_FILE": str(CONFIG),
            "AIRFLOW__FAB__AUTH_RATE_LIMITED": "False",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__API_AUTH__JWT_SECRET": "prueba-" + "x" * 80,
            "AIRFLOW__API__SECRET_KEY": "prueba-" + "y" * 40,
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Every scenario in one probe process: two directories (with and without memberOf), a silent one."""
    pytest.importorskip("ldap")
    home = tmp_path_factory.mktemp("fab-airflow")
    with (
        ldap_server.LdapServer(memberof=True) as with_overlay,
        ldap_server.LdapServer(memberof=False, passwords=dict(with_overlay.passwords)) as plain,
        socket.socket() as silent,
    ):  # accepts, never answers: the login must give up at CVP_LDAP_TIMEOUT
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        people = {u: with_overlay.passwords[u] for u in ldap_server.USERS}
        scenarios = [
            {"name": "memberOf", "passwords": people, "upper": True},
            {"name": "groupOfNames", "passwords": people, "config": {"AUTH_LDAP_SERVER": plain.url}},
            {
                "name": "down",
                "passwords": {"jefe": people["jefe"], "rescate": RESCUE_PASSWORD},
                "config": {"AUTH_LDAP_SERVER": f"ldap://127.0.0.1:{silent.getsockname()[1]}"},
                "local_users": {"rescate": RESCUE_PASSWORD},
            },
            {
                "name": "service",
                "passwords": {"jefe": people["jefe"]},
                "config": {"AUTH_LDAP_SERVER": with_overlay.url, "AUTH_LDAP_BIND_PASSWORD": WRONG_SERVICE_PASSWORD},
            },
        ]
        env = _airflow_env(
            home, {**with_overlay.env(), "CVP_LDAP_TIMEOUT": "1", "PROBE_SCENARIOS": json.dumps(scenarios)}
        )
        r = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("fab_ldap_probe.py"))],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["log"] = r.stdout + r.stderr
    out["passwords"] = people
    return out


RESCUE_PASSWORD = secrets.token_urlsafe(12)
WRONG_SERVICE_PASSWORD = "clave-de-servicio-equivocada"


@pytest.mark.parametrize("directory", ["memberOf", "groupOfNames"])
def test_directory_people_log_in_with_the_role_of_their_group(results, directory):
    out = results[directory]
    assert out["security_manager"] == "CvpLdapSecurityManager"
    assert {u: t[0] for u, t in out["tokens"].items()} == {
        "jefe": 201,
        "profesional": 201,
        "tecnico": 201,
        "lector": 201,
        "admin": 201,
        "jefe-mala": 401,
    }
    assert out["roles"] == {
        "jefe": ["Public", "User"],
        "profesional": ["Public", "Viewer"],
        "tecnico": ["Public", "Viewer"],
        "lector": ["Public", "Viewer"],
        "admin": ["Admin", "Public"],
    }
    # Only the head (and the platform's administrators) may trigger a need.
    assert out["may_trigger"] == {"jefe": True, "profesional": False, "tecnico": False, "lector": False, "admin": True}
    assert out["login_page"] == 200 and out["login_post"] == 302
    assert MESSAGES["credentials"] in html.unescape(out["login_after"])


def test_a_login_in_capitals_is_the_same_airflow_user(results):
    out = results["memberOf"]
    assert out["upper"] == 201
    assert out["users"] == sorted(ldap_server.USERS)  # no second «JEFE» user: the team knows «jefe»


def test_unreachable_directory_is_a_spanish_503_not_a_wrong_password(results):
    out = results["down"]
    assert out["tokens"]["jefe"] == [503, MESSAGES["unreachable"]]
    assert out["tokens"]["rescate"] == [201, "ok"]  # the local emergency account still logs in
    assert out["login_post"] == 302
    assert MESSAGES["unreachable"] in html.unescape(out["login_after"])


def test_refused_service_account_is_named(results):
    out = results["service"]
    assert out["tokens"]["jefe"] == [503, MESSAGES["service"]]
    assert MESSAGES["service"] in html.unescape(out["login_after"])


def test_no_password_reaches_the_log(results):
    for secret in (*results["passwords"].values(), RESCUE_PASSWORD, WRONG_SERVICE_PASSWORD):
        assert secret not in results["log"]
