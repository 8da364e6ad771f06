"""YouTube: the connection ``cvp_youtube``, its publisher and collector, and the Google credentials' check.

Credentials, in this order: an OAuth client authorized once by the channel's owner (``client_id``,
``client_secret``, ``refresh_token``); for reading metrics only, an API key (``api_key``); else the
Google provider's credentials for the connection (``key_path``, ``keyfile_dict``, ADC...). Google
refresh tokens do not expire on a date and do not rotate: google-auth renews the access token on each
use, and the daily check's use keeps an otherwise idle refresh token alive (Google revokes those
unused for six months, and after seven days those of an OAuth app left in "Testing").
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from cvp_airflow.connection_forms import FORMS
from cvp_airflow.platforms.base import (
    CheckUnavailable,
    PlatformHook,
    http_get,
    json_of,
    secret,
    unavailable,
    utcnow,
)

log = logging.getLogger(__name__)

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
YOUTUBE_API_URL = "https://youtube.googleapis.com/"
UPLOAD = "https://www.googleapis.com/auth/youtube.upload"
READONLY = "https://www.googleapis.com/auth/youtube.readonly"
FULL = "https://www.googleapis.com/auth/youtube"
YOUTUBE_SCOPES = (UPLOAD, READONLY)


class YouTubeHook(PlatformHook):
    """The CVP's YouTube channel."""

    channel = "youtube"
    label = "YouTube"
    conn_name_attr = "youtube_conn_id"
    default_conn_name = "youtube_default"
    conn_type = "cvp_youtube"
    hook_name = FORMS["cvp_youtube"]["hook_name"]

    def __init__(self, youtube_conn_id: str | None = None, *, connection=None):
        super().__init__(youtube_conn_id, connection=connection)

    # --- credentials ------------------------------------------------------------------------------

    def _oauth(self) -> bool:
        extra = self.extra
        return bool(extra.get("client_id") and extra.get("client_secret") and extra.get("refresh_token"))

    def credentials(self, scopes=YOUTUBE_SCOPES):
        """The OAuth client's credentials, or the Google provider's for this connection."""
        extra = self.extra
        if self._oauth():
            from google.oauth2.credentials import Credentials

            return Credentials(
                None,
                refresh_token=secret(extra["refresh_token"]),
                token_uri=extra.get("token_uri") or GOOGLE_TOKEN_URI,
                client_id=extra["client_id"],
                client_secret=secret(extra["client_secret"]),
                scopes=list(scopes),
            )
        from airflow.providers.google.common.hooks.discovery_api import GoogleDiscoveryApiHook

        return GoogleDiscoveryApiHook(
            api_service_name="youtube", api_version="v3", gcp_conn_id=self.conn_id
        ).get_credentials()

    @property
    def root(self) -> str:
        return (self.extra.get("base_url") or YOUTUBE_API_URL).rstrip("/") + "/"

    # --- what the pipeline uses -----------------------------------------------------------------

    def publisher(self, **options: Any):
        from cvp.publishers.youtube import YouTubePublisher
        from cvp_airflow.channels import RecordsQuota

        extra = self.extra
        log.info(
            "Canal youtube: autorización por %s",
            "cliente OAuth y token de actualización" if self._oauth() else "credenciales del proveedor de Google",
        )
        options.setdefault("quota", RecordsQuota())
        return YouTubePublisher(
            self.credentials(),
            base_url=extra.get("base_url") or None,
            privacy_status=extra.get("privacy_status") or "public",
            category_id=str(extra.get("category_id") or "29"),
            conn_id=self.conn_id,
            **options,
        )

    def collector(self):
        from cvp.engagement import YouTubeCollector

        extra = self.extra
        credentials, api_key = None, None
        if self._oauth():
            credentials = self.credentials([READONLY])
        elif extra.get("api_key"):
            api_key = secret(extra["api_key"])
        else:
            credentials = self.credentials()
        return YouTubeCollector(
            credentials, api_key=api_key, base_url=extra.get("base_url") or None, conn_id=self.conn_id
        )

    def check(self, now: datetime | None = None):
        """``channels?part=id&mine=true`` (1 quota unit) after renewing the access token."""
        from cvp.channel_health import Health

        now = now or utcnow()
        extra = self.extra
        if not self._oauth() and extra.get("api_key"):
            return self._check_api_key(secret(extra["api_key"]))
        from google.auth.exceptions import RefreshError, TransportError
        from google.auth.transport.requests import Request

        try:
            credentials = self.credentials()
        except Exception as exc:  # noqa: BLE001 - the Google provider's many ways to miss a key file or ADC
            return Health(
                False,
                f"No se obtuvieron credenciales de Google para la conexión de Airflow '{self.conn_id}' "
                f"({type(exc).__name__}): indique el cliente OAuth (client_id, client_secret, refresh_token) o "
                "una cuenta de servicio.",
            )
        try:
            credentials.refresh(Request())
        except RefreshError as exc:
            why = str(exc.args[0]) if exc.args else type(exc).__name__
            return Health(
                False,
                f"Google no renovó el acceso de la conexión de Airflow '{self.conn_id}' ({why}): el token de "
                "actualización fue revocado o venció. El dueño del canal debe autorizar de nuevo la aplicación y "
                "guardar el token de actualización nuevo en la conexión.",
            )
        except TransportError as exc:
            raise CheckUnavailable(f"Google no respondió ({type(exc).__name__}): se verifica más tarde.") from None
        granted = tuple(getattr(credentials, "granted_scopes", None) or ())
        response = http_get(
            f"{self.root}youtube/v3/channels",
            params={"part": "id", "mine": "true"},
            headers={"Authorization": f"Bearer {credentials.token}"},
            label="YouTube",
        )
        if problem := unavailable("YouTube", response):
            raise problem
        body = json_of(response)
        error = body.get("error") or {}
        reasons = {e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)}
        if response.status_code == 403 and reasons & {"insufficientPermissions", "forbidden"}:
            return Health(
                True,
                f"YouTube negó leer el canal ({error.get('message') or 'permisos insuficientes'}).",
                scopes=granted,
                missing=tuple(s for s in YOUTUBE_SCOPES if not _covers(granted, s)) or (READONLY,),
            )
        if response.status_code == 403 and "quotaExceeded" in reasons:
            raise CheckUnavailable("YouTube: la cuota diaria está agotada; se verifica mañana.")
        if response.status_code != 200:
            return Health(
                False,
                f"YouTube rechazó la conexión de Airflow '{self.conn_id}' ({response.status_code}: "
                f"{error.get('message') or 'sin detalle'}).",
            )
        items = body.get("items") or []
        if not items:
            return Health(False, "La cuenta autorizada en la conexión no tiene canal de YouTube.")
        return Health(
            True,
            scopes=granted,
            missing=tuple(s for s in YOUTUBE_SCOPES if not _covers(granted, s)) if granted else (),
            account=str(items[0].get("id") or ""),
        )

    def _check_api_key(self, key: str):
        from cvp.channel_health import Health

        response = http_get(
            f"{self.root}youtube/v3/videoCategories",
            params={"part": "id", "regionCode": "CO"},
            headers={"X-goog-api-key": key},
            label="YouTube",
        )
        if problem := unavailable("YouTube", response):
            raise problem
        if response.status_code != 200:
            message = (json_of(response).get("error") or {}).get("message") or "sin detalle"
            return Health(False, f"YouTube rechazó la clave de API de la conexión '{self.conn_id}' ({message}).")
        return Health(
            True,
            "La clave de API solo lee métricas públicas: para publicar, la conexión necesita un cliente OAuth.",
            missing=(UPLOAD,),
        )


def _covers(granted: tuple[str, ...], scope: str) -> bool:
    return scope in granted or FULL in granted
