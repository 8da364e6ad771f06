"""Who is asking, in which procedure role, and whether a write really comes from our own forms.

Login is Airflow's: every route depends on ``airflow.api_fastapi.core_api.security.get_user``, which
accepts the UI's ``_token`` cookie or an ``Authorization: Bearer`` JWT (401 without one, 403 with a
bad one). The procedure role comes from the team file (include/config/equipo.yml, or CVP_TEAM_FILE),
read again whenever it changes, and is checked by every action.

Cross-site request forgery: a browser attaches the ``_token`` cookie to any request, even one
started by another site, so every unsafe request authenticated by that cookie must also carry a
token only our pages know: ``HMAC-SHA256(key, username|issued)``, keyed by the api-server's JWT
secret (``[api_auth] jwt_secret``), sent as the ``codigo_csrf`` form field or the ``X-CSRF-Token``
header, valid for ``CSRF_MAX_AGE`` seconds. A request whose credential is an ``Authorization:
Bearer`` header is exempt: a browser never adds that header by itself, and another site cannot add
it without the token, so such a request is the client's own intent (scripts, the command line).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials

from cvp import procedure as P
from cvp.errors import PermissionDenied
from cvp.office import Office
from cvp_airflow.web.services import get_office

CSRF_FIELD = "codigo_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_MAX_AGE = 24 * 3600
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class CsrfRefused(PermissionDenied):
    """A write without a valid anti-forgery token: nothing was done."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in Airflow user and their role in the procedure."""

    username: str
    role: str
    name: str
    via_bearer: bool = False

    @property
    def role_name(self) -> str:
        return P.ROLE_NAMES.get(self.role, self.role)


def _via_bearer(credentials: HTTPAuthorizationCredentials | None) -> bool:
    return bool(credentials and credentials.scheme.lower() == "bearer" and credentials.credentials)


async def authenticated(request: Request, user: BaseUser = Depends(get_user)) -> BaseUser:
    """Airflow's login, nothing more (static files and the error pages of people outside the team)."""
    request.state.cvp_username = user.get_name()
    return user


def current_viewer(
    request: Request,
    user: BaseUser = Depends(authenticated),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    office: Office = Depends(get_office),
) -> Viewer:
    """The logged-in user as a member of the office's team; someone outside the team sees nothing."""
    username = user.get_name()
    team = office.team
    member = team.members.get(username)
    if member is None:
        where = "los grupos del directorio" if team.source == "directorio" else "el archivo del equipo"
        raise PermissionDenied(
            f"El usuario «{username}» no está en el equipo de la Oficina Asesora de "
            f"Comunicaciones: pida que lo registren con su rol en {where}."
        )
    viewer = Viewer(username, member.role, member.name, via_bearer=_via_bearer(credentials))
    request.state.cvp_viewer = viewer
    return viewer


# --- anti-forgery tokens -------------------------------------------------------------------------


def _key() -> bytes:
    from airflow.configuration import conf

    secret = conf.get("api_auth", "jwt_secret", fallback="") or ""
    if not secret:
        raise RuntimeError("[api_auth] jwt_secret is empty: the forms cannot sign their anti-forgery tokens")
    return hashlib.sha256(b"cvp-forms-csrf\0" + secret.encode()).digest()


def _sign(username: str, issued: int) -> str:
    return hmac.new(_key(), f"{username}|{issued}".encode(), hashlib.sha256).hexdigest()


def csrf_token(username: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return f"{issued}.{_sign(username, issued)}"


def csrf_valid(username: str, token: str | None, now: float | None = None) -> bool:
    if not token or "." not in token:
        return False
    issued_s, _, sig = token.partition(".")
    try:
        issued = int(issued_s)
    except ValueError:
        return False
    now = now if now is not None else time.time()
    if not (now - CSRF_MAX_AGE <= issued <= now + 60):
        return False
    # As bytes: compare_digest refuses (TypeError, a 500) a str with non-ASCII characters.
    return hmac.compare_digest(sig.encode("utf-8", "replace"), _sign(username, issued).encode())


def check_csrf(viewer: Viewer, token: str | None) -> None:
    """Refuse (403, in Spanish) a cookie-authenticated write without a valid token."""
    if viewer.via_bearer:
        return
    if not token:
        raise CsrfRefused(
            "Falta el código de seguridad del formulario (protección contra solicitudes "
            "falsificadas). Recargue la página y vuelva a intentarlo."
        )
    if not csrf_valid(viewer.username, token):
        raise CsrfRefused(
            "El código de seguridad del formulario no es válido o caducó. Recargue la página "
            "y vuelva a intentarlo; no se registró nada."
        )


async def csrf_protect(request: Request, viewer: Viewer = Depends(current_viewer)) -> Viewer:
    """Dependency of every unsafe route except the upload, which checks the token while streaming."""
    if request.method in UNSAFE_METHODS:
        token = request.headers.get(CSRF_HEADER)
        if not token and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            token = form.get(CSRF_FIELD)
        check_csrf(viewer, token if isinstance(token, str) else None)
    return viewer


def is_auth_failure(exc: HTTPException) -> bool:
    """Airflow's own refusals of the login (no token, expired, invalid), as opposed to ours."""
    return exc.status_code in (401, 403) and exc.detail in ("Not authenticated", "Token Expired", "Invalid JWT token")
