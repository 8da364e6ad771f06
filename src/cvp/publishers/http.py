"""HTTP helpers shared by the platform publishers.

Three concerns live here so that every channel handles them the same way:

* bounded retries with exponential backoff, only for calls that are safe to repeat (uploads and
  reads); the post call itself is never retried by a publisher;
* recognising a piece among an account's recent posts (text normalisation);
* the Meta Graph API client used by the Facebook Page and Instagram publishers (errors, rate
  limits, timeouts).

Tokens travel in the ``Authorization`` header, never in a URL, so that neither our logs nor the
HTTP client's request logs carry them.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx

from cvp.publishers.base import (
    AuthError,
    MediaFile,
    MediaRejected,
    OutcomeUnknown,
    Piece,
    PublishError,
    RateLimited,
    TransientError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Default timeouts, in seconds: connecting must be quick; uploads may take long to send.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=10.0)
DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_DELAY = 2.0
DEFAULT_MAX_DELAY = 30.0

Sleep = Callable[[float], None]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


def backoff_delay(attempt: int, base_delay: float, max_delay: float) -> float:
    """Delay before retry number ``attempt`` (1-based): base, 2·base, 4·base… capped."""
    return min(max_delay, base_delay * (2 ** (attempt - 1)))


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    sleep: Sleep = time.sleep,
) -> T:
    """Run ``call``, repeating it after a :class:`TransientError`, at most ``attempts`` times.

    Only for calls that are safe to repeat. Any other error (authentication, rate limit,
    rejection, unknown outcome) goes up at once: a rate limit is waited for by the caller, who
    knows the task's deadline, never here.
    """
    attempt = 1
    while True:
        try:
            return call()
        except TransientError as exc:
            if attempt >= attempts:
                raise
            delay = backoff_delay(attempt, base_delay, max_delay)
            log.warning(
                "%s falló (%s); reintento %s de %s en %.1f s",
                what,
                exc.detail or exc.message,
                attempt,
                attempts - 1,
                delay,
            )
            sleep(delay)
            attempt += 1


# --------------------------------------------------------------------------------------------
# Media limits
# --------------------------------------------------------------------------------------------


def format_mb(size: int) -> str:
    return f"{size / 1048576:.1f}".rstrip("0").rstrip(".")


def split_media(
    piece: Piece,
    *,
    channel: str,
    label: str,
    max_images: int,
    max_videos: int,
    accepted: str,
) -> tuple[list[MediaFile], list[MediaFile]]:
    """(images, videos) of a post that takes either images or videos, never both.

    Raises :class:`MediaRejected` for other files, a mix, or more than the channel takes.
    """
    images = [m for m in piece.media if m.is_image]
    videos = [m for m in piece.media if m.is_video]
    others = [m for m in piece.media if not (m.is_image or m.is_video)]
    if others:
        raise MediaRejected(
            f"{label} no admite el archivo '{others[0].name}' ({others[0].media_type}) en "
            f"una publicación. Adjunte {accepted}.",
            channel=channel,
        )
    if images and videos:
        raise MediaRejected(
            f"{label} no permite mezclar imágenes y video en una publicación. Deje solo las "
            f"imágenes (hasta {max_images}) o solo el video.",
            channel=channel,
        )
    if len(images) > max_images:
        raise MediaRejected(
            f"{label} admite hasta {max_images} imágenes por publicación y la pieza tiene "
            f"{len(images)}. Quite imágenes del diseño para {label}.",
            channel=channel,
        )
    if len(videos) > max_videos:
        raise MediaRejected(
            f"{label} admite un solo video por publicación y la pieza tiene {len(videos)}.",
            channel=channel,
        )
    return images, videos


def check_file(
    media: MediaFile,
    *,
    channel: str,
    label: str,
    types: Iterable[str],
    max_bytes: int,
    formats: str,
) -> None:
    """Raise :class:`MediaRejected` if ``media`` is not of ``types`` or exceeds ``max_bytes``."""
    if media.media_type not in set(types):
        raise MediaRejected(
            f"{label} no admite el formato {media.media_type} de '{media.name}'. "
            f"Use {formats} y vuelva a aprobar el diseño.",
            channel=channel,
        )
    if media.size > max_bytes:
        raise MediaRejected(
            f"El archivo '{media.name}' pesa {format_mb(media.size)} MB y {label} admite "
            f"hasta {format_mb(max_bytes)} MB. Reduzca el archivo y vuelva a aprobar el diseño.",
            channel=channel,
        )


# --------------------------------------------------------------------------------------------
# Recognising a post
# --------------------------------------------------------------------------------------------

_URL_RE = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The text as compared with a platform's copy of it.

    Platforms rewrite what they store: X shortens every link to a t.co address and appends one
    for attached media, escapes ``&``, ``<`` and ``>`` as HTML entities, and some trim or fold
    whitespace. So links are dropped, entities decoded, Unicode put in NFC form and runs of
    whitespace collapsed to one space.
    """
    text = unicodedata.normalize("NFC", html.unescape(text or ""))
    text = _URL_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def same_text(posted: str | None, expected: str) -> bool:
    """Whether a platform's copy of a text is the text we sent (see :func:`normalize_text`)."""
    if posted is None:
        return False
    return normalize_text(posted) == normalize_text(expected)


def parse_epoch(value: str | None) -> datetime | None:
    """A reset time given as epoch seconds (X's ``x-rate-limit-reset``), in UTC."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(float(value)), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp from an API (``2025-01-31T14:00:00+0000`` or ``…Z``)."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def not_before(piece_extra: Mapping[str, Any]) -> datetime | None:
    """Optional lower bound for reconciliation, ``piece.extra["not_before"]`` (aware datetime).

    When the ledger knows when the first attempt was sent, posts older than that are ignored by
    ``find_published``, so an identical text posted weeks ago is not mistaken for this piece.
    """
    value = piece_extra.get("not_before")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def is_recent_enough(
    created: datetime | None, bound: datetime | None, slack_s: float = 300.0
) -> bool:
    """Whether a post created at ``created`` may be this attempt's (5 minutes of clock skew)."""
    if bound is None or created is None:
        return True
    return created >= bound - timedelta(seconds=slack_s)


# --------------------------------------------------------------------------------------------
# Meta Graph API (Facebook Pages, Instagram)
# --------------------------------------------------------------------------------------------

GRAPH_BASE_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v25.0"

#: Token expired, revoked or invalidated (190), session (102), permissions (10, 200–299).
GRAPH_AUTH_CODES = frozenset({102, 190, 10} | set(range(200, 300)))
#: Application, user, page and business-use-case throttling.
GRAPH_RATE_CODES = frozenset({4, 9, 17, 32, 613} | set(range(80001, 80015)))
#: "Unknown error" and "Service temporarily unavailable".
GRAPH_TRANSIENT_CODES = frozenset({1, 2})

_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def graph_reset_at(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When Meta says access returns, from its usage headers, if it says.

    ``x-business-use-case-usage`` maps business ids to lists of usage objects carrying
    ``estimated_time_to_regain_access`` in minutes; ``x-app-usage`` and ``x-page-usage`` may
    carry the same key. The longest wait announced wins.
    """
    minutes: list[float] = []

    def collect(obj: Any) -> None:
        if isinstance(obj, dict):
            value = obj.get("estimated_time_to_regain_access")
            if isinstance(value, (int, float)) and value > 0:
                minutes.append(float(value))
            for item in obj.values():
                if isinstance(item, (dict, list)):
                    collect(item)
        elif isinstance(obj, list):
            for item in obj:
                collect(item)

    for name in ("x-business-use-case-usage", "x-app-usage", "x-page-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            collect(json.loads(raw))
        except ValueError:
            continue
    if not minutes:
        return None
    return now + timedelta(minutes=max(minutes))


class GraphApi:
    """A small client for the Graph API, shared by the Facebook and Instagram publishers.

    ``get`` and ``upload`` are retried on 5xx and network failures (bounded, with backoff);
    ``publish`` is the guarded post call and is sent exactly once: a network failure or a 5xx
    after the request could have reached Meta raises :class:`OutcomeUnknown`.
    """

    def __init__(
        self,
        *,
        access_token: str,
        label: str,
        channel: str,
        conn_id: str,
        base_url: str = GRAPH_BASE_URL,
        version: str = GRAPH_VERSION,
        app_secret: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        sleep: Sleep = time.sleep,
        clock: Clock = utcnow,
    ):
        if not access_token:
            raise AuthError(
                f"Falta el token de acceso de {label}. Configúrelo en la conexión de Airflow "
                f"'{conn_id}'.",
                channel=channel,
            )
        self.label = label
        self.channel = channel
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.version = version.strip("/")
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.clock = clock
        self._token = access_token
        self._proof = (
            hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
            if app_secret
            else None
        )
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._client = client or httpx.Client(timeout=self._timeout)

    def close(self) -> None:
        self._client.close()

    # -- public calls ------------------------------------------------------------------------

    def url(self, path: str, base_url: str | None = None) -> str:
        base = (base_url or self.base_url).rstrip("/")
        return f"{base}/{self.version}/{path.lstrip('/')}"

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> dict:
        """A read, retried on transient failures."""
        return self._retrying(lambda: self._send("GET", path, params=params, guarded=False), what)

    def upload(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        *,
        what: str,
        base_url: str | None = None,
    ) -> dict:
        """A POST that creates nothing public (unpublished photo, container, upload chunk).

        Repeating it is safe: at worst it leaves an unpublished object that Meta discards. Pass
        ``files`` as a callable so that each attempt reopens the file from its start.
        """

        def once() -> dict:
            return self._send(
                "POST",
                path,
                data=data,
                files=files() if callable(files) else files,
                guarded=False,
                base_url=base_url,
            )

        return self._retrying(once, what)

    def try_get(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> dict:
        """A read whose failure is only logged: for details fetched after a post succeeded."""
        try:
            return self.get(path, params, what=what)
        except PublishError as exc:
            log.warning("%s: %s falló: %s", self.label, what, exc.message)
            return {}

    def publish(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
    ) -> dict:
        """The post call: sent once, never retried here."""
        return self._send("POST", path, data=data, files=files, guarded=True, base_url=base_url)

    # -- plumbing ----------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], dict], what: str) -> dict:
        return with_retries(
            call,
            what=what,
            attempts=self.attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            sleep=self.sleep,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        guarded: bool,
        base_url: str | None = None,
    ) -> dict:
        url = self.url(path, base_url)
        query = dict(params or {})
        if self._proof:
            query["appsecret_proof"] = self._proof
        headers = {"Authorization": f"Bearer {self._token}"}
        log.debug("%s: %s %s", self.label, method, url)
        try:
            response = self._client.request(
                method,
                url,
                params=query or None,
                data={k: _form_value(v) for k, v in (data or {}).items()} or None,
                files=files,
                headers=headers,
                timeout=self._timeout,
            )
        except _BEFORE_SENDING as exc:
            raise TransientError(
                f"No fue posible conectarse con {self.label}. Revise la conexión a Internet del "
                "servidor; el envío se puede reintentar sin riesgo de duplicar.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc
        except httpx.TransportError as exc:
            if guarded:
                raise OutcomeUnknown(
                    f"Se perdió la comunicación con {self.label} después de enviar la "
                    "publicación: no se sabe si quedó publicada. Se verificará en la cuenta "
                    "antes de volver a enviar.",
                    channel=self.channel,
                    detail=f"{type(exc).__name__}: {exc}",
                ) from exc
            raise TransientError(
                f"{self.label} no respondió a tiempo. El envío se reintentará.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                body = {}
            return body if isinstance(body, dict) else {"data": body}
        raise self._error(response, guarded=guarded)

    def _error(self, response: httpx.Response, *, guarded: bool) -> PublishError:
        try:
            err = response.json().get("error") or {}
        except (ValueError, AttributeError):
            err = {}
        if not isinstance(err, dict):
            err = {}
        code = err.get("code")
        subcode = err.get("error_subcode")
        detail = (
            f"HTTP {response.status_code}; code={code} subcode={subcode} "
            f"type={err.get('type')} fbtrace_id={err.get('fbtrace_id')}: {err.get('message', '')}"
        )
        status = response.status_code
        if code in GRAPH_RATE_CODES or status == 429:
            reset_at = graph_reset_at(response.headers, self.clock())
            when = (
                f" Meta indica que el acceso se restablece hacia las {reset_at:%H:%M} UTC."
                if reset_at
                else ""
            )
            return RateLimited(
                f"{self.label} limitó temporalmente las llamadas de la aplicación (límite de "
                f"uso).{when} Espere y vuelva a intentar; no reenvíe de inmediato.",
                reset_at=reset_at,
                channel=self.channel,
                detail=detail,
            )
        if code in GRAPH_AUTH_CODES or status == 401:
            if code == 190 or status == 401:
                what = "El token de acceso venció o fue revocado"
            else:
                what = "El token de acceso no tiene los permisos necesarios"
            return AuthError(
                f"{what} ({self.label}). Renueve el token en la conexión de Airflow "
                f"'{self.conn_id}' y vuelva a intentar.",
                channel=self.channel,
                detail=detail,
            )
        transient = status >= 500 or code in GRAPH_TRANSIENT_CODES or err.get("is_transient")
        if transient and guarded:
            return OutcomeUnknown(
                f"{self.label} respondió con un error interno al publicar: no se sabe si la "
                "publicación quedó hecha. Se verificará en la cuenta antes de volver a enviar.",
                channel=self.channel,
                detail=detail,
            )
        if transient:
            return TransientError(
                f"{self.label} tuvo un error temporal. El envío se reintentará.",
                channel=self.channel,
                detail=detail,
            )
        message = err.get("error_user_msg") or err.get("message") or response.reason_phrase
        return PublishError(
            f"{self.label} rechazó la solicitud: {message}. Corrija la pieza o la configuración "
            f"del canal y vuelva a intentar.",
            channel=self.channel,
            detail=detail,
        )


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def graph_items(body: Mapping[str, Any]) -> Iterable[dict]:
    data = body.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
