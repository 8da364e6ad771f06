"""YouTube: one video per piece, uploaded with ``videos.insert`` as a resumable upload.

The upload goes through google-api-python-client (``build("youtube", "v3")`` with the bundled
static discovery document) and ``MediaIoBaseUpload(resumable=True)`` over the stored file (read
by offset), driven chunk by chunk with ``next_chunk``. A resumable upload is safe to retry: after
a network failure or a 5xx the client first asks the session how many bytes arrived (an empty
``PUT`` with ``Content-Range: bytes */size``), and the session answers with the finished video
if the last chunk had in fact been received. So chunks are retried here (bounded, with backoff); only when
the retries run out after the last chunk was sent is the outcome unknown.

Quota: the YouTube Data API gives a project 10,000 units a day, reset at midnight Pacific time;
``videos.insert`` has been documented at 1,600 units and ``thumbnails.set`` at 50. Units spent
are tracked in an injectable :class:`QuotaCounter`, and an upload the remaining quota cannot
pay for is refused before any call.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from cvp import procedure as P
from cvp.config import bogota
from cvp.publishers.base import (
    AuthError,
    MediaFile,
    MediaRejected,
    OutcomeUnknown,
    Piece,
    PublishError,
    PublishResult,
    RateLimited,
    TransientError,
    about_to_post,
    announces_post,
    check_file,
    is_recent_enough,
    not_before,
    parse_datetime,
    same_text,
)
from cvp.publishers.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    Clock,
    Sleep,
    backoff_delay,
    utcnow,
    with_retries,
)

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")

DAILY_QUOTA = 10_000
INSERT_COST = 1600
THUMBNAIL_COST = 50
LIST_COST = 1

_YOUTUBE = P.CHANNEL["youtube"]  # limits from the channel registry, as the pre-review checks read them
VIDEO_MAX_BYTES = _YOUTUBE.media.videos.max_size
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024
THUMBNAIL_TYPES = frozenset({"image/jpeg", "image/png"})
TITLE_MAX = _YOUTUBE.text.title_max_chars
DESCRIPTION_MAX_BYTES = _YOUTUBE.text.max_length
TAGS_MAX_CHARS = 500
CHUNK_QUANTUM = 256 * 1024  # resumable chunks must be multiples of 256 KiB
CHUNK_SIZE = 32 * CHUNK_QUANTUM  # 8 MiB

_TRANSPORT_ERRORS = (OSError, httplib2.HttpLib2Error, TransportError)


# --------------------------------------------------------------------------------------------
# Quota
# --------------------------------------------------------------------------------------------


class QuotaCounter(Protocol):
    """Units of YouTube Data API quota spent today (the Pacific-time day)."""

    def spent_today(self) -> int: ...

    def spend(self, units: int) -> None: ...


class InMemoryQuota:
    """A :class:`QuotaCounter` kept in memory, reset when the Pacific-time date changes.

    Good for one process; a deployment with several workers shares one backed by the records
    database or an Airflow Variable (same two methods).
    """

    def __init__(self, clock: Clock = utcnow):
        self.clock = clock
        self._day = None
        self._spent = 0

    def _roll(self) -> None:
        day = self.clock().astimezone(PACIFIC).date()
        if day != self._day:
            self._day, self._spent = day, 0

    def spent_today(self) -> int:
        self._roll()
        return self._spent

    def spend(self, units: int) -> None:
        self._roll()
        self._spent += units


def next_pacific_midnight(now: datetime) -> datetime:
    """When the YouTube quota resets next (midnight America/Los_Angeles), in UTC."""
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), dtime(0), tzinfo=PACIFIC)
    return midnight.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Text rules
# --------------------------------------------------------------------------------------------

_ANGLE = str.maketrans({"<": "‹", ">": "›"})  # YouTube rejects < and > in titles and descriptions


def video_title(piece: Piece) -> str:
    """The title sent: the piece's title, else its first line, at most 100 characters."""
    source = piece.title.strip() or next((line for line in piece.text.splitlines() if line.strip()), "")
    title = re.sub(r"\s+", " ", source).strip().translate(_ANGLE)
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1].rstrip() + "…"
    return title


def video_description(piece: Piece) -> str:
    return piece.text.strip().translate(_ANGLE)


def tags_length(tags: tuple[str, ...]) -> int:
    """YouTube's count for the 500-character tag limit: a tag with spaces counts its quotes."""
    if not tags:
        return 0
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + len(tags) - 1


def _thumbnail(piece: Piece) -> MediaFile | None:
    value = piece.extra.get("thumbnail")
    if value is None or isinstance(value, MediaFile):
        return value
    path = Path(value)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    size = path.stat().st_size if path.is_file() else 0
    return MediaFile(path=path, media_type=media_type, size=size, sha256="")


# --------------------------------------------------------------------------------------------
# Publisher
# --------------------------------------------------------------------------------------------


class YouTubePublisher:
    """Publishes a piece as a video on the channel of the given OAuth credentials.

    Pass google-auth ``credentials`` (scope ``https://www.googleapis.com/auth/youtube.upload``
    plus ``youtube.readonly`` for reconciliation), or an authorized ``http``; with both, the
    credentials authorize that ``http`` (tests pass googleapiclient's ``HttpMockSequence``).
    """

    channel = "youtube"

    def __init__(
        self,
        credentials: Any = None,
        *,
        http: Any = None,
        base_url: str | None = None,
        category_id: str = "29",
        privacy_status: str = "public",
        made_for_kids: bool = False,
        default_language: str | None = "es",
        notify_subscribers: bool = True,
        quota: QuotaCounter | None = None,
        daily_quota: int = DAILY_QUOTA,
        insert_cost: int = INSERT_COST,
        chunksize: int = CHUNK_SIZE,
        timeout: float = 120.0,
        max_chunk_retries: int = 5,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        lookback: int = 25,
        conn_id: str = "youtube_default",
        sleep: Sleep = time.sleep,
        clock: Clock = utcnow,
    ):
        if credentials is None and http is None:
            raise AuthError(
                f"Faltan las credenciales de YouTube. Configúrelas en la conexión de Airflow '{conn_id}'.",
                channel=self.channel,
            )
        if chunksize != -1 and (chunksize <= 0 or chunksize % CHUNK_QUANTUM):
            raise ValueError("chunksize must be -1 or a positive multiple of 256 KiB")
        if credentials is not None:
            import google_auth_httplib2

            if http is None:
                # YouTube answers "308 Resume Incomplete" between chunks: not a redirect to follow.
                http = httplib2.Http(timeout=timeout)
                http.redirect_codes = http.redirect_codes - {308}
            http = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
        self.conn_id = conn_id
        self.category_id = category_id
        self.privacy_status = privacy_status
        self.made_for_kids = made_for_kids
        self.default_language = default_language
        self.notify_subscribers = notify_subscribers
        self.quota: QuotaCounter = quota if quota is not None else InMemoryQuota(clock)
        self.daily_quota = daily_quota
        self.insert_cost = insert_cost
        self.chunksize = chunksize
        self.max_chunk_retries = max_chunk_retries
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lookback = max(1, min(50, lookback))
        self.sleep = sleep
        self.clock = clock
        if base_url:
            self._yt = _service_at(base_url, http)
        else:
            self._yt = build("youtube", "v3", http=http, static_discovery=True, cache_discovery=False)
        self._uploads_playlist: str | None = None

    # -- Publisher protocol ------------------------------------------------------------------

    def validate(self, piece: Piece) -> None:
        videos = [m for m in piece.media if m.is_video]
        if len(piece.media) != 1 or len(videos) != 1:
            raise MediaRejected(
                "YouTube necesita exactamente un video por pieza y esta tiene "
                f"{len(videos)} video(s) y {len(piece.media) - len(videos)} archivo(s) más. "
                "Deje solo el video; la miniatura va aparte.",
                channel=self.channel,
            )
        video = videos[0]
        if video.size > VIDEO_MAX_BYTES:
            raise MediaRejected(
                f"El video '{video.name}' supera el máximo de YouTube (256 GB).",
                channel=self.channel,
            )
        if not video_title(piece):
            raise MediaRejected(
                "El video para YouTube necesita un título. Escriba el título o la primera línea del texto aprobado.",
                channel=self.channel,
            )
        size = len(video_description(piece).encode("utf-8"))
        if size > DESCRIPTION_MAX_BYTES:
            raise MediaRejected(
                f"La descripción para YouTube ocupa {size} bytes y el máximo es "
                f"{DESCRIPTION_MAX_BYTES}. Acorte el texto aprobado para YouTube.",
                channel=self.channel,
            )
        if tags_length(piece.tags) > TAGS_MAX_CHARS:
            raise MediaRejected(
                f"Las etiquetas suman {tags_length(piece.tags)} caracteres y YouTube admite "
                f"{TAGS_MAX_CHARS}. Quite etiquetas.",
                channel=self.channel,
            )
        thumb = _thumbnail(piece)
        if thumb is not None:
            if not thumb.exists():
                raise MediaRejected(f"No se encuentra la miniatura '{thumb.name}'.", channel=self.channel)
            check_file(
                thumb,
                channel=self.channel,
                label="YouTube (miniatura)",
                types=THUMBNAIL_TYPES,
                max_bytes=THUMBNAIL_MAX_BYTES,
                formats="una miniatura JPG o PNG",
            )

    @announces_post
    def publish(self, piece: Piece) -> PublishResult:
        self.validate(piece)
        video = piece.media[0]
        thumb = _thumbnail(piece)
        self._ensure_quota(self.insert_cost + (THUMBNAIL_COST if thumb else 0))
        snippet: dict[str, Any] = {
            "title": video_title(piece),
            "description": video_description(piece),
            "categoryId": self.category_id,
        }
        if piece.tags:
            snippet["tags"] = [t.translate(_ANGLE) for t in piece.tags]
        if self.default_language:
            snippet["defaultLanguage"] = self.default_language
        body = {
            "snippet": snippet,
            "status": {
                "privacyStatus": self.privacy_status,
                "selfDeclaredMadeForKids": self.made_for_kids,
            },
        }
        # Read through the store by offset (resumable chunks), not from a local path.
        media = MediaIoBaseUpload(video.open(), mimetype=video.media_type, chunksize=self.chunksize, resumable=True)
        try:
            request = self._yt.videos().insert(
                part="snippet,status",
                body=body,
                media_body=media,
                notifySubscribers=self.notify_subscribers,
            )
            log.info(
                "YouTube: subiendo %s (%s bytes) de la necesidad %s",
                video.name,
                video.size,
                piece.need_id,
            )
            result = self._upload(request, video.size, before_last_chunk=lambda: about_to_post(piece))
        finally:
            media.stream().close()
        video_id = result.get("id") if isinstance(result, dict) else None
        if not video_id:
            raise OutcomeUnknown(
                "YouTube terminó la subida pero no devolvió el identificador del video. Se "
                "verificará en el canal antes de volver a enviar.",
                channel=self.channel,
                detail=str(result)[:300],
            )
        log.info("YouTube: video publicado %s", video_id)
        if thumb is not None:
            self._set_thumbnail(video_id, thumb)
        published = parse_datetime((result.get("snippet") or {}).get("publishedAt"))
        return PublishResult(
            remote_id=video_id,
            url=f"https://www.youtube.com/watch?v={video_id}",
            published_at=published or self.clock(),
        )

    def find_published(self, piece: Piece) -> PublishResult | None:
        playlist = self._uploads()
        response = self._read(
            lambda: self._yt.playlistItems().list(part="snippet", playlistId=playlist, maxResults=self.lookback),
            "lectura de los videos recientes del canal",
        )
        title, description = video_title(piece), video_description(piece)
        bound = not_before(piece.extra)
        for item in response.get("items", []):
            snippet = item.get("snippet") or {}
            if not same_text(snippet.get("title"), title):
                continue
            if not same_text(snippet.get("description") or "", description):
                continue
            created = parse_datetime(snippet.get("publishedAt"))
            if not is_recent_enough(created, bound):
                continue
            video_id = (snippet.get("resourceId") or {}).get("videoId")
            if not video_id:
                continue
            return PublishResult(
                remote_id=video_id,
                url=f"https://www.youtube.com/watch?v={video_id}",
                published_at=created,
            )
        return None

    # -- upload ------------------------------------------------------------------------------

    def _upload(self, request, size: int, before_last_chunk=None) -> dict:
        """Drive a resumable upload to the end; see the module docstring for the retries.

        ``before_last_chunk`` runs once, before the first chunk that completes the file: the video
        exists on the channel only once its last byte arrives, so that chunk is the post call.
        """
        response = None
        failures = 0
        final_sent = False
        charged = False
        announced = before_last_chunk is None
        while response is None:
            covers_end = self.chunksize == -1 or request.resumable_progress + self.chunksize >= size
            if covers_end and not announced:
                announced = True
                before_last_chunk()
            try:
                if not charged:
                    charged = True
                    self.quota.spend(self.insert_cost)
                _, response = request.next_chunk(num_retries=0)
                continue
            except HttpError as exc:
                if not _retryable_status(exc):
                    raise self._error(exc, guarded=False) from exc
                cause: Exception = exc
            except RefreshError as exc:
                raise self._auth_error(str(exc)) from exc
            except _TRANSPORT_ERRORS as exc:
                cause = exc
            if request.resumable_uri is not None:
                final_sent = final_sent or covers_end
                # Ask the session what it received before sending more (documented protocol).
                request._in_error_state = True
            failures += 1
            if failures > self.max_chunk_retries:
                detail = f"{type(cause).__name__}: {cause}"
                if final_sent:
                    raise OutcomeUnknown(
                        "Se perdió la comunicación con YouTube al terminar de subir el video: no "
                        "se sabe si quedó publicado. Se verificará en el canal antes de volver a "
                        "enviar.",
                        channel=self.channel,
                        detail=detail,
                    ) from cause
                raise TransientError(
                    "YouTube no respondió durante la subida del video. La subida se "
                    "reintentará; aún no se ha publicado nada.",
                    channel=self.channel,
                    detail=detail,
                ) from cause
            delay = backoff_delay(failures, self.base_delay, self.max_delay)
            log.warning(
                "YouTube: fallo al subir (%s); reintento %s de %s en %.1f s",
                type(cause).__name__,
                failures,
                self.max_chunk_retries,
                delay,
            )
            self.sleep(delay)
        return response

    def _set_thumbnail(self, video_id: str, thumb: MediaFile) -> None:
        """Best effort: the video is already public, so a failure here is only logged."""
        try:
            with thumb.open() as fh:
                self._read(
                    lambda: self._yt.thumbnails().set(
                        videoId=video_id,
                        media_body=MediaIoBaseUpload(fh, mimetype=thumb.media_type),
                    ),
                    "subida de la miniatura",
                    cost=THUMBNAIL_COST,
                )
        except Exception as exc:  # never fail a published video for its thumbnail
            log.warning(
                "YouTube: no se pudo poner la miniatura del video %s: %s",
                video_id,
                getattr(exc, "message", exc),
            )

    # -- reads, quota and errors -------------------------------------------------------------

    def _uploads(self) -> str:
        if self._uploads_playlist is None:
            response = self._read(
                lambda: self._yt.channels().list(part="contentDetails", mine=True),
                "consulta del canal de YouTube",
            )
            items = response.get("items") or []
            if not items:
                raise AuthError(
                    "Las credenciales de YouTube no corresponden a ningún canal. Revise la "
                    f"cuenta autorizada en la conexión de Airflow '{self.conn_id}'.",
                    channel=self.channel,
                )
            self._uploads_playlist = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        return self._uploads_playlist

    def _read(self, make_request: Callable[[], Any], what: str, *, cost: int = LIST_COST) -> dict:
        """A call safe to repeat (a read, or the thumbnail), retried on 5xx and network errors."""

        def once() -> dict:
            self.quota.spend(cost)
            try:
                return make_request().execute(num_retries=0)
            except HttpError as exc:
                raise self._error(exc, guarded=False) from exc
            except RefreshError as exc:
                raise self._auth_error(str(exc)) from exc
            except _TRANSPORT_ERRORS as exc:
                raise TransientError(
                    "YouTube no respondió. Se reintentará.",
                    channel=self.channel,
                    detail=f"{type(exc).__name__}: {exc}",
                ) from exc

        return with_retries(
            once,
            what=what,
            attempts=self.attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            sleep=self.sleep,
        )

    def _ensure_quota(self, needed: int) -> None:
        remaining = self.daily_quota - self.quota.spent_today()
        if remaining >= needed:
            return
        reset_at = next_pacific_midnight(self.clock())
        raise RateLimited(
            f"La cuota diaria de la API de YouTube no alcanza para subir el video: quedan "
            f"{max(remaining, 0)} de {self.daily_quota} unidades y la subida cuesta {needed}. "
            f"La cuota se renueva a medianoche hora del Pacífico "
            f"({bogota(reset_at):%Y-%m-%d %H:%M} hora de Bogotá); la publicación "
            "puede esperar hasta entonces.",
            reset_at=reset_at,
            channel=self.channel,
        )

    def _auth_error(self, detail: str) -> AuthError:
        return AuthError(
            "YouTube rechazó las credenciales: el token venció o fue revocado. Renueve la "
            f"autorización en la conexión de Airflow '{self.conn_id}' y vuelva a intentar.",
            channel=self.channel,
            detail=detail,
        )

    def _error(self, exc: HttpError, *, guarded: bool) -> PublishError:
        status = int(exc.resp.status)
        reasons, message = _reasons(exc)
        detail = f"HTTP {status} {','.join(reasons)}: {message}"
        if status == 401:
            return self._auth_error(detail)
        if "quotaExceeded" in reasons or "dailyLimitExceeded" in reasons:
            spent = self.quota.spent_today()
            if spent < self.daily_quota:
                self.quota.spend(self.daily_quota - spent)  # the platform knows better
            reset_at = next_pacific_midnight(self.clock())
            return RateLimited(
                "Se agotó la cuota diaria de la API de YouTube. Se renueva a medianoche hora "
                f"del Pacífico ({bogota(reset_at):%Y-%m-%d %H:%M} hora de Bogotá); "
                "la publicación puede esperar hasta entonces.",
                reset_at=reset_at,
                channel=self.channel,
                detail=detail,
            )
        if status == 429 or set(reasons) & {
            "rateLimitExceeded",
            "userRateLimitExceeded",
            "uploadLimitExceeded",
        }:
            return RateLimited(
                "YouTube limitó temporalmente las solicitudes o las subidas del canal. Espere "
                "antes de volver a intentar.",
                channel=self.channel,
                detail=detail,
            )
        if status == 403 and {"insufficientPermissions", "authError"} & set(reasons):
            return AuthError(
                "La autorización de YouTube no tiene los permisos necesarios (subir videos). "
                f"Vuelva a autorizar la cuenta en la conexión de Airflow '{self.conn_id}'.",
                channel=self.channel,
                detail=detail,
            )
        if status >= 500 and guarded:
            return OutcomeUnknown(
                "YouTube respondió con un error interno al terminar la subida: no se sabe si el "
                "video quedó publicado. Se verificará en el canal antes de volver a enviar.",
                channel=self.channel,
                detail=detail,
            )
        if status >= 500:
            return TransientError(
                "YouTube tuvo un error temporal. Se reintentará.",
                channel=self.channel,
                detail=detail,
            )
        return PublishError(
            f"YouTube rechazó la solicitud: {message or status}. Corrija la pieza o la "
            "configuración del canal y vuelva a intentar.",
            channel=self.channel,
            detail=detail,
        )


def _service_at(base_url: str, http: Any):
    """The YouTube client with every call, media uploads included, sent under ``base_url``.

    ``client_options.api_endpoint`` is not enough: googleapiclient moves only the host of media
    upload URLs to it and keeps the discovery document's ``https`` scheme, so uploads to a plain
    HTTP endpoint (a local fake, a proxy) would fail. Rewriting the bundled document's root URL
    moves both. ``base_url`` is the API root, e.g. ``https://youtube.googleapis.com/``.
    """
    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    doc = json.loads(get_static_doc("youtube", "v3"))
    root = base_url.rstrip("/") + "/"
    doc.update(rootUrl=root, baseUrl=root, mtlsRootUrl=root)
    return build_from_document(doc, http=http)


def _retryable_status(exc: HttpError) -> bool:
    return int(exc.resp.status) in (500, 502, 503, 504)


def _reasons(exc: HttpError) -> tuple[list[str], str]:
    content = exc.content
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    try:
        error = json.loads(content or "{}").get("error") or {}
    except (ValueError, AttributeError):
        return [], str(content)[:300]
    if not isinstance(error, dict):
        return [], str(error)[:300]
    reasons = [e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)]
    return [r for r in reasons if r], str(error.get("message") or "")
