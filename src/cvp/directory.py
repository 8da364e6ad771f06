"""The office's team read from the institution's directory (LDAP): group membership decides the procedure role.

A district office keeps its people in a directory; with ``CVP_TEAM_SOURCE=ldap`` the members of the
configured groups are the team, so moving someone between groups changes what they may do without
editing include/config/equipo.yml. The same ``CVP_LDAP_*`` variables configure the Airflow login
(include/config/webserver_config.py). Reads are cached for ``CVP_TEAM_TTL`` seconds (a form request
looks the team up several times); if the directory stops answering, the last copy keeps serving for
``CVP_TEAM_STALE_TTL`` seconds more, after that every lookup fails with a Spanish message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cvp.errors import InvalidInput, Unavailable
from cvp.procedure import HEAD, PROFESSIONAL, READER, TECHNICIAN
from cvp.team import Member, Team

log = logging.getLogger(__name__)

# Variable -> procedure role, strongest first: someone in two groups gets the first one.
GROUP_VARIABLES = (
    ("CVP_LDAP_GROUP_JEFE", HEAD),
    ("CVP_LDAP_GROUP_PROFESIONAL", PROFESSIONAL),
    ("CVP_LDAP_GROUP_TECNICO", TECHNICIAN),
    ("CVP_LDAP_GROUP_LECTOR", READER),
    ("CVP_LDAP_GROUP_ADMIN", READER),  # platform administrators only read the procedure
)
MEMBER_ATTRS = ("member", "uniqueMember", "memberUid")
PERSON_ATTRS = ("displayName", "cn", "mail")
FAILURE_PAUSE = 10.0  # seconds before a failed directory is asked again (a page asks several times)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "si", "sí", "on")


def _number(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"La variable {name} debe ser un número de segundos (vale {raw!r}).") from None
    if value < 0:
        raise InvalidInput(f"La variable {name} no puede ser negativa (vale {raw!r}).")
    return value


@dataclass(frozen=True)
class DirectorySettings:
    url: str
    bind_dn: str
    bind_password: str = field(repr=False)
    user_base: str
    uid_attr: str = "uid"
    groups: tuple[tuple[str, str, str], ...] = ()  # (variable, group DN, role), strongest role first
    timeout: float = 5.0
    use_tls: bool = False
    ttl: float = 60.0
    stale_ttl: float = 300.0

    @classmethod
    def from_env(cls, env: dict | None = None) -> DirectorySettings:
        """The CVP_LDAP_* variables shared with the Airflow login; refuses, in Spanish, an incomplete set."""
        env = dict(os.environ if env is None else env)
        url = (env.get("CVP_LDAP_URL") or "").strip()
        if not url:
            raise InvalidInput(
                "CVP_TEAM_SOURCE=ldap exige la dirección del directorio en CVP_LDAP_URL "
                "(por ejemplo ldap://openldap:389)."
            )
        user_base = (env.get("CVP_LDAP_USER_BASE") or "").strip()
        if not user_base:
            raise InvalidInput(
                "Falta CVP_LDAP_USER_BASE: la rama del directorio donde están las personas "
                "(por ejemplo ou=personas,dc=cvp,dc=gov,dc=co)."
            )
        groups = tuple(
            (name, env[name].strip(), role) for name, role in GROUP_VARIABLES if (env.get(name) or "").strip()
        )
        if not groups:
            raise InvalidInput(
                "Con CVP_TEAM_SOURCE=ldap hay que indicar al menos un grupo del directorio "
                "(CVP_LDAP_GROUP_JEFE, CVP_LDAP_GROUP_PROFESIONAL, CVP_LDAP_GROUP_TECNICO, "
                "CVP_LDAP_GROUP_LECTOR, CVP_LDAP_GROUP_ADMIN)."
            )
        return cls(
            url=url,
            bind_dn=(env.get("CVP_LDAP_BIND_DN") or "").strip(),
            bind_password=env.get("CVP_LDAP_BIND_PASSWORD") or "",
            user_base=user_base,
            uid_attr=(env.get("CVP_LDAP_UID_ATTR") or "uid").strip(),
            groups=groups,
            timeout=_number(env, "CVP_LDAP_TIMEOUT", 5.0) or 5.0,
            use_tls=_truthy(env.get("CVP_LDAP_USE_TLS")),
            ttl=_number(env, "CVP_TEAM_TTL", 60.0),
            stale_ttl=_number(env, "CVP_TEAM_STALE_TTL", 300.0),
        )


def _norm_dn(dn: str) -> str:
    """A DN compared the way the directory does (attribute names and values without case or spacing)."""
    import ldap.dn

    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(dn)).lower()
    except Exception:  # noqa: BLE001 - a malformed value is compared as written
        return dn.strip().lower()


def _first(attrs: dict, name: str) -> str:
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return values[0].decode("utf-8", "replace").strip()
    return ""


def read_team(cfg: DirectorySettings, team_emails: tuple[str, ...] = ()) -> Team:
    """Ask the directory now: every member of each configured group, with name and e-mail."""
    import ldap

    try:
        con = ldap.initialize(cfg.url)
    except ldap.LDAPError as exc:
        raise InvalidInput(
            f"La dirección del directorio CVP_LDAP_URL={cfg.url!r} no es válida: {_desc(exc)}."
        ) from None
    con.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    con.set_option(ldap.OPT_REFERRALS, 0)
    con.set_option(ldap.OPT_NETWORK_TIMEOUT, cfg.timeout)
    con.set_option(ldap.OPT_TIMEOUT, cfg.timeout)
    try:
        if cfg.use_tls:
            con.start_tls_s()
        con.simple_bind_s(cfg.bind_dn, cfg.bind_password)
        members: dict[str, Member] = {}
        for variable, dn, role in cfg.groups:
            for _person_dn, person in _group_members(con, cfg, variable, dn):
                username = _first(person, cfg.uid_attr).lower()  # the login lowercases it too
                if not username or username in members:
                    continue
                name = _first(person, "displayName") or _first(person, "cn") or username
                members[username] = Member(username, role, name, _first(person, "mail"))
        return Team(members, team_emails, source="directorio")
    except ldap.INVALID_CREDENTIALS:
        raise Unavailable(
            "El directorio rechazó la cuenta de servicio de la plataforma (CVP_LDAP_BIND_DN / "
            "CVP_LDAP_BIND_PASSWORD): no se pudo consultar el equipo. Avise a soporte TIC."
        ) from None
    except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR) as exc:
        raise Unavailable(
            f"No se pudo consultar el directorio ({cfg.url}): {_desc(exc)}. Intente de nuevo en "
            "unos minutos; si persiste, avise a soporte TIC."
        ) from None
    except ldap.LDAPError as exc:
        raise Unavailable(f"No se pudo consultar el directorio ({cfg.url}): {_desc(exc)}.") from None
    finally:
        try:
            con.unbind_s()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass


def _desc(exc: Exception) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(info.get("desc") or exc.__class__.__name__) + (f" ({info['info']})" if info.get("info") else "")


def _group_members(con, cfg: DirectorySettings, variable: str, group: str):
    """The people of one group (groupOfNames, groupOfUniqueNames or posixGroup) under the people base."""
    import ldap
    import ldap.filter

    try:
        found = con.search_s(group, ldap.SCOPE_BASE, "(objectClass=*)", list(MEMBER_ATTRS))
    except ldap.NO_SUCH_OBJECT:
        raise InvalidInput(f"El grupo {group} ({variable}) no existe en el directorio.") from None
    attrs = found[0][1] if found else {}
    base = _norm_dn(cfg.user_base)
    for key, values in attrs.items():
        for raw in values:
            value = raw.decode("utf-8", "replace")
            if key.lower() == "memberuid":  # posixGroup: the value is the login name itself
                flt = f"({cfg.uid_attr}={ldap.filter.escape_filter_chars(value)})"
                hits = con.search_s(cfg.user_base, ldap.SCOPE_SUBTREE, flt, [cfg.uid_attr, *PERSON_ATTRS])
            else:
                if not _norm_dn(value).endswith(base):
                    continue  # outside the people base: the login would not find them either
                try:
                    hits = con.search_s(value, ldap.SCOPE_BASE, "(objectClass=*)", [cfg.uid_attr, *PERSON_ATTRS])
                except ldap.NO_SUCH_OBJECT:
                    continue  # a member left behind by a deleted person
            for dn, person in hits:
                if dn is not None and isinstance(person, dict):
                    yield dn, person


class DirectoryTeam:
    """The cached team of one directory configuration; safe to share between a server's threads."""

    def __init__(self, cfg: DirectorySettings, team_file: Path | None = None, *, clock=time.monotonic):
        self.cfg, self.team_file, self.clock = cfg, team_file, clock
        self._lock = threading.Lock()
        self._team: Team | None = None
        self._read_at = 0.0
        self._failure: Unavailable | None = None
        self._failed_at = 0.0

    def get(self) -> Team:
        now = self.clock()
        if self._team is not None and now - self._read_at < self.cfg.ttl:
            return self._team
        with self._lock:
            now = self.clock()
            if self._team is not None and now - self._read_at < self.cfg.ttl:
                return self._team
            if self._failure is not None and now - self._failed_at < min(FAILURE_PAUSE, self.cfg.ttl or FAILURE_PAUSE):
                return self._stale_or_raise(self._failure, now)
            try:
                team = read_team(self.cfg, self._team_emails())
            except Unavailable as exc:
                self._failure, self._failed_at = exc, now
                if self._team is not None:
                    log.warning(
                        "%s Se usa el equipo leído hace %.0f s mientras no haya respuesta.",
                        exc.message,
                        now - self._read_at,
                    )
                return self._stale_or_raise(exc, now)
            self._team, self._read_at, self._failure = team, now, None
            return team

    def _stale_or_raise(self, exc: Unavailable, now: float) -> Team:
        if self._team is not None and now - self._read_at < self.cfg.ttl + self.cfg.stale_ttl:
            return self._team
        raise exc

    def _team_emails(self) -> tuple[str, ...]:
        """The team's shared mailbox (activity 14) is not a person: it stays in the team file, if any."""
        if self.team_file is None:
            return ()
        try:
            return Team.load(self.team_file).team_emails
        except InvalidInput:
            return ()


_sources: dict[tuple[DirectorySettings, Path | None], DirectoryTeam] = {}
_sources_lock = threading.Lock()


def directory_team(team_file: Path | None = None, env: dict | None = None) -> Team:
    """The team from the directory configured in the environment (one cache per configuration)."""
    cfg = DirectorySettings.from_env(env)
    key = (cfg, team_file)
    with _sources_lock:
        source = _sources.get(key)
        if source is None:
            _sources.clear()  # a changed configuration drops the old cache
            source = _sources[key] = DirectoryTeam(cfg, team_file)
    return source.get()
