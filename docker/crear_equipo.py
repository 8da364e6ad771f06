"""Create the office's team (CVP_TEAM_FILE) as FAB users; run by airflow-init.sh without a directory.

Each missing person gets a random initial password, kept only in a secrets file that is created 0600
on a volume no other service mounts; the log says who was created and where the file is, never a
password. A person who already exists is left alone: running init again rotates and reveals nothing.

    python crear_equipo.py EQUIPO.yml ARCHIVO_DE_CONTRASEÑAS
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvp.team import Team

# How the administrator reads the file from the host: `init` has exited, so a fresh container of the
# same service (same volume) prints it; `--no-deps` starts nothing else.
READ_COMMAND = "docker compose run --rm --no-deps --entrypoint cat init {path}"
HEADER = (
    "# Contraseñas iniciales de las personas del equipo que creó `init` (usuario: contraseña).\n"
    "# Entréguelas por un canal privado; cada persona la cambia en Airflow (Seguridad → Usuarios).\n"
    "# Después de entregarlas puede borrar este archivo: `init` no vuelve a crear a nadie que exista.\n"
)


def say(message: str) -> None:
    print(f"[init] {message}", flush=True)


class SecretsFile:
    """The initial passwords file: opened (created 0600) only when a first person is created."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def open(self) -> None:
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise SystemExit(
                f"[init] No se pudo escribir el archivo de contraseñas iniciales {self.path}: {exc.strerror}. "
                "No se creó a nadie sin poder guardar su contraseña."
            ) from exc
        # A file left by an earlier run (or copied in) keeps whatever mode it had: make it 0600.
        os.fchmod(fd, 0o600)
        self._fd = fd
        if os.fstat(fd).st_size == 0:
            self._write(HEADER)

    def keep(self, username: str, password: str) -> None:
        self.open()
        self._write(f"{username}: {password}\n")

    def _write(self, text: str) -> None:
        assert self._fd is not None
        os.write(self._fd, text.encode("utf-8"))
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def create_team(
    sm: Any,
    team: Team,
    secrets_path: Path,
    *,
    report: Callable[[str], None] = say,
    new_password: Callable[[], str] = lambda: secrets.token_urlsafe(12),
) -> list[str]:
    """Create each person of ``team`` that ``sm`` (FAB's security manager) does not know; return their names.

    The secrets file is opened before the first person is created, so nobody is created whose password
    could not be kept; each password is written (and synced) as soon as its person exists.
    """
    kept = SecretsFile(secrets_path)
    created: list[str] = []
    try:
        for username, member in team.members.items():
            if sm.find_user(username=username):
                continue
            # Only who opens needs (the head, or whoever the team file allows) may trigger runs in
            # Airflow; the others act through the /cvp forms.
            role = sm.find_role("User" if member.may_open_needs else "Viewer")
            first, _, last = (member.name or username).partition(" ")
            email = member.email or f"{username}@cvp.invalid"
            kept.open()
            password = new_password()
            if not sm.add_user(username, first, last or "-", email, role, password):
                raise SystemExit(f"[init] No se pudo crear el usuario «{username}» (¿correo repetido: {email}?).")
            kept.keep(username, password)
            created.append(username)
            report(
                f"Usuario «{username}» creado (rol de Airflow {role.name}); su contraseña inicial está en {secrets_path}."
            )
    finally:
        kept.close()
    if created:
        report(
            f"{len(created)} contraseña(s) inicial(es) en {secrets_path} (solo legible por su dueño; nunca se "
            f"muestran en el registro). Para leerlas: {READ_COMMAND.format(path=secrets_path)}"
        )
    else:
        report("Todas las personas del equipo ya tienen usuario: no se creó ni se cambió ninguna contraseña.")
    return created


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("[init] Uso: crear_equipo.py EQUIPO.yml ARCHIVO_DE_CONTRASEÑAS")
    team_file, secrets_path = argv
    team = Team.load(Path(team_file))  # the forms' own reading: the same roles, or a Spanish refusal
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        create_team(appbuilder.sm, team, Path(secrets_path))


if __name__ == "__main__":
    main(sys.argv[1:])
