"""Each channel's publisher: from its platform hook, or the local outbox when it has no connection.

Credentials live only in Airflow Connections (UI, secrets backend or ``AIRFLOW_CONN_*``) and are read
by one hook per platform (:mod:`cvp_airflow.platforms`: ``XHook``, ``FacebookPageHook``,
``InstagramHook``, ``YouTubeHook``), which also builds the metrics collectors; the field each value
goes in is the hook's, and the README's table. A channel whose connection does not exist publishes to
the local outbox (``OutboxPublisher``), as the embedded setup does; :func:`connection_status` tells
the caller which channels are in that case so that it can say so. ``sitio_web`` has no platform and
always goes to the outbox.

Connection ids default to ``x_default``, ``facebook_default``, ``instagram_default`` and
``youtube_default`` (the channel registry, ``cvp.procedure.CHANNEL``); ``CVP_<CHANNEL>_CONN_ID``
(e.g. ``CVP_X_CONN_ID``) overrides each.

Also here, because publishers use them: Instagram's public storage on Google Cloud Storage, and
YouTube's daily quota counted across task processes (:class:`RecordsQuota`, in the Airflow Variable
``cvp_youtube_quota``).

Nothing heavy is imported here at module level: tweepy, httpx, googleapiclient and the Google
provider load inside :func:`publisher_for`, when a task publishes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from cvp import procedure as P
from cvp.publishers.base import AuthError
from cvp_airflow.platforms import ConnectionMisconfigured, conn_id_for, connection_extra, hook_for

log = logging.getLogger(__name__)

__all__ = [
    "AuthError",
    "ConnectionMisconfigured",
    "GcsPublicStorage",
    "RecordsQuota",
    "conn_id_for",
    "connection_extra",
    "connection_status",
    "lookup_connection",
    "publisher_for",
]

CHANNELS = tuple(P.CHANNEL)
QUOTA_VARIABLE = "cvp_youtube_quota"
PACIFIC = ZoneInfo("America/Los_Angeles")

GetConnection = Callable[[str], Any]


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
    """The publisher of ``channel``, from its platform hook; the outbox when it has no connection.

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
    publisher = hook_for(channel, connection=conn).publisher(**options)
    log.info("Canal %s: se publica con la conexión de Airflow '%s'", channel, conn_id)
    return publisher


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
