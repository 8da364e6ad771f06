"""X (Twitter): the connection ``cvp_x``, its publisher and collector, and the OAuth 2.0 token's renewal.

An OAuth 2.0 user token lasts two hours. With the app's ``client_id`` (and ``client_secret`` for a
confidential client) and a refresh token (scope ``offline.access``), the hook renews it before it is
used; X rotates refresh tokens, so each renewal is stored at once (see :mod:`.base`). OAuth 1.0a
user keys do not expire.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from cvp_airflow.connection_forms import FORMS
from cvp_airflow.platforms import base
from cvp_airflow.platforms.base import (
    PlatformHook,
    TokenRefused,
    TokenStore,
    fingerprint,
    http_get,
    http_post,
    json_of,
    parse_time,
    secret,
    text,
    unavailable,
    utcnow,
)

log = logging.getLogger(__name__)

OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
#: What publishing and the metrics need (https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code).
NEEDED_SCOPES = ("tweet.read", "tweet.write", "users.read", "media.write")
REFRESH_MARGIN = timedelta(minutes=5)


class XHook(PlatformHook):
    """The CVP's account on X."""

    channel = "x"
    label = "X"
    conn_name_attr = "x_conn_id"
    default_conn_name = "x_default"
    conn_type = "cvp_x"
    hook_name = FORMS["cvp_x"]["hook_name"]

    def __init__(self, x_conn_id: str | None = None, *, connection=None):
        super().__init__(x_conn_id, connection=connection)
        self._store = TokenStore(self.conn_id)
        self._renewed: dict | None = None

    # --- credentials ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        from cvp.publishers.x import X_API_URL

        return (self.extra.get("base_url") or X_API_URL).rstrip("/")

    def _oauth1(self) -> dict[str, str | None]:
        extra = self.extra
        return {k: secret(extra.get(k)) for k in OAUTH1_KEYS}

    def _base(self) -> str:
        return fingerprint(self.connection.password, self.extra.get("refresh_token"))

    def tokens(self) -> dict:
        """The OAuth 2.0 tokens: the connection's, or those renewed since it was last edited."""
        if self._renewed is not None:
            return dict(self._renewed)
        extra = self.extra
        found = {
            "access_token": secret(self.connection.password),
            "refresh_token": secret(extra.get("refresh_token")),
            "expires_at": extra.get("expires_at"),
            "scope": extra.get("scope") or "",
        }
        renewed = self._store.load(self._base())
        found.update({k: v for k, v in renewed.items() if k in found and v})
        return found

    def can_refresh(self, tokens: dict | None = None) -> bool:
        return bool((tokens or self.tokens()).get("refresh_token") and text(self.extra.get("client_id")))

    def refresh(self, tokens: dict | None = None) -> dict:
        """Renew the access token with the refresh token, and store both (X rotates the refresh token)."""
        tokens = tokens or self.tokens()
        extra = self.extra
        client_id = text(extra.get("client_id"))
        client_secret = secret(extra.get("client_secret"))
        response = http_post(
            f"{self.base_url}/2/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id},
            auth=(client_id, client_secret) if client_secret else None,
            label="X",
        )
        if problem := unavailable("X", response):
            raise problem
        body = json_of(response)
        if response.status_code != 200 or not body.get("access_token"):
            why = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
            raise TokenRefused(
                f"X no renovó el token de la conexión de Airflow '{self.conn_id}' ({why}): autorice de nuevo "
                "la aplicación y guarde en la conexión el token de acceso y el token de actualización nuevos.",
                channel=self.channel,
            )
        renewed = {
            "access_token": secret(body["access_token"]),
            "refresh_token": secret(body.get("refresh_token")) or tokens["refresh_token"],
            "expires_at": (utcnow() + timedelta(seconds=int(body.get("expires_in") or 7200))).isoformat(),
            "scope": body.get("scope") or tokens.get("scope") or "",
        }
        if not self._store.save(self._base(), renewed):
            log.warning(
                "Canal x: el token renovado no quedó guardado; X ya invalidó el token de actualización de la "
                "conexión '%s': guarde uno nuevo en la conexión si la próxima renovación falla.",
                self.conn_id,
            )
        self._renewed = renewed
        log.info("Canal x: token de la conexión '%s' renovado", self.conn_id)
        return dict(renewed)

    def access_token(self, now: datetime | None = None) -> str | None:
        """The OAuth 2.0 token to use now, renewed first when it is about to expire (or when nobody knows)."""
        tokens = self.tokens()
        if self.can_refresh(tokens):
            expires = parse_time(tokens.get("expires_at"))
            if expires is None or expires - (now or utcnow()) <= REFRESH_MARGIN:
                tokens = self.refresh(tokens)
        return tokens.get("access_token")

    # --- what the pipeline uses -----------------------------------------------------------------

    def publisher(self, **options: Any):
        from cvp.publishers.x import X_API_URL, XPublisher

        extra = self.extra
        return XPublisher(
            bearer_token=self.access_token(),
            **self._oauth1(),
            user_id=text(extra.get("user_id")),
            username=text(extra.get("username")),
            base_url=extra.get("base_url") or X_API_URL,
            upload_base_url=extra.get("upload_base_url") or None,
            conn_id=self.conn_id,
            **options,
        )

    def collector(self):
        from cvp.engagement import X_API_URL, XCollector

        return XCollector(
            bearer_token=self.access_token(),
            **self._oauth1(),
            base_url=self.extra.get("base_url") or X_API_URL,
            conn_id=self.conn_id,
        )

    def check(self, now: datetime | None = None):
        """``GET /2/users/me``: the cheapest call that needs a user's credentials."""
        from cvp.channel_health import Health

        now = now or utcnow()
        keys = self._oauth1()
        tokens: dict = {}
        renewed = False
        kwargs: dict[str, Any] = {}
        if all(keys.values()):
            from requests_oauthlib import OAuth1

            kwargs["auth"] = OAuth1(
                keys["consumer_key"], keys["consumer_secret"], keys["access_token"], keys["access_token_secret"]
            )
        else:
            tokens = self.tokens()
            if self.can_refresh(tokens) and base.in_task():  # X rotates the refresh token: renew only where it is kept
                try:
                    tokens, renewed = self.refresh(tokens), True
                except TokenRefused as exc:
                    return Health(False, exc.message)
            if not tokens.get("access_token"):
                return Health(
                    False,
                    f"La conexión de Airflow '{self.conn_id}' no tiene token de acceso de X (campo «Token de acceso "
                    "OAuth 2.0») ni las cuatro claves OAuth 1.0a.",
                )
            kwargs["headers"] = {"Authorization": f"Bearer {tokens['access_token']}"}
        response = http_get(f"{self.base_url}/2/users/me", label="X", **kwargs)
        if problem := unavailable("X", response):
            raise problem
        body = json_of(response)
        if response.status_code == 401 and self.can_refresh(tokens) and not renewed:
            return Health(
                True,
                "El token de acceso (dura 2 horas) venció; no se renueva desde aquí porque X cambia el token de "
                "actualización en cada uso: la verificación diaria y cada publicación lo renuevan.",
            )
        if response.status_code == 401:
            return Health(
                False,
                f"X rechazó el token de la conexión de Airflow '{self.conn_id}' (401 Unauthorized): venció o fue "
                "revocado. Genere uno nuevo y guárdelo en la conexión.",
            )
        if response.status_code == 403:
            return Health(
                True,
                f"X negó leer la cuenta (403 Forbidden: {body.get('detail') or 'sin detalle'}).",
                missing=("users.read",),
            )
        if response.status_code != 200:
            return Health(False, f"X respondió {response.status_code} al verificar la conexión '{self.conn_id}'.")
        user = body.get("data") or {}
        granted = tuple(str(tokens.get("scope") or "").split())
        missing = tuple(s for s in NEEDED_SCOPES if s not in granted) if granted else ()
        # A token that can be renewed has no date to warn about; one that cannot dies on its own date.
        expires = None if (all(keys.values()) or self.can_refresh(tokens)) else parse_time(tokens.get("expires_at"))
        return Health(
            True,
            "Token renovado con el token de actualización." if renewed else "",
            expires_at=expires,
            scopes=granted,
            missing=missing,
            account=f"@{user['username']}" if user.get("username") else str(user.get("id") or ""),
            renewed=renewed,
        )
