"""The team from a real directory (a private slapd on 127.0.0.1): roles and addresses from its groups."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import ldap_server  # noqa: E402

from cvp import procedure as P  # noqa: E402
from cvp.errors import InvalidInput, PermissionDenied, Unavailable  # noqa: E402

pytestmark = pytest.mark.skipif(
    not ldap_server.available(), reason="slapd de OpenLDAP no está instalado (paquete Debian slapd)"
)
TEAM_FILE = ROOT / "include" / "config" / "equipo.yml"


@pytest.fixture(scope="module")
def directory():
    pytest.importorskip("ldap")
    with ldap_server.LdapServer(memberof=False) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_cache():
    from cvp import directory as D

    D._sources.clear()
    yield
    D._sources.clear()


@pytest.fixture
def ldap_env(directory, monkeypatch):
    for key, value in directory.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CVP_TEAM_SOURCE", "ldap")
    monkeypatch.setenv("CVP_TEAM_FILE", str(TEAM_FILE))
    return directory


def test_roles_names_and_emails_come_from_the_groups(ldap_env, sqlite_url):
    from cvp.office import Office

    team = Office(sqlite_url).team
    assert {u: m.role for u, m in team.members.items()} == {
        "jefe": P.HEAD,
        "profesional": P.PROFESSIONAL,
        "tecnico": P.TECHNICIAN,
        "lector": P.READER,
        "admin": P.READER,
    }
    assert team.members["jefe"].name == "Jefa de la Oficina Asesora de Comunicaciones"
    assert team.members["tecnico"].name == "Técnico Operativo OAC"
    assert team.members["lector"].name == "Consulta (solo lectura)"  # no displayName: cn
    assert team.emails_for(P.HEAD) == ["jefe.oac@cajaviviendapopular.gov.co"]
    assert team.emails_for(P.TECHNICIAN) == ["tecnico.oac@cajaviviendapopular.gov.co"]
    assert team.team_emails == ("comunicaciones@cajaviviendapopular.gov.co",)  # the shared box stays in the file
    assert team.require("tecnico", P.TECHNICIAN).username == "tecnico"
    with pytest.raises(PermissionDenied, match="Esta acción corresponde a: Jefe"):
        team.require("profesional", P.HEAD)
    with pytest.raises(PermissionDenied, match="grupos del directorio"):
        team.require("intruso", P.HEAD)


def test_the_file_stays_the_default(directory, monkeypatch, sqlite_url):
    from cvp.office import Office

    for key, value in directory.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CVP_TEAM_SOURCE", raising=False)
    monkeypatch.setenv("CVP_TEAM_FILE", str(TEAM_FILE))
    team = Office(sqlite_url).team
    assert team.source == "archivo" and team.members["jefe"].email == "jefe.oac@cajaviviendapopular.gov.co"
    monkeypatch.setenv("CVP_TEAM_SOURCE", "active-directory")
    with pytest.raises(InvalidInput, match="CVP_TEAM_SOURCE"):
        _ = Office(sqlite_url).team


def test_someone_in_two_groups_gets_the_stronger_role(ldap_env):
    from cvp.directory import directory_team

    ldap_env.add_member(ldap_server.group_dn("lector"), "profesional")
    try:
        assert directory_team(TEAM_FILE).role_of("profesional") == P.PROFESSIONAL
    finally:
        ldap_env.remove_member(ldap_server.group_dn("lector"), "profesional")


def test_a_member_removed_from_a_group_loses_the_role_after_the_ttl(ldap_env, monkeypatch):
    from cvp.directory import directory_team

    monkeypatch.setenv("CVP_TEAM_TTL", "1")
    assert directory_team(TEAM_FILE).role_of("tecnico") == P.TECHNICIAN
    group = ldap_server.group_dn("tecnico")
    ldap_env.add_member(group, "admin")  # a groupOfNames is never empty
    ldap_env.remove_member(group, "tecnico")
    try:
        assert directory_team(TEAM_FILE).role_of("tecnico") == P.TECHNICIAN  # cached: no query per request
        time.sleep(1.2)
        team = directory_team(TEAM_FILE)
        assert team.role_of("tecnico") is None
        assert "tecnico.oac@cajaviviendapopular.gov.co" not in team.emails_for(P.TECHNICIAN)
    finally:
        ldap_env.add_member(group, "tecnico")
        ldap_env.remove_member(group, "admin")


def test_unreachable_directory_is_a_spanish_error(ldap_env, monkeypatch):
    from cvp.directory import directory_team

    monkeypatch.setenv("CVP_LDAP_URL", f"ldap://127.0.0.1:{ldap_server.free_port()}")  # nobody listens
    with pytest.raises(Unavailable, match="No se pudo consultar el directorio") as err:
        directory_team(TEAM_FILE)
    assert err.value.status == 503


def test_a_directory_that_never_answers_is_cut_at_the_timeout(ldap_env, monkeypatch):
    from cvp.directory import directory_team

    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        monkeypatch.setenv("CVP_LDAP_URL", f"ldap://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("CVP_LDAP_TIMEOUT", "1")
        started = time.monotonic()
        with pytest.raises(Unavailable, match="No se pudo consultar el directorio"):
            directory_team(TEAM_FILE)
        assert time.monotonic() - started < 5


def test_wrong_service_password_is_a_spanish_error_without_the_password(ldap_env, monkeypatch):
    from cvp.directory import directory_team

    monkeypatch.setenv("CVP_LDAP_BIND_PASSWORD", "no-es-la-clave")
    with pytest.raises(Unavailable, match="rechazó la cuenta de servicio") as err:
        directory_team(TEAM_FILE)
    assert "no-es-la-clave" not in str(err.value)


def test_a_group_that_does_not_exist_is_named(ldap_env, monkeypatch):
    from cvp.directory import directory_team

    monkeypatch.setenv("CVP_LDAP_GROUP_TECNICO", "cn=disenadores,ou=grupos,dc=cvp,dc=gov,dc=co")
    with pytest.raises(InvalidInput, match="cn=disenadores.*CVP_LDAP_GROUP_TECNICO"):
        directory_team(TEAM_FILE)


def test_missing_settings_are_named(monkeypatch):
    from cvp.directory import DirectorySettings

    with pytest.raises(InvalidInput, match="CVP_LDAP_URL"):
        DirectorySettings.from_env({})
    with pytest.raises(InvalidInput, match="CVP_LDAP_GROUP_JEFE"):
        DirectorySettings.from_env({"CVP_LDAP_URL": "ldap://x", "CVP_LDAP_USER_BASE": "dc=x"})
    with pytest.raises(InvalidInput, match="CVP_TEAM_TTL"):
        DirectorySettings.from_env(
            {
                "CVP_LDAP_URL": "ldap://x",
                "CVP_LDAP_USER_BASE": "dc=x",
                "CVP_LDAP_GROUP_JEFE": "cn=j",
                "CVP_TEAM_TTL": "un minuto",
            }
        )


def test_a_stale_copy_serves_while_the_directory_is_down_then_the_error_shows():
    """With its own slapd, stopped halfway; the clock is the test's, so no waiting."""
    from cvp.directory import DirectorySettings, DirectoryTeam

    now = [0.0]
    with ldap_server.LdapServer() as server:
        cfg = DirectorySettings.from_env({**server.env(), "CVP_TEAM_TTL": "60", "CVP_TEAM_STALE_TTL": "300"})
        source = DirectoryTeam(cfg, clock=lambda: now[0])
        assert source.get().role_of("jefe") == P.HEAD
    now[0] = 61.0  # expired, directory gone: the last copy still answers
    assert source.get().role_of("jefe") == P.HEAD
    now[0] = 300.0
    assert source.get().role_of("jefe") == P.HEAD
    now[0] = 361.0  # beyond TTL + stale TTL: the Spanish error reaches the caller
    with pytest.raises(Unavailable, match="No se pudo consultar el directorio"):
        source.get()
