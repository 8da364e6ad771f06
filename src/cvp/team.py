"""Who is who in the office: the mapping from Airflow users to the procedure's roles and addresses.

Kept as a YAML file the office edits without code; read again when it changes. A deployment with a
directory sets CVP_TEAM_SOURCE=ldap and the team comes from its groups instead (cvp.directory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from cvp.errors import InvalidInput, PermissionDenied
from cvp.procedure import HEAD, PROFESSIONAL, READER, ROLE_NAMES, TECHNICIAN

ROLES = (HEAD, PROFESSIONAL, TECHNICIAN, READER)


@dataclass(frozen=True)
class Member:
    username: str
    role: str
    name: str
    email: str
    # Besides the head, whoever the team file marks with ``abre_necesidades: true`` may open a need.
    opens_needs: bool = False

    @property
    def may_open_needs(self) -> bool:
        return self.role == HEAD or self.opens_needs


@dataclass(frozen=True)
class Team:
    members: dict[str, Member]
    team_emails: tuple[str, ...] = ()
    source: str = "archivo"  # where a missing person must be registered: "archivo" or "directorio"

    @classmethod
    def load(cls, path: Path) -> Team:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise InvalidInput(f"No existe el archivo del equipo {path} (variable CVP_TEAM_FILE).") from None
        return _load(path, mtime)

    @property
    def where(self) -> str:
        """Where the office registers a person, in the words of the error messages."""
        return "grupos del directorio" if self.source == "directorio" else "archivo del equipo"

    def role_of(self, username: str) -> str | None:
        m = self.members.get(username)
        return m.role if m else None

    def emails_for(self, role: str) -> list[str]:
        return [m.email for m in self.members.values() if m.role == role and m.email]

    def require_opener(self, username: str) -> Member:
        """Activity 1 belongs to the head (Jefe OAC), or to whoever the team file allows to open needs."""
        member = self.members.get(username)
        if member is None:
            raise PermissionDenied(
                f"El usuario «{username}» no está en el equipo de la OAC: no puede abrir una "
                "necesidad de comunicación. Pida a la Jefe OAC que la registre."
            )
        if not member.may_open_needs:
            raise PermissionDenied(
                f"Abrir una necesidad de comunicación (actividad 1) corresponde a la Jefe OAC; "
                f"«{username}» tiene el rol {ROLE_NAMES[member.role]}. Pida a la Jefe OAC que la "
                "registre. No se creó ninguna necesidad."
            )
        return member

    def require(self, username: str, *roles: str) -> Member:
        """Refuse, in Spanish, an action by someone whose role is not among ``roles``."""
        member = self.members.get(username)
        if member is None:
            raise PermissionDenied(
                f"El usuario «{username}» no está en el equipo de la OAC "
                f"({self.where}): pida que lo registren con su rol."
            )
        if member.role not in roles:
            wanted = " o ".join(ROLE_NAMES[r] for r in roles)
            raise PermissionDenied(f"Esta acción corresponde a: {wanted}. Su rol es {ROLE_NAMES[member.role]}.")
        return member


def current_team(team_file: Path) -> Team:
    """The team from the source the deployment chose (CVP_TEAM_SOURCE: ``file``, the default, or ``ldap``)."""
    source = (os.environ.get("CVP_TEAM_SOURCE") or "file").strip().lower()
    if source == "ldap":
        from cvp.directory import directory_team

        return directory_team(team_file)
    if source not in ("file", "archivo"):
        raise InvalidInput(
            f"CVP_TEAM_SOURCE={source!r} no es válido: use «file» (archivo del equipo) "
            "o «ldap» (grupos del directorio)."
        )
    return Team.load(team_file)


_cache: dict[tuple[str, int], Team] = {}


def _load(path: Path, mtime: int) -> Team:
    key = (str(path), mtime)
    if key not in _cache:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        members = {}
        for username, info in (raw.get("usuarios") or {}).items():
            role = (info or {}).get("rol")
            if role not in ROLES:
                raise InvalidInput(
                    f"Archivo del equipo {path}: el usuario «{username}» tiene un rol "
                    f"desconocido {role!r}; use uno de {', '.join(ROLES)}."
                )
            members[str(username)] = Member(
                str(username),
                role,
                info.get("nombre", username),
                info.get("correo", ""),
                opens_needs=info.get("abre_necesidades") is True,
            )
        _cache.clear()
        _cache[key] = Team(members, tuple(raw.get("correo_equipo") or ()))
    return _cache[key]
