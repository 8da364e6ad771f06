"""No secret in the stack's logs, and the secret files readable by their owner only (issue 10, item 14).

Named to run last in the package: by then the shared stack has started every component, served logins
for every user and run needs, so its logs hold whatever it would ever print.
"""

from __future__ import annotations

import stat

from tests.clients import Api


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_password_in_any_log_and_secret_files_are_private(airflow_stack):
    passwords = airflow_stack.passwords()
    assert set(passwords) >= {"jefe", "profesional", "tecnico", "lector", "admin"}
    for user in passwords:  # every user logs in at least once, and once with a wrong password
        api = Api(airflow_stack, user)
        status, _ = api.call("POST", "/auth/token", {"username": user, "password": "equivocada"}, auth=False)
        assert status >= 400

    logs = airflow_stack.home / "logs"
    files = [p for p in logs.rglob("*") if p.is_file()]
    assert {airflow_stack.log_file(c) for c in airflow_stack.components} <= set(files)
    for path in files:
        content = path.read_bytes()
        for user, password in passwords.items():
            assert password.encode() not in content, f"la contraseña de {user} aparece en {path}"
    assert mode(logs) == 0o700  # nobody else reaches any log, task logs included
    for component in airflow_stack.components:
        assert mode(airflow_stack.log_file(component)) == 0o600, component
    assert mode(airflow_stack.passwords_file) == 0o600
    assert mode(airflow_stack.home / "jwt_secret") == 0o600
