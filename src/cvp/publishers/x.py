"""X (formerly Twitter): a post with up to four images or one video.

The post goes through tweepy's v2 ``Client.create_tweet``, so the request body (text,
``media.media_ids``) is built by the library the project depends on. tweepy 4.17 sends every
call to the hard-coded host ``https://api.twitter.com``, without a timeout, and logs request
headers (the bearer token among them) at debug level; :class:`_TweepyClient` therefore overrides
its single transport method, ``BaseClient.request``, to send to the configured ``base_url``
with explicit timeouts, our own authentication and error mapping, and no header logging. Every
higher-level tweepy method (``create_tweet``, ``get_me``, ``get_users_tweets``) goes through it.

Media goes through X API v2 media upload, not tweepy's deprecated v1.1 ``media/upload``:

* images: one-shot ``POST /2/media/upload`` (multipart ``media``, ``media_category=tweet_image``);
* video: ``POST /2/media/upload/initialize`` → ``POST /2/media/upload/{id}/append`` per
  segment → ``POST /2/media/upload/{id}/finalize`` → ``GET /2/media/upload?command=STATUS``
  while ``processing_info.state`` is ``pending`` or ``in_progress``, waiting ``check_after_secs``;
* alt text: ``POST /2/media/metadata`` with ``{"id", "metadata": {"alt_text": {"text"}}}``.

Uploads and reads are retried on 5xx and network failures; ``POST /2/tweets`` is sent once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import requests
import tweepy
import urllib3
from requests_oauthlib import OAuth1

from cvp import procedure as P
from cvp.checks.xlength import x_weighted_length
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
    same_text,
    split_media,
)
from cvp.publishers.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    Clock,
    Sleep,
    parse_epoch,
    utcnow,
    with_retries,
)

log = logging.getLogger(__name__)

X_API_URL = "https://api.x.com"

# X's limits, from the channel registry (the pre-review checks read the same ones).
_X = P.CHANNEL["x"]
MAX_IMAGES = _X.media.max_images
MAX_VIDEOS = _X.media.max_videos
IMAGE_MAX_BYTES = _X.media.images.max_size
VIDEO_MAX_BYTES = _X.media.videos.max_size
IMAGE_TYPES = _X.media.images.formats
VIDEO_TYPES = _X.media.videos.formats
ALT_TEXT_MAX = _X.media.alt_text_max
MAX_WEIGHTED_LENGTH = _X.text.max_length
CHUNK_SIZE = 4 * 1024 * 1024  # APPEND segments must not exceed 5 MB
PROCESSING_STATES_WAITING = ("pending", "in_progress")

TWEET_ROUTE = "/2/tweets"


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------


def _before_sending(exc: requests.RequestException) -> bool:
    """Whether a requests failure happened before the request could reach the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _x_problem(response: requests.Response) -> tuple[str, str]:
    """(type, human detail) of an X API error body, v2 problem or v1-style ``errors`` list."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300]
    if not isinstance(body, dict):
        return "", str(body)[:300]
    kind = str(body.get("type") or "")
    detail = body.get("detail") or body.get("title") or ""
    errors = body.get("errors")
    if not detail and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        detail = errors[0].get("message") or errors[0].get("detail") or ""
    return kind, str(detail)


_AUTH_PROBLEMS = (
    "oauth1-permissions",
    "unsupported-authentication",
    "client-forbidden",
    "client-not-enrolled",
)


class _Transport:
    """Sends X API requests with authentication, timeouts and error mapping."""

    def __init__(
        self,
        *,
        session: requests.Session,
        bearer_token: str | None,
        oauth1: OAuth1 | None,
        timeout: float | tuple[float, float],
        conn_id: str,
    ):
        self.session = session
        self._bearer = bearer_token
        self._oauth1 = oauth1
        self.timeout = timeout
        self.conn_id = conn_id

    def send(
        self,
        method: str,
        url: str,
        *,
        guarded: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        headers = {"User-Agent": "cvp-publicador"}
        if self._oauth1 is None:
            headers["Authorization"] = f"Bearer {self._bearer}"
        log.debug("X: %s %s", method, url)
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                files=files,
                headers=headers,
                auth=self._oauth1,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if _before_sending(exc):
                raise TransientError(
                    "No fue posible conectarse con X. Revise la conexión a Internet del "
                    "servidor; el envío se puede reintentar sin riesgo de duplicar.",
                    channel="x",
                    detail=detail,
                ) from exc
            if guarded:
                raise OutcomeUnknown(
                    "Se perdió la comunicación con X después de enviar la publicación: no se "
                    "sabe si quedó publicada. Se verificará en la cuenta antes de volver a "
                    "enviar.",
                    channel="x",
                    detail=detail,
                ) from exc
            raise TransientError(
                "X no respondió a tiempo. El envío se reintentará.", channel="x", detail=detail
            ) from exc
        if 200 <= response.status_code < 300:
            return response
        raise self._error(response, guarded=guarded)

    def _error(self, response: requests.Response, *, guarded: bool) -> PublishError:
        status = response.status_code
        kind, text = _x_problem(response)
        detail = f"HTTP {status} {kind}: {text}".strip()
        if status == 429:
            reset_at = parse_epoch(response.headers.get("x-rate-limit-reset"))
            when = f" X indica que el límite se restablece a las {reset_at:%H:%M} UTC." if reset_at else ""
            return RateLimited(
                f"X rechazó la solicitud por límite de uso (429).{when} Espere hasta entonces "
                "antes de volver a intentar.",
                reset_at=reset_at,
                channel="x",
                detail=detail,
            )
        if status == 401:
            return AuthError(
                "X rechazó las credenciales: el token venció o fue revocado. Renueve el token "
                f"en la conexión de Airflow '{self.conn_id}' y vuelva a intentar.",
                channel="x",
                detail=detail,
            )
        if status == 403 and guarded and "duplicate" in text.lower():
            return OutcomeUnknown(
                "X indica que este mismo texto ya fue publicado en la cuenta. Se verificará en "
                "la cuenta en lugar de volver a enviarlo.",
                channel="x",
                detail=detail,
            )
        if status == 403 and any(p in kind for p in _AUTH_PROBLEMS):
            return AuthError(
                "X rechazó las credenciales por falta de permisos (la app necesita permiso de "
                "lectura y escritura). Revise la app y renueve el token en la conexión de "
                f"Airflow '{self.conn_id}'.",
                channel="x",
                detail=detail,
            )
        if status >= 500 and guarded:
            return OutcomeUnknown(
                "X respondió con un error interno al publicar: no se sabe si la publicación "
                "quedó hecha. Se verificará en la cuenta antes de volver a enviar.",
                channel="x",
                detail=detail,
            )
        if status >= 500:
            return TransientError("X tuvo un error temporal. El envío se reintentará.", channel="x", detail=detail)
        return PublishError(
            f"X rechazó la solicitud (HTTP {status}): {text or response.reason}. Corrija la "
            "pieza o la configuración del canal y vuelva a intentar.",
            channel="x",
            detail=detail,
        )


class _TweepyClient(tweepy.Client):
    """tweepy's v2 client sending through :class:`_Transport` to a configurable host."""

    def __init__(self, transport: _Transport, base_url: str):
        super().__init__()  # credentials stay in the transport
        self._transport = transport
        self._base_url = base_url.rstrip("/")

    def request(self, method, route, params=None, json=None, user_auth=False):  # noqa: D102
        guarded = method == "POST" and route == TWEET_ROUTE
        return self._transport.send(method, self._base_url + route, params=params, json=json, guarded=guarded)


# --------------------------------------------------------------------------------------------
# Publisher
# --------------------------------------------------------------------------------------------


class XPublisher:
    """Publishes a piece as one post on the account of the given user credentials.

    Credentials: either an OAuth 2.0 user-context access token (``bearer_token``, scopes
    ``tweet.read tweet.write users.read media.write``) or the four OAuth 1.0a user-context keys.
    An app-only bearer token cannot post nor upload media.
    """

    channel = "x"

    def __init__(
        self,
        *,
        bearer_token: str | None = None,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        access_token: str | None = None,
        access_token_secret: str | None = None,
        username: str | None = None,
        user_id: str | None = None,
        base_url: str = X_API_URL,
        upload_base_url: str | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        video_category: str = "tweet_video",
        chunk_size: int = CHUNK_SIZE,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_processing_wait: float = 600.0,
        lookback: int = 20,
        conn_id: str = "x_default",
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = utcnow,
    ):
        oauth1_keys = (consumer_key, consumer_secret, access_token, access_token_secret)
        if all(oauth1_keys):
            oauth1 = OAuth1(consumer_key, consumer_secret, access_token, access_token_secret)
        elif bearer_token:
            oauth1 = None
        else:
            raise AuthError(
                "Faltan las credenciales de X (token de usuario OAuth 2.0 o las cuatro claves "
                f"OAuth 1.0a). Configúrelas en la conexión de Airflow '{conn_id}'.",
                channel=self.channel,
            )
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.upload_base_url = (upload_base_url or base_url).rstrip("/")
        self.video_category = video_category
        self.chunk_size = chunk_size
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_processing_wait = max_processing_wait
        self.lookback = max(5, min(100, lookback))
        self.sleep = sleep
        self.clock = clock
        self._username = username
        self._user_id = user_id
        self._transport = _Transport(
            session=session or requests.Session(),
            bearer_token=bearer_token,
            oauth1=oauth1,
            timeout=timeout,
            conn_id=conn_id,
        )
        self._client = _TweepyClient(self._transport, self.base_url)

    # -- Publisher protocol ------------------------------------------------------------------

    def validate(self, piece: Piece) -> None:
        if not piece.text.strip() and not piece.media:
            raise MediaRejected("La pieza para X no tiene texto ni archivos.", channel=self.channel)
        length = x_weighted_length(piece.text)
        if length > MAX_WEIGHTED_LENGTH:
            raise MediaRejected(
                f"El texto para X ocupa {length} caracteres ponderados y el máximo es "
                f"{MAX_WEIGHTED_LENGTH} (cada enlace cuenta 23; emojis y caracteres asiáticos "
                "cuentan 2). Acorte el texto aprobado para X.",
                channel=self.channel,
            )
        images, videos = split_media(
            piece,
            channel=self.channel,
            label=_X.label,
            max_images=MAX_IMAGES,
            max_videos=MAX_VIDEOS,
            accepted="imágenes JPG, PNG, WEBP o GIF, o un video MP4",
        )
        for m in images:
            check_file(
                m,
                channel="x",
                label=_X.label,
                types=IMAGE_TYPES,
                max_bytes=IMAGE_MAX_BYTES,
                formats="imágenes JPG, PNG, WEBP o GIF",
            )
        for m in videos:
            check_file(
                m,
                channel="x",
                label=_X.label,
                types=VIDEO_TYPES,
                max_bytes=VIDEO_MAX_BYTES,
                formats="video MP4 o MOV",
            )
        for m in piece.media:
            if len(m.alt_text) > ALT_TEXT_MAX:
                raise MediaRejected(
                    f"El texto alternativo de '{m.name}' tiene {len(m.alt_text)} "
                    f"caracteres y X admite {ALT_TEXT_MAX}. Acórtelo.",
                    channel=self.channel,
                )

    @announces_post
    def publish(self, piece: Piece) -> PublishResult:
        self.validate(piece)
        media_ids = [self._upload(m) for m in piece.media]
        log.info(
            "X: publicando la pieza de la necesidad %s con %s archivo(s)",
            piece.need_id,
            len(media_ids),
        )
        about_to_post(piece)
        try:
            response = self._client.create_tweet(text=piece.text, media_ids=media_ids or None, user_auth=False)
            tweet_id = str(response.data["id"])
        except PublishError:
            raise
        except Exception as exc:  # the post was answered 2xx but the answer is unreadable
            raise OutcomeUnknown(
                "X aceptó la solicitud pero su respuesta no se pudo leer: no se sabe si la "
                "publicación quedó hecha. Se verificará en la cuenta antes de volver a enviar.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc
        log.info("X: publicada la pieza de la necesidad %s como %s", piece.need_id, tweet_id)
        return PublishResult(remote_id=tweet_id, url=self._status_url(tweet_id), published_at=self.clock())

    def find_published(self, piece: Piece) -> PublishResult | None:
        user_id = self._me()[0]
        bound = not_before(piece.extra)
        params: dict[str, Any] = {
            "max_results": self.lookback,
            "tweet_fields": ["created_at", "attachments"],
            "exclude": ["retweets", "replies"],
        }
        if bound is not None:
            params["start_time"] = bound - timedelta(minutes=5)
        response = self._read(
            lambda: self._client.get_users_tweets(user_id, user_auth=False, **params),
            "lectura de publicaciones recientes en X",
        )
        for tweet in response.data or []:
            if not same_text(tweet.text, piece.text):
                continue
            keys = (tweet.attachments or {}).get("media_keys") or []
            if len(keys) != len(piece.media):
                continue
            created = tweet.created_at if isinstance(tweet.created_at, datetime) else None
            if not is_recent_enough(created, bound):
                continue
            tweet_id = str(tweet.id)
            return PublishResult(remote_id=tweet_id, url=self._status_url(tweet_id), published_at=created)
        return None

    # -- helpers -----------------------------------------------------------------------------

    def _read(self, call, what: str):
        return with_retries(
            call,
            what=what,
            attempts=self.attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            sleep=self.sleep,
        )

    def _me(self) -> tuple[str, str]:
        if not (self._user_id and self._username):
            me = self._read(lambda: self._client.get_me(user_auth=False), "consulta de la cuenta de X").data
            self._user_id, self._username = str(me.id), me.username
        return self._user_id, self._username

    def _status_url(self, tweet_id: str) -> str:
        username = self._username
        if not username:
            try:
                username = self._me()[1]
            except Exception as exc:  # the post exists: never fail for the URL
                log.warning("X: no se pudo consultar el nombre de la cuenta: %s", exc)
        if username:
            return f"https://x.com/{username}/status/{tweet_id}"
        return f"https://x.com/i/web/status/{tweet_id}"

    def _post_media(self, path: str, what: str, **kwargs) -> dict:
        def once() -> dict:
            response = self._transport.send("POST", f"{self.upload_base_url}{path}", guarded=False, **kwargs)
            return response_data(response)

        return self._read(once, what)

    def _upload(self, media: MediaFile) -> str:
        if media.is_video:
            media_id = self._upload_video(media)
        else:
            media_id = self._upload_image(media)
        if media.alt_text and media.is_image:
            # X documents alt text metadata for images and GIFs.
            self._post_media(
                "/2/media/metadata",
                f"texto alternativo de {media.name}",
                json={"id": media_id, "metadata": {"alt_text": {"text": media.alt_text}}},
            )
        return media_id

    def _upload_image(self, media: MediaFile) -> str:
        def once() -> dict:
            with media.open() as fh:
                response = self._transport.send(
                    "POST",
                    f"{self.upload_base_url}/2/media/upload",
                    guarded=False,
                    data={"media_category": "tweet_image", "media_type": media.media_type},
                    files={"media": (media.name, fh, media.media_type)},
                )
            return response_data(response)

        data = self._read(once, f"subida de {media.name} a X")
        media_id = _media_id(data)
        self._wait_processing(media_id, data.get("processing_info"))
        log.info("X: imagen %s subida como %s", media.name, media_id)
        return media_id

    def _upload_video(self, media: MediaFile) -> str:
        init = self._post_media(
            "/2/media/upload/initialize",
            f"inicio de la subida de {media.name} a X",
            json={
                "media_type": media.media_type,
                "total_bytes": media.size,
                "media_category": self.video_category,
            },
        )
        media_id = _media_id(init)
        with media.open() as fh:
            index = 0
            while True:
                chunk = fh.read(self.chunk_size)
                if not chunk:
                    break
                self._post_media(
                    f"/2/media/upload/{media_id}/append",
                    f"segmento {index} de {media.name}",
                    data={"segment_index": str(index)},
                    files={"media": ("blob", chunk, "application/octet-stream")},
                )
                index += 1
        final = self._post_media(f"/2/media/upload/{media_id}/finalize", f"cierre de la subida de {media.name}")
        self._wait_processing(media_id, final.get("processing_info"))
        log.info("X: video %s subido como %s en %s segmento(s)", media.name, media_id, index)
        return media_id

    def _wait_processing(self, media_id: str, info: Mapping[str, Any] | None) -> None:
        waited = 0.0
        while info and info.get("state") in PROCESSING_STATES_WAITING:
            delay = float(info.get("check_after_secs") or 1)
            if waited + delay > self.max_processing_wait:
                raise TransientError(
                    f"X no terminó de procesar el archivo en {int(self.max_processing_wait)} s. "
                    "Vuelva a intentar más tarde; aún no se ha publicado nada.",
                    channel=self.channel,
                    detail=f"media_id={media_id} state={info.get('state')}",
                )
            self.sleep(delay)
            waited += delay

            def status() -> dict:
                response = self._transport.send(
                    "GET",
                    f"{self.upload_base_url}/2/media/upload",
                    guarded=False,
                    params={"command": "STATUS", "media_id": media_id},
                )
                return response_data(response)

            info = self._read(status, "estado del procesamiento en X").get("processing_info")
        if info and info.get("state") == "failed":
            error = info.get("error") or {}
            raise PublishError(
                "X no pudo procesar el archivo: "
                f"{error.get('message') or error.get('name') or 'error desconocido'}. Revise el "
                "formato (video MP4 H.264/AAC) y vuelva a exportar el diseño.",
                channel=self.channel,
                detail=f"media_id={media_id} error={error}",
            )


def response_data(response) -> dict:
    """The ``data`` object of an X API v2 answer ({} when absent or not JSON)."""
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def _media_id(data: Mapping[str, Any]) -> str:
    media_id = data.get("id") or data.get("media_id_string") or data.get("media_id")
    if not media_id:
        raise TransientError(
            "X no devolvió el identificador del archivo subido. La subida se reintentará.",
            channel="x",
            detail=str(data)[:300],
        )
    return str(media_id)
