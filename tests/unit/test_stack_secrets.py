"""The stack's secret files (issue 10, item 14), without starting anything: the users' passwords are
written by us, readable by their owner only, kept across runs, and a file left readable by others by an
older version is made private again."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from stack import USERS, Stack  # noqa: E402


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_passwords_are_ours_private_and_kept(tmp_path):
    stack = Stack(tmp_path / "airflow")
    (tmp_path / "airflow").mkdir()
    stack._ensure_passwords()
    first = stack.passwords()
    assert set(first) == set(USERS) and all(len(p) >= 16 for p in first.values())
    assert mode(stack.passwords_file) == 0o600
    stack._ensure_passwords()
    assert stack.passwords() == first  # a restart keeps them


def test_a_passwords_file_readable_by_others_is_made_private_and_completed(tmp_path):
    stack = Stack(tmp_path / "airflow")
    (tmp_path / "airflow").mkdir()
    stack.passwords_file.write_text(json.dumps({"jefe": "la-de-antes"}))
    stack.passwords_file.chmod(0o644)  # as Airflow's own generated file was
    stack._ensure_passwords()
    assert mode(stack.passwords_file) == 0o600
    kept = stack.passwords()
    assert kept["jefe"] == "la-de-antes" and set(kept) == set(USERS)
    assert not list((tmp_path / "airflow").glob(".*.tmp"))  # written atomically, no leftover


def test_the_jwt_secret_is_private_and_the_environment_names_the_passwords_file(tmp_path):
    stack = Stack(tmp_path / "airflow")
    env = stack.env({})
    assert mode(stack.home / "jwt_secret") == 0o600
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(stack.passwords_file)
