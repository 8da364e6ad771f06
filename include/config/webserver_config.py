"""Login of the deployment with the FAB auth manager: the institution's directory (LDAP), or local users.

Airflow reads this file when ``[core] auth_manager`` is the FAB auth manager and ``[fab] config_file``
(AIRFLOW__FAB__CONFIG_FILE) points here. Everything comes from the environment, so the same file serves
every deployment:

- ``CVP_LDAP_URL`` unset: local users in Airflow's database (AUTH_DB, ``airflow users create``).
- ``CVP_LDAP_URL`` set: people log in with their directory account. The service account
  (``CVP_LDAP_BIND_DN`` / ``CVP_LDAP_BIND_PASSWORD``) finds the person under ``CVP_LDAP_USER_BASE`` by
  ``CVP_LDAP_UID_ATTR``; the person's own password is then checked by binding as them. A first login
  creates the Airflow user; every login syncs its Airflow role from the directory groups:

    CVP_LDAP_GROUP_JEFE         -> "User"   (may trigger ``necesidad_comunicacion``)
    CVP_LDAP_GROUP_PROFESIONAL  -> "Viewer" (acts through the /cvp forms, never triggers)
    CVP_LDAP_GROUP_TECNICO      -> "Viewer"
    CVP_LDAP_GROUP_LECTOR       -> "Viewer"
    CVP_LDAP_GROUP_ADMIN        -> "Admin"
    in none of them             -> "Public" (logs in, sees nothing)

  Group membership is read from the person's ``memberOf`` (Active Directory, or OpenLDAP with the
  memberof overlay, as in osixia/openldap) and, for a plain OpenLDAP without the overlay, by asking each
  configured ``groupOfNames`` / ``groupOfUniqueNames`` / ``posixGroup`` whether the person is a member.
  ``CVP_LDAP_TIMEOUT`` (seconds, default 5) bounds every call; ``CVP_LDAP_USE_TLS=1`` uses StartTLS
  (``ldaps://`` in the URL also works); ``CVP_LDAP_CA_FILE`` names the CA certificate file.

The procedure role (jefe_oac, profesional, ...) comes from the same groups with CVP_TEAM_SOURCE=ldap
(src/cvp/directory.py). A wrong password, a refused service account and an unreachable directory each
show their own Spanish message on the login page; ``POST /auth/token`` answers 401 for a wrong password
and 503 with the Spanish message when the directory cannot be asked. Passwords are never logged.
"""

from __future__ import annotations

import logging
import os

from flask_appbuilder.const import AUTH_DB, AUTH_LDAP

_log = logging.getLogger("cvp.login")
_env = os.environ.get


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "si", "sí", "on")


WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
# The login page and FAB's own messages in Spanish (flask-appbuilder ships the translation).
BABEL_DEFAULT_LOCALE = "es"
LANGUAGES = {"es": {"flag": "co", "name": "Español"}}

_LDAP_URL = (_env("CVP_LDAP_URL") or "").strip()
try:
    _TIMEOUT = float(_env("CVP_LDAP_TIMEOUT") or 5) or 5.0
except ValueError:
    raise ValueError(f"CVP_LDAP_TIMEOUT debe ser un número de segundos (vale {_env('CVP_LDAP_TIMEOUT')!r}).") from None
# Variable -> Airflow role; the procedure role for the same groups lives in cvp.directory.
_GROUP_ROLES = (
    ("CVP_LDAP_GROUP_JEFE", "User"),
    ("CVP_LDAP_GROUP_PROFESIONAL", "Viewer"),
    ("CVP_LDAP_GROUP_TECNICO", "Viewer"),
    ("CVP_LDAP_GROUP_LECTOR", "Viewer"),
    ("CVP_LDAP_GROUP_ADMIN", "Admin"),
)
_GROUPS = {}
for _name, _role in _GROUP_ROLES:
    _dn = (_env(_name) or "").strip()
    if _dn:
        _GROUPS.setdefault(_dn, [])
        if _role not in _GROUPS[_dn]:
            _GROUPS[_dn].append(_role)

LOGIN_MESSAGES = {
    "credentials": "Usuario o contraseña incorrectos. Use su usuario y contraseña del directorio institucional.",
    "unreachable": "No se pudo consultar el directorio institucional para iniciar sesión. Intente de nuevo en "
    "unos minutos; si persiste, avise a soporte TIC.",
    "service": "El directorio rechazó la cuenta de servicio de la plataforma (CVP_LDAP_BIND_DN / "
    "CVP_LDAP_BIND_PASSWORD): nadie puede iniciar sesión hasta corregirla. Avise a soporte TIC.",
}

if not _LDAP_URL:
    AUTH_TYPE = AUTH_DB
else:
    from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride
    from fastapi import HTTPException
    from flask import flash, g, has_app_context, redirect, request
    from flask_appbuilder.security.decorators import no_cache
    from flask_appbuilder.security.views import AuthLDAPView
    from flask_appbuilder.utils.base import get_safe_redirect
    from flask_appbuilder.views import expose

    AUTH_TYPE = AUTH_LDAP
    AUTH_LDAP_SERVER = _LDAP_URL
    AUTH_LDAP_USE_TLS = _truthy(_env("CVP_LDAP_USE_TLS"))
    if _env("CVP_LDAP_CA_FILE"):
        AUTH_LDAP_TLS_CACERTFILE = _env("CVP_LDAP_CA_FILE")
        AUTH_LDAP_TLS_DEMAND = True
    AUTH_LDAP_SEARCH = (_env("CVP_LDAP_USER_BASE") or "").strip()
    AUTH_LDAP_UID_FIELD = (_env("CVP_LDAP_UID_ATTR") or "uid").strip()
    AUTH_LDAP_BIND_USER = (_env("CVP_LDAP_BIND_DN") or "").strip()
    AUTH_LDAP_BIND_PASSWORD = _env("CVP_LDAP_BIND_PASSWORD") or ""
    if not AUTH_LDAP_BIND_USER:
        # No service account: bind directly as the person, whose entry is <uid>=<login>,<people base>.
        AUTH_LDAP_USERNAME_FORMAT = f"{AUTH_LDAP_UID_FIELD}=%s,{AUTH_LDAP_SEARCH}"
    AUTH_LDAP_GROUP_FIELD = "memberOf"
    AUTH_LDAP_FIRSTNAME_FIELD = "givenName"
    AUTH_LDAP_LASTNAME_FIELD = "sn"
    AUTH_LDAP_EMAIL_FIELD = "mail"
    AUTH_USER_REGISTRATION = True
    AUTH_USER_REGISTRATION_ROLE = "Public"
    AUTH_ROLES_SYNC_AT_LOGIN = True
    AUTH_ROLES_MAPPING = _GROUPS

    class DirectoryLoginUnavailable(HTTPException):
        """The directory could not decide the login (down, slow, service account refused): 503, not 'bad password'."""

        def __init__(self, reason: str):
            super().__init__(status_code=503, detail=LOGIN_MESSAGES[reason])
            self.reason = reason

    def _note(reason: str) -> None:
        if has_app_context() and not getattr(g, "cvp_ldap_failure", None):
            g.cvp_ldap_failure = reason

    def _norm_dn(dn: str) -> str:
        import ldap.dn

        try:
            return ldap.dn.dn2str(ldap.dn.str2dn(dn)).lower()
        except Exception:  # noqa: BLE001 - a malformed value is compared as written
            return dn.strip().lower()

    class CvpAuthLDAPView(AuthLDAPView):
        """FAB's LDAP login page, with a Spanish message for each way the login can fail."""

        invalid_login_message = LOGIN_MESSAGES["credentials"]

        @expose("/login/", methods=["GET", "POST"])
        @no_cache
        def login(self):
            try:
                return super().login()
            except DirectoryLoginUnavailable as exc:
                flash(exc.detail, "danger")
                return redirect(self.appbuilder.get_url_for_login_with(get_safe_redirect(request.args.get("next", ""))))

    class CvpLdapSecurityManager(FabAirflowSecurityManagerOverride):
        """FAB's LDAP login with bounded network waits, groupOfNames membership and failures told apart."""

        authldapview = CvpAuthLDAPView

        def auth_user_ldap(self, username, password, rotate_session_id=True):
            # One spelling per person: the Airflow user name is the procedure's key (cvp.directory lowercases too).
            username = (username or "").strip().lower()
            if has_app_context():
                g.cvp_ldap_failure = None
            user = super().auth_user_ldap(username, password, rotate_session_id=rotate_session_id)
            reason = getattr(g, "cvp_ldap_failure", None) if has_app_context() else None
            if user is None and reason in ("unreachable", "service"):
                _log.warning(
                    "Inicio de sesión de «%s» sin decidir: %s (%s)",
                    username,
                    LOGIN_MESSAGES[reason],
                    self.auth_ldap_server,
                )
                # A local emergency account (airflow users create) still works while the directory is down.
                local = self.auth_user_db(username, password, rotate_session_id=rotate_session_id)
                if local is not None:
                    return local
                raise DirectoryLoginUnavailable(reason)
            if user is None and reason == "credentials":
                _log.info("Inicio de sesión rechazado para «%s»: usuario o contraseña incorrectos.", username)
            return user

        @staticmethod
        def _bounded(ldap, con) -> None:
            # libldap waits forever by default; the first call on ``con`` opens the connection.
            con.set_option(ldap.OPT_NETWORK_TIMEOUT, _TIMEOUT)
            con.set_option(ldap.OPT_TIMEOUT, _TIMEOUT)
            con.timeout = _TIMEOUT

        def _ldap_bind_indirect(self, ldap, con) -> None:
            self._bounded(ldap, con)
            try:
                super()._ldap_bind_indirect(ldap, con)
            except ldap.INVALID_CREDENTIALS:
                _note("service")
                raise
            except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR):
                _note("unreachable")
                raise

        def _ldap_bind(self, ldap, con, dn: str, password: str) -> bool:
            self._bounded(ldap, con)
            try:
                ok = FabAirflowSecurityManagerOverride._ldap_bind(ldap, con, dn, password)
            except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR):
                _note("unreachable")
                raise
            if not ok:
                _note("credentials")
            return ok

        def _search_ldap(self, ldap, con, username):
            try:
                user_dn, info = super()._search_ldap(ldap, con, username)
                if user_dn is None:
                    _note("credentials")
                    return user_dn, info
                info[self.auth_ldap_group_field] = self._groups_of(ldap, con, user_dn, username, info)
            except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR):
                _note("unreachable")
                raise
            return user_dn, info

        def _groups_of(self, ldap, con, user_dn: str, username: str, info: dict) -> list[bytes]:
            """The configured groups the person belongs to, spelled as in AUTH_ROLES_MAPPING (exact match)."""
            import ldap.filter

            configured = {_norm_dn(dn): dn for dn in self.auth_roles_mapping}
            found: dict[str, str] = {}
            for raw in info.get(self.auth_ldap_group_field, []):
                value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                found.setdefault(_norm_dn(value), configured.get(_norm_dn(value), value))
            dn_f = ldap.filter.escape_filter_chars(user_dn)
            uid_f = ldap.filter.escape_filter_chars(username)
            flt = f"(|(member={dn_f})(uniqueMember={dn_f})(memberUid={uid_f}))"
            for norm, dn in configured.items():
                if norm in found:
                    continue
                try:
                    if con.search_s(dn, ldap.SCOPE_BASE, flt, ["1.1"]):
                        found[norm] = dn
                except ldap.NO_SUCH_OBJECT:
                    _log.warning("El grupo %s configurado en CVP_LDAP_GROUP_* no existe en el directorio.", dn)
            return [dn.encode() for dn in found.values()]

    SECURITY_MANAGER_CLASS = CvpLdapSecurityManager
