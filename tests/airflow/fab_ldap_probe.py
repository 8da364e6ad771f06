"""Run inside a process configured for the FAB auth manager + include/config/webserver_config.py (see test_fab_ldap).

Migrates the (empty, SQLite) Airflow database, builds the auth manager's own FastAPI app (``/token``
and FAB's Flask login page, as the api-server mounts them under /auth) and, for each scenario read
from PROBE_SCENARIOS, prints what a person and a script would see, as JSON on the last line. One
process for every scenario because importing Airflow costs seconds; a scenario changes only the
directory settings the config file put in Flask's config (server, service password).
"""

from __future__ import annotations

import json
import os
import re


def run_scenario(am, client, scenario: dict) -> dict:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    passwords = scenario["passwords"]
    out: dict = {"tokens": {}, "roles": {}, "may_trigger": {}}
    with am.flask_app.app_context():
        am.flask_app.config.update(scenario.get("config", {}))
        sm = am.security_manager
        out["security_manager"] = type(sm).__name__
        for user, password in scenario.get("local_users", {}).items():  # like `airflow users create`
            sm.add_user(user, "Cuenta", "Local", f"{user}@example.org", [sm.find_role("Admin")], password=password)

    for user, password in passwords.items():
        r = client.post("/token", json={"username": user, "password": password})
        out["tokens"][user] = [r.status_code, r.json().get("detail") if r.status_code != 201 else "ok"]
    r = client.post("/token", json={"username": "jefe", "password": "no-es-la-clave"})
    out["tokens"]["jefe-mala"] = [r.status_code, r.json().get("detail")]
    if "jefe" in passwords and scenario.get("upper"):  # the same person typing their name in capitals
        r = client.post("/token", json={"username": " JEFE", "password": passwords["jefe"]})
        out["upper"] = r.status_code

    with am.flask_app.app_context():
        sm = am.security_manager
        out["users"] = sorted(u.username for u in sm.get_all_users())
        for user in passwords:
            found = sm.find_user(username=user)
            if found is None:
                continue
            out["roles"][user] = sorted(role.name for role in found.roles)
            out["may_trigger"][user] = am.is_authorized_dag(
                method="POST",
                access_entity=DagAccessEntity.RUN,
                user=found,
                details=DagDetails(id="necesidad_comunicacion"),
            )

    # The login page a person sees: a failed login comes back to it with a message.
    page = client.get("/login/")
    out["login_page"] = page.status_code
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    r = client.post(
        "/login/", data={"username": "jefe", "password": "no-es-la-clave", "csrf_token": csrf.group(1) if csrf else ""}
    )
    out["login_post"] = r.status_code
    out["login_after"] = client.get("/login/").text
    return out


def main() -> None:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.utils.db import upgradedb
    from fastapi.testclient import TestClient

    upgradedb()  # what `airflow db migrate` does, FAB's tables included
    am = create_auth_manager()
    client = TestClient(am.get_fastapi_app(), follow_redirects=False)
    results = {}
    for scenario in json.loads(os.environ["PROBE_SCENARIOS"]):
        client.cookies.clear()
        results[scenario["name"]] = run_scenario(am, client, scenario)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
