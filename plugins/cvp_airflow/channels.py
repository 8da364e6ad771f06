"""Each channel's publisher, built from its Airflow Connection.

Credentials live only in Airflow Connections (UI, secrets backend or ``AIRFLOW_CONN_*``); this
module reads them when a task runs, hands them to the publisher and registers them with Airflow's
log masker. It never logs them. A channel whose connection does not exist publishes to the local
outbox (``OutboxPublisher``), as the embedded setup does; :func:`connection_status` tells the
caller which channels are in that case so that it can say so. ``sitio_web`` has no platform and
always goes to the outbox.

Connection ids default to ``x_default``, ``facebook_default``, ``instagram_default`` and
``youtube_default`` (the channel registry, ``cvp.procedure.CHANNEL``); ``CVP_<CHANNEL>_CONN_ID``
(e.g. ``CVP_X_CONN_ID``) overrides each.

Field mapping (``extra`` is the connection's JSON extra):

=========  ==============================  ====================================================
Channel    Field                           Meaning
=========  ==============================  ====================================================
x          ``password``                    OAuth 2.0 user-context access token (scopes
                                           ``tweet.read tweet.write users.read media.write``)
x          extra ``consumer_key``,         OAuth 1.0a user context instead (all four; wins
           ``consumer_secret``,            over ``password`` when all are present)
           ``access_token``,
           ``access_token_secret``
x          extra ``user_id``, ``username`` the account (saves a ``/2/users/me`` call)
x          extra ``base_url``,             API hosts (default ``https://api.x.com``; uploads
           ``upload_base_url``             default to ``base_url``)
facebook   ``login``                       Page id
facebook   ``password``                    Page access token
facebook   extra ``version``               Graph API version (default ``v25.0``)
facebook   extra ``app_secret``            signs every call with ``appsecret_proof``
facebook   extra ``base_url``,             Graph hosts (default ``https://graph.facebook.com``
           ``video_base_url``              and ``https://graph-video.facebook.com``)
instagram  ``login``                       Instagram professional account (IG user) id
instagram  ``password``                    access token
instagram  extra ``version``,              as for Facebook
           ``app_secret``, ``base_url``
instagram  extra ``bucket``                public storage in Google Cloud Storage, uploaded with
                                           the Google provider's connection ``gcp_conn_id``
                                           (default ``google_cloud_default``); URLs are
                                           ``public_base_url`` (default
                                           ``https://storage.googleapis.com/{bucket}``) + key
instagram  extra ``storage_dir`` +         or a local folder served by a web server at that URL
           ``public_base_url``
instagram  (none of those)                 the product's store (``CVP_STORAGE_URL``) when it
                                           signs URLs (``gs://``): no copy, a signed URL
youtube    extra ``client_id``,            an OAuth client authorized once by the channel's
           ``client_secret``,              owner (scopes ``youtube.upload``,
           ``refresh_token``               ``youtube.readonly``); optional ``token_uri``
youtube    (none of those)                 the Google provider's credentials for the connection
                                           (``GoogleDiscoveryApiHook``: key file, ADC, ...)
youtube    extra ``privacy_status``,       video settings (default ``public`` and ``29``,
           ``category_id``                 Nonprofits & Activism)
youtube    extra ``base_url``              API root (default ``https://youtube.googleapis.com/``)
=========  ==============================  ====================================================

Every publisher gets its ``conn_id``, so an expired credential fails with a Spanish message naming
the connection to renew. YouTube's daily quota is counted across task processes by
:class:`RecordsQuota`, in the Airflow Variable ``cvp_youtube_quota``.

Nothing heavy is imported here at module level: tweepy, httpx, googleapiclient and the Google
provider load inside :func:`publisher_for`, when a task publishes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from cvp import procedure as P
from cvp.publishers.base import AuthError

log = logging.getLogger(__name__)

# From the channel registry (cvp.procedure.CHANNEL): every channel, those without a platform, and each
# platform's default connection id.
CHANNELS = tuple(P.CHANNEL)
OUTBOX_ONLY = frozenset(P.OUTBOX_CHANNELS)
DEFAULT_CONN_IDS = {key: P.CHANNEL[key].conn_id for key in P.PLATFORM_CHANNELS}

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
YOUTUBE_SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
)
QUOTA_VARIABLE = "cvp_youtube_quota"
PACIFIC = ZoneInfo("America/Los_Angeles")

GetConnection = Callable[[str], Any]


class ConnectionMisconfigured(AuthError):
    """The connection exists but lacks a field the channel needs: a person fixes the connection."""


def conn_id_for(channel: str) -> str | None:
    """The Airflow Connection id of ``channel`` (``None`` for a channel without a platform)."""
    if channel not in CHANNELS:
        raise ValueError(f"Canal desconocido: {channel!r}")
    if channel in OUTBOX_ONLY:
        return None
    return os.environ.get(f"CVP_{channel.upper()}_CONN_ID") or DEFAULT_CONN_IDS[channel]


def lookup_connection(conn_id: str, get_connection: GetConnection | None = None):
    """The connection, or ``None`` if Airflow does not know it."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return (get_connection or BaseHook.get_connection)(conn_id)
    except AirflowNotFoundException:
        return None


def connection_status(channels: Iterable[str], *, get_connection: GetConnection | None = None) -> dict[str, str | None]:
    """For each channel, the id of its connection if it exists, else ``None`` (→ outbox)."""
    status: dict[str, str | None] = {}
    for channel in channels:
        conn_id = conn_id_for(channel)
        status[channel] = conn_id if conn_id and lookup_connection(conn_id, get_connection) is not None else None
    return status


def publisher_for(channel: str, *, get_connection: GetConnection | None = None, **options: Any):
    """The publisher of ``channel``, from its Airflow Connection; the outbox when there is none.

    ``options`` go to the platform publisher's constructor (tests pass ``sleep``, ``clock``,
    ``chunksize``...); the outbox ignores them.
    """
    conn_id = conn_id_for(channel)
    conn = lookup_connection(conn_id, get_connection) if conn_id else None
    if conn is None:
        from cvp.publishers.outbox import OutboxPublisher
        from cvp_airflow.storage import outbox

        if conn_id:
            log.warning(
                "Canal %s: no existe la conexión de Airflow '%s'; la pieza queda en la bandeja de "
                "salida local para publicarla a mano.",
                channel,
                conn_id,
            )
        return OutboxPublisher(outbox(), channel)
    extra = connection_extra(conn)
    builder = {"x": _x, "facebook": _facebook, "instagram": _instagram, "youtube": _youtube}[channel]
    publisher = builder(conn, conn_id, extra, options)
    log.info("Canal %s: se publica con la conexión de Airflow '%s'", channel, conn_id)
    return publisher


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def _x(conn, conn_id: str, extra: dict, options: dict):
    from cvp.publishers.x import X_API_URL, XPublisher

    keys = {
        k: _secret(extra.get(k)) for k in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    }
    return XPublisher(
        bearer_token=_secret(conn.password),
        **keys,
        user_id=_text(extra.get("user_id")),
        username=_text(extra.get("username")),
        base_url=extra.get("base_url") or X_API_URL,
        upload_base_url=extra.get("upload_base_url") or None,
        conn_id=conn_id,
        **options,
    )


def _facebook(conn, conn_id: str, extra: dict, options: dict):
    from cvp.publishers.facebook import FacebookPublisher
    from cvp.publishers.graph import GRAPH_BASE_URL, GRAPH_VERSION

    return FacebookPublisher(
        page_id=_required(conn.login, "login", "el id de la página de Facebook", "facebook", conn_id),
        access_token=_secret(conn.password) or "",
        base_url=extra.get("base_url") or GRAPH_BASE_URL,
        video_base_url=extra.get("video_base_url") or None,
        version=extra.get("version") or GRAPH_VERSION,
        app_secret=_secret(extra.get("app_secret")),
        conn_id=conn_id,
        **options,
    )


def _instagram(conn, conn_id: str, extra: dict, options: dict):
    from cvp.publishers.graph import GRAPH_BASE_URL, GRAPH_VERSION
    from cvp.publishers.instagram import InstagramPublisher

    return InstagramPublisher(
        ig_user_id=_required(conn.login, "login", "el id de la cuenta de Instagram", "instagram", conn_id),
        access_token=_secret(conn.password) or "",
        storage=_public_storage(extra, conn_id),
        base_url=extra.get("base_url") or GRAPH_BASE_URL,
        version=extra.get("version") or GRAPH_VERSION,
        app_secret=_secret(extra.get("app_secret")),
        conn_id=conn_id,
        **options,
    )


def _public_storage(extra: dict, conn_id: str):
    if extra.get("bucket"):
        return GcsPublicStorage(
            extra["bucket"],
            gcp_conn_id=extra.get("gcp_conn_id") or "google_cloud_default",
            public_base_url=extra.get("public_base_url") or None,
        )
    if extra.get("storage_dir") and extra.get("public_base_url"):
        from cvp.publishers.storage import LocalDirStorage

        return LocalDirStorage(extra["storage_dir"], extra["public_base_url"])
    from cvp_airflow.storage import product_storage

    storage = product_storage()
    if storage.can_publish():  # gs:// signs its own URLs: the design is fetched where it is stored
        from cvp.publishers.storage import StoragePublicUrls

        return StoragePublicUrls(storage)
    raise ConnectionMisconfigured(
        "Instagram descarga cada imagen o video desde una dirección pública y la conexión de "
        f"Airflow '{conn_id}' no indica dónde dejarlos. Agregue al campo extra \"bucket\" (Google "
        'Cloud Storage) o "storage_dir" y "public_base_url" (carpeta servida por la web), o '
        "guarde los archivos en un bucket (CVP_STORAGE_URL=gs://…): sus direcciones firmadas sirven.",
        channel="instagram",
    )


def _youtube(conn, conn_id: str, extra: dict, options: dict):
    from cvp.publishers.youtube import YouTubePublisher

    if extra.get("client_id") and extra.get("client_secret") and extra.get("refresh_token"):
        from google.oauth2.credentials import Credentials

        credentials = Credentials(
            None,
            refresh_token=_secret(extra["refresh_token"]),
            token_uri=extra.get("token_uri") or GOOGLE_TOKEN_URI,
            client_id=extra["client_id"],
            client_secret=_secret(extra["client_secret"]),
            scopes=list(YOUTUBE_SCOPES),
        )
        how = "cliente OAuth y token de actualización"
    else:
        from airflow.providers.google.common.hooks.discovery_api import GoogleDiscoveryApiHook

        credentials = GoogleDiscoveryApiHook(
            api_service_name="youtube", api_version="v3", gcp_conn_id=conn_id
        ).get_credentials()
        how = "credenciales del proveedor de Google"
    log.info("Canal youtube: autorización por %s", how)
    options.setdefault("quota", RecordsQuota())
    return YouTubePublisher(
        credentials,
        base_url=extra.get("base_url") or None,
        privacy_status=extra.get("privacy_status") or "public",
        category_id=str(extra.get("category_id") or "29"),
        conn_id=conn_id,
        **options,
    )


# --------------------------------------------------------------------------------------------
# Public storage on Google Cloud Storage
# --------------------------------------------------------------------------------------------


class GcsPublicStorage:
    """:class:`~cvp.publishers.storage.PublicStorage` on a Google Cloud Storage bucket.

    The bucket must be readable by anyone (uniform access with ``allUsers`` as Storage Object
    Viewer), because Instagram downloads each file from its URL. Keys carry the file's checksum,
    so an object that already exists is the same content and is not uploaded again on a retry.
    """

    def __init__(self, bucket: str, *, gcp_conn_id: str = "google_cloud_default", public_base_url: str | None = None):
        self.bucket = bucket
        self.gcp_conn_id = gcp_conn_id
        self.public_base_url = (public_base_url or f"https://storage.googleapis.com/{bucket}").rstrip("/")

    def __repr__(self) -> str:
        return f"GcsPublicStorage(bucket={self.bucket!r}, gcp_conn_id={self.gcp_conn_id!r})"

    def put(self, path: Any, key: str, media_type: str) -> str:
        """``path`` is a file of the product's store (or a local one): uploaded from a local copy."""
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from cvp.publishers.storage import check_key
        from cvp.storage import local_file

        name = check_key(key).as_posix()
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id)
        if hook.exists(bucket_name=self.bucket, object_name=name):
            log.info("Almacenamiento público: %s ya está en el bucket %s", name, self.bucket)
        else:
            with local_file(path) as local:
                hook.upload(bucket_name=self.bucket, object_name=name, filename=str(local), mime_type=media_type)
            log.info("Almacenamiento público: %s subido al bucket %s", name, self.bucket)
        return f"{self.public_base_url}/{quote(name)}"


# --------------------------------------------------------------------------------------------
# YouTube quota across task processes
# --------------------------------------------------------------------------------------------


class RecordsQuota:
    """YouTube Data API units spent today (Pacific-time day), in an Airflow Variable.

    Each publication runs in its own task process, so an in-memory count would start at zero
    every time. The Variable (``{"day": "YYYY-MM-DD", "spent": n}``) is shared by every worker,
    survives restarts and can be read or reset in Admin → Variables. Its limits, accepted
    because the count is advisory (YouTube's own ``quotaExceeded`` answer remains the authority
    and the publisher maps it to ``RateLimited``): a read-then-write is not atomic, so two
    uploads at the same instant may count once; and ``Variable.set`` works only inside a task.
    When the Variable cannot be read or written, the count continues in memory for this process
    and a warning is logged; publishing is never blocked by the counter.
    """

    def __init__(self, key: str = QUOTA_VARIABLE, *, clock: Callable[[], datetime] | None = None):
        self.key = key
        self.clock = clock or (lambda: datetime.now(UTC))
        self._local: dict[str, Any] = {"day": "", "spent": 0}
        self._warned = False

    def __repr__(self) -> str:
        return f"RecordsQuota(key={self.key!r})"

    def _today(self) -> str:
        return self.clock().astimezone(PACIFIC).date().isoformat()

    def _current(self, today: str) -> int:
        """Units spent today: the Variable's count, or this process's if it is higher (unsaved)."""
        local = int(self._local["spent"]) if self._local["day"] == today else 0
        try:
            from airflow.sdk import Variable

            stored = _parse_state(Variable.get(self.key, default=None))
        except Exception as exc:  # the API server unreachable
            self._warn("leer", exc)
            return local
        return max(local, int(stored["spent"]) if stored["day"] == today else 0)

    def spent_today(self) -> int:
        return self._current(self._today())

    def spend(self, units: int) -> None:
        today = self._today()
        self._local = {"day": today, "spent": self._current(today) + units}
        try:
            from airflow.sdk import Variable

            Variable.set(
                self.key,
                json.dumps(self._local),
                description="Unidades de la API de YouTube gastadas hoy (día del Pacífico).",
            )
        except Exception as exc:  # Variable.set works only inside a task
            self._warn("guardar", exc)

    def _warn(self, action: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "Cuota de YouTube: no se pudo %s la variable %s (%s); se cuenta en memoria en este proceso",
                action,
                self.key,
                type(exc).__name__,
            )


def _parse_state(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, dict) and isinstance(raw.get("spent"), int):
        return {"day": str(raw.get("day") or ""), "spent": raw["spent"]}
    return {"day": "", "spent": 0}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def connection_extra(conn) -> dict:
    extra = getattr(conn, "extra_dejson", None)
    if extra is None:
        extra = json.loads(conn.extra or "{}")
    return dict(extra or {})


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value not in (None, "") else None


def _secret(value: Any) -> str | None:
    """A credential as the publisher takes it, registered with Airflow's log masker first."""
    text = _text(value)
    if text:
        from airflow.sdk.log import mask_secret

        mask_secret(text)
    return text


def _required(value: Any, field: str, what: str, channel: str, conn_id: str) -> str:
    text = _text(value)
    if not text:
        raise ConnectionMisconfigured(
            f"Falta {what} en el campo «{field}» de la conexión de Airflow '{conn_id}'.",
            channel=channel,
        )
    return text
