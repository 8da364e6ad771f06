"""Engagement of published posts, read from each platform's API and kept as snapshots.

A collector per platform reads the public numbers of posts already in the publication ledger,
at the HTTP wire and in each API's documented shape:

* X: ``GET /2/tweets?ids=…&tweet.fields=public_metrics``, up to 100 ids a call;
* Facebook Page: ``GET /{version}/{post-id}?fields=shares,reactions.summary(total_count),
  comments.summary(total_count)``, then ``GET /{version}/{post-id}/insights?metric=post_impressions``
  when the token may read insights (its absence is tolerated);
* Instagram: ``GET /{version}/{media-id}/insights?metric=reach,likes,comments,saved,shares``;
* YouTube: ``videos.list(part="statistics", id=…)`` through google-api-python-client, up to 50 ids.

The website and the local outbox have no collector: nothing to read. Every reading becomes a
normalised dict (:data:`METRIC_KEYS`, ``None`` where the platform gives nothing) plus the
platform's own numbers under ``"plataforma"``. Reads are retried on 5xx and network failures
(bounded, with backoff) and carry timeouts; a token, rate limit or outage stops only its channel.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import httpx
import requests
from requests_oauthlib import OAuth1
from sqlalchemy import exists, select

from cvp import procedure as P
from cvp.publishers.base import AuthError, PublishError, RateLimited, TransientError
from cvp.publishers.graph import (
    GRAPH_BASE_URL,
    GRAPH_VERSION,
    GraphApi,
    graph_items,
)
from cvp.publishers.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    Sleep,
    parse_epoch,
    utcnow,
    with_retries,
)
from cvp.records.models import EngagementSnapshot, Publication

log = logging.getLogger(__name__)

#: The normalised metrics of one post, in the office's words.
METRIC_KEYS = ("impresiones", "alcance", "reacciones", "comentarios", "compartidos", "reproducciones")

X_API_URL = "https://api.x.com"
X_BATCH = 100
YOUTUBE_BATCH = 50
#: Reads are small: a short read timeout keeps a hung platform from holding the worker.
READ_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)
FACEBOOK_FIELDS = "shares,reactions.summary(total_count),comments.summary(total_count)"
FACEBOOK_INSIGHTS = "post_impressions"
INSTAGRAM_METRICS = "reach,likes,comments,saved,shares"

PUBLISHED = P.PublicationState.PUBLISHED  # the ledger's state, without importing the ledger


def normalised(raw: Mapping[str, Any] | None = None, **values: int | None) -> dict:
    """A metrics dict with every key of :data:`METRIC_KEYS` (``None`` when not given)."""
    metrics: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    for key, value in values.items():
        if key not in metrics:
            raise KeyError(key)
        metrics[key] = value
    metrics["plataforma"] = dict(raw or {})
    return metrics


def has_numbers(metrics: Mapping[str, Any]) -> bool:
    return any(metrics.get(k) is not None for k in METRIC_KEYS)


def _int(value: Any) -> int | None:
    """An API count (YouTube sends strings) as int; anything else as None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _add(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


@runtime_checkable
class Collector(Protocol):
    channel: str

    def fetch(self, remote_ids: Sequence[str]) -> dict[str, dict]:
        """Metrics of each readable post, by remote id; posts the platform no longer shows are left out.

        Raises :class:`~cvp.publishers.base.PublishError` (its message in Spanish) when the whole
        channel cannot be read: credentials, rate limit, outage after the retries.
        """


# --------------------------------------------------------------------------------------------
# X
# --------------------------------------------------------------------------------------------


class XCollector:
    """Public metrics of posts on X, from API v2 post lookup.

    Credentials as for :class:`cvp.publishers.x.XPublisher`: a bearer token (app-only suffices to
    read public metrics) or the four OAuth 1.0a user-context keys.
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
        base_url: str = X_API_URL,
        timeout: float | tuple[float, float] = (10.0, 30.0),
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        conn_id: str = "x_default",
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ):
        keys = (consumer_key, consumer_secret, access_token, access_token_secret)
        if all(keys):
            self._oauth1: OAuth1 | None = OAuth1(*keys)
        elif bearer_token:
            self._oauth1 = None
        else:
            raise AuthError(
                "Faltan las credenciales de X para leer métricas (token de acceso o las cuatro claves "
                f"OAuth 1.0a). Configúrelas en la conexión de Airflow '{conn_id}'.",
                channel=self.channel,
            )
        self._bearer = bearer_token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.conn_id = conn_id
        self.session = session or requests.Session()
        self.sleep = sleep

    def fetch(self, remote_ids: Sequence[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for chunk in _chunks(list(dict.fromkeys(remote_ids)), X_BATCH):
            body = with_retries(
                lambda chunk=chunk: self._get(chunk),
                what="Lectura de métricas de X",
                attempts=self.attempts,
                base_delay=self.base_delay,
                max_delay=self.max_delay,
                sleep=self.sleep,
            )
            for post in body.get("data") or []:
                if not isinstance(post, dict) or "id" not in post:
                    continue
                m = post.get("public_metrics") or {}
                raw = {
                    "impressions": _int(m.get("impression_count")),
                    "likes": _int(m.get("like_count")),
                    "replies": _int(m.get("reply_count")),
                    "reposts": _int(m.get("retweet_count")),
                    "quotes": _int(m.get("quote_count")),
                    "bookmarks": _int(m.get("bookmark_count")),
                }
                found[str(post["id"])] = normalised(
                    raw,
                    impresiones=raw["impressions"],
                    reacciones=raw["likes"],
                    comentarios=raw["replies"],
                    compartidos=_add(raw["reposts"], raw["quotes"]),
                )
            for err in body.get("errors") or []:  # deleted or protected posts come back as partial errors
                if isinstance(err, dict):
                    log.info(
                        "X: la publicación %s no está disponible: %s",
                        err.get("value") or err.get("resource_id"),
                        err.get("detail") or err.get("title"),
                    )
        return found

    def _get(self, ids: list[str]) -> dict:
        headers = {"User-Agent": "cvp-metricas"}
        if self._oauth1 is None:
            headers["Authorization"] = f"Bearer {self._bearer}"
        url = f"{self.base_url}/2/tweets"
        log.debug("X: GET %s (%s publicaciones)", url, len(ids))
        try:
            response = self.session.get(
                url,
                params={"ids": ",".join(ids), "tweet.fields": "public_metrics"},
                headers=headers,
                auth=self._oauth1,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(
                "X no respondió al leer las métricas. Se reintentará.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc
        if 200 <= response.status_code < 300:
            try:
                body = response.json()
            except ValueError:
                body = {}
            return body if isinstance(body, dict) else {}
        raise self._error(response)

    def _error(self, response: requests.Response) -> PublishError:
        status = response.status_code
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        problem = problem if isinstance(problem, dict) else {}
        text = str(problem.get("detail") or problem.get("title") or response.text[:300])
        detail = f"HTTP {status} {problem.get('type') or ''}: {text}"
        if status == 429:
            reset_at = parse_epoch(response.headers.get("x-rate-limit-reset"))
            when = f" X indica que se restablece a las {reset_at:%H:%M} UTC." if reset_at else ""
            return RateLimited(
                f"X limitó las lecturas de métricas (429).{when} Se leerán en la próxima ejecución.",
                reset_at=reset_at,
                channel=self.channel,
                detail=detail,
            )
        if status in (401, 403):
            return AuthError(
                "X rechazó las credenciales al leer métricas: el token venció, fue revocado o no tiene "
                f"acceso de lectura. Renueve el token en la conexión de Airflow '{self.conn_id}'.",
                channel=self.channel,
                detail=detail,
            )
        if status >= 500:
            return TransientError(
                "X tuvo un error temporal al leer métricas. Se reintentará.", channel=self.channel, detail=detail
            )
        return PublishError(
            f"X rechazó la lectura de métricas (HTTP {status}): {text}.", channel=self.channel, detail=detail
        )


# --------------------------------------------------------------------------------------------
# Meta Graph API: Facebook Page and Instagram
# --------------------------------------------------------------------------------------------


def _graph_metric(body: Mapping[str, Any], name: str) -> int | None:
    """A lifetime insight value: ``values[0].value``, or ``total_value.value`` in newer versions."""
    for item in graph_items(body):
        if item.get("name") != name:
            continue
        total = item.get("total_value")
        if isinstance(total, dict) and "value" in total:
            return _int(total.get("value"))
        values = item.get("values")
        if isinstance(values, list) and values and isinstance(values[-1], dict):
            return _int(values[-1].get("value"))
    return None


def _summary_count(body: Mapping[str, Any], edge: str) -> int | None:
    value = body.get(edge)
    if not isinstance(value, dict):
        return None
    summary = value.get("summary")
    return _int(summary.get("total_count")) if isinstance(summary, dict) else None


def _graph(label: str, channel: str, access_token: str, conn_id: str, **kw) -> GraphApi:
    if not access_token:
        raise AuthError(
            f"Falta el token de acceso de {label} para leer métricas. Configúrelo en la conexión "
            f"de Airflow '{conn_id}'.",
            channel=channel,
        )
    return GraphApi(access_token=access_token, label=label, channel=channel, conn_id=conn_id, **kw)


class _GraphCollector:
    """Per-post reads on the Graph API: a post that cannot be read is skipped, the channel goes on."""

    channel = ""
    label = ""

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str = GRAPH_BASE_URL,
        version: str = GRAPH_VERSION,
        app_secret: str | None = None,
        timeout: float | httpx.Timeout = READ_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        conn_id: str = "",
        client: httpx.Client | None = None,
        sleep: Sleep = time.sleep,
    ):
        self.conn_id = conn_id or f"{self.channel}_default"
        self.api = _graph(
            self.label,
            self.channel,
            access_token,
            self.conn_id,
            base_url=base_url,
            version=version,
            app_secret=app_secret,
            timeout=timeout,
            client=client,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            sleep=sleep,
        )

    def fetch(self, remote_ids: Sequence[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for remote_id in dict.fromkeys(remote_ids):
            try:
                metrics = self._read(remote_id)
            except (AuthError, RateLimited, TransientError):
                raise
            except PublishError as exc:  # deleted post, media without insights…: this post only
                log.warning(
                    "%s: no se leyeron las métricas de la publicación %s: %s",
                    self.label,
                    remote_id,
                    exc.detail or exc.message,
                )
                continue
            if metrics is not None:
                found[remote_id] = metrics
        return found

    def _read(self, remote_id: str) -> dict | None:
        raise NotImplementedError


class FacebookCollector(_GraphCollector):
    """Shares, reactions and comments of Page posts; impressions when the token may read insights."""

    channel = "facebook"
    label = P.CHANNEL["facebook"].label

    def __init__(self, *, insights: bool = True, **kw):
        super().__init__(**kw)
        self._insights = insights

    def _read(self, post_id: str) -> dict:
        body = self.api.get(post_id, {"fields": FACEBOOK_FIELDS}, what=f"Lectura de métricas de Facebook ({post_id})")
        shares = body.get("shares")
        # The Graph API leaves out "shares" when nobody has shared the post: the field was asked for.
        shared = _int(shares.get("count")) if isinstance(shares, dict) else 0
        raw = {
            "reactions": _summary_count(body, "reactions"),
            "comments": _summary_count(body, "comments"),
            "shares": shared,
            "post_impressions": self._impressions(post_id),
        }
        return normalised(
            raw,
            impresiones=raw["post_impressions"],
            reacciones=raw["reactions"],
            comentarios=raw["comments"],
            compartidos=raw["shares"],
        )

    def _impressions(self, post_id: str) -> int | None:
        if not self._insights:
            return None
        try:
            body = self.api.get(
                f"{post_id}/insights",
                {"metric": FACEBOOK_INSIGHTS},
                what=f"Lectura de impresiones de Facebook ({post_id})",
            )
        except PublishError as exc:
            if not exc.retryable:  # no read_insights permission, or the metric is gone: stop asking
                self._insights = False
            log.info(
                "Facebook: sin impresiones para %s (%s); se registran las demás métricas.",
                post_id,
                exc.detail or exc.message,
            )
            return None
        return _graph_metric(body, FACEBOOK_INSIGHTS)


class InstagramCollector(_GraphCollector):
    """Reach, likes, comments, saves and shares of media on an Instagram professional account."""

    channel = "instagram"
    label = P.CHANNEL["instagram"].label

    def _read(self, media_id: str) -> dict | None:
        try:
            body = self.api.get(
                f"{media_id}/insights",
                {"metric": INSTAGRAM_METRICS},
                what=f"Lectura de métricas de Instagram ({media_id})",
            )
        except AuthError as exc:
            # (#10) "Not enough viewers for the media to show insights" is about the media, not the token.
            if "not enough viewers" in (exc.detail or "").lower():
                log.info(
                    "Instagram: la publicación %s aún no tiene suficientes vistas para mostrar métricas.", media_id
                )
                return None
            raise
        raw = {name: _graph_metric(body, name) for name in INSTAGRAM_METRICS.split(",")}
        return normalised(
            raw, alcance=raw["reach"], reacciones=raw["likes"], comentarios=raw["comments"], compartidos=raw["shares"]
        )


# --------------------------------------------------------------------------------------------
# YouTube
# --------------------------------------------------------------------------------------------


class _ApiKeyHttp:
    """An httplib2-like transport sending the API key in the ``x-goog-api-key`` header.

    googleapiclient would put a ``developerKey`` in the query string, where request logs see it;
    Google's front ends accept the header form for every API.
    """

    def __init__(self, http: Any, key: str):
        self.http = http
        self._key = key

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        headers = dict(headers or {})
        headers["x-goog-api-key"] = self._key
        return self.http.request(uri, method, body, headers, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)


class YouTubeCollector:
    """View, like and comment counts of videos (``videos.list``, 1 quota unit per 50 videos).

    Pass google-auth ``credentials``, or an ``api_key`` (public statistics need no OAuth), or an
    ``http`` (tests pass googleapiclient's ``HttpMockSequence``).
    """

    channel = "youtube"

    def __init__(
        self,
        credentials: Any = None,
        *,
        api_key: str | None = None,
        http: Any = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        conn_id: str = "youtube_default",
        sleep: Sleep = time.sleep,
    ):
        import httplib2
        from googleapiclient.discovery import build

        if credentials is None and not api_key and http is None:
            raise AuthError(
                "Faltan las credenciales de YouTube para leer métricas (clave de API o autorización "
                f"OAuth). Configúrelas en la conexión de Airflow '{conn_id}'.",
                channel=self.channel,
            )
        if credentials is not None:
            import google_auth_httplib2

            http = google_auth_httplib2.AuthorizedHttp(credentials, http=http or httplib2.Http(timeout=timeout))
        else:
            http = http or httplib2.Http(timeout=timeout)
            if api_key:
                http = _ApiKeyHttp(http, api_key)
        self.conn_id = conn_id
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.sleep = sleep
        self._yt = build(
            "youtube",
            "v3",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": base_url} if base_url else None,
        )

    def fetch(self, remote_ids: Sequence[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for chunk in _chunks(list(dict.fromkeys(remote_ids)), YOUTUBE_BATCH):
            body = with_retries(
                lambda chunk=chunk: self._list(chunk),
                what="Lectura de métricas de YouTube",
                attempts=self.attempts,
                base_delay=self.base_delay,
                max_delay=self.max_delay,
                sleep=self.sleep,
            )
            for item in body.get("items") or []:
                if not isinstance(item, dict) or "id" not in item:
                    continue
                stats = item.get("statistics") or {}
                # likeCount is absent when the channel hides likes; commentCount when comments are off.
                raw = {
                    "viewCount": _int(stats.get("viewCount")),
                    "likeCount": _int(stats.get("likeCount")),
                    "commentCount": _int(stats.get("commentCount")),
                }
                found[str(item["id"])] = normalised(
                    raw, reproducciones=raw["viewCount"], reacciones=raw["likeCount"], comentarios=raw["commentCount"]
                )
        return found

    def _list(self, ids: list[str]) -> dict:
        import httplib2
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError

        try:
            return self._yt.videos().list(part="statistics", id=",".join(ids)).execute(num_retries=0)
        except HttpError as exc:
            raise self._error(exc) from exc
        except RefreshError as exc:
            raise AuthError(self._renew(), channel=self.channel, detail=str(exc)) from exc
        except (OSError, httplib2.HttpLib2Error, TransportError) as exc:
            raise TransientError(
                "YouTube no respondió al leer las métricas. Se reintentará.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc

    def _renew(self) -> str:
        return (
            "YouTube rechazó las credenciales al leer métricas: la clave o el token venció o fue revocado. "
            f"Renueve la autorización en la conexión de Airflow '{self.conn_id}'."
        )

    def _error(self, exc) -> PublishError:
        status = int(exc.resp.status)
        content = exc.content.decode("utf-8", "replace") if isinstance(exc.content, bytes) else str(exc.content)
        try:
            error = json.loads(content or "{}").get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        error = error if isinstance(error, dict) else {}
        reasons = {e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)}
        detail = f"HTTP {status} {','.join(sorted(reasons))}: {error.get('message', '')}"
        if status == 401 or reasons & {"keyInvalid", "authError", "forbidden", "accessNotConfigured"}:
            return AuthError(self._renew(), channel=self.channel, detail=detail)
        if status == 429 or reasons & {
            "quotaExceeded",
            "dailyLimitExceeded",
            "rateLimitExceeded",
            "userRateLimitExceeded",
        }:
            return RateLimited(
                "Se agotó la cuota de la API de YouTube o se limitaron las lecturas. Las métricas se "
                "leerán en la próxima ejecución.",
                channel=self.channel,
                detail=detail,
            )
        if status >= 500:
            return TransientError(
                "YouTube tuvo un error temporal al leer métricas. Se reintentará.", channel=self.channel, detail=detail
            )
        return PublishError(
            f"YouTube rechazó la lectura de métricas: {error.get('message') or status}.",
            channel=self.channel,
            detail=detail,
        )


# --------------------------------------------------------------------------------------------
# Collection
# --------------------------------------------------------------------------------------------


class Collected(int):
    """How many snapshots were stored; ``failures`` maps each failed channel to its message (Spanish).

    An ``int``, so that callers that only count keep working; ``skipped`` lists the channels that
    had publications but no collector.
    """

    failures: dict[str, str]
    skipped: tuple[str, ...]

    def __new__(cls, stored: int, failures: Mapping[str, str] | None = None, skipped: Iterable[str] = ()):
        obj = super().__new__(cls, stored)
        obj.failures = dict(failures or {})
        obj.skipped = tuple(skipped)
        return obj


def collect(
    office, collectors: Mapping[str, Collector], since: datetime, *, fresh_since: datetime | None = None, clock=utcnow
) -> Collected:
    """Store one snapshot per published post (with a remote id) published at or after ``since``.

    Channels without a collector are skipped, and so are outbox publications (their URL is a
    local ``file:`` address). One channel's failure is logged and returned, never stopping the
    others. With ``fresh_since``, posts that already have a snapshot taken since then are not read
    again, so a retried task reads only what it missed.
    """
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    q = (
        select(Publication)
        .where(
            Publication.state == PUBLISHED,
            Publication.remote_id != "",
            Publication.published_at >= since,
            ~Publication.url.startswith("file:"),
        )
        .order_by(Publication.channel, Publication.id)
    )
    if fresh_since is not None:
        q = q.where(
            ~exists().where(
                EngagementSnapshot.publication_id == Publication.id, EngagementSnapshot.taken_at >= fresh_since
            )
        )
    with office.session() as s:
        rows = [(p.id, p.channel, p.remote_id) for p in s.scalars(q)]
    by_channel: dict[str, list[tuple[int, str]]] = {}
    for pub_id, channel, remote_id in rows:
        by_channel.setdefault(channel, []).append((pub_id, remote_id))

    stored, failures, skipped = 0, {}, []
    for channel, posts in by_channel.items():
        label = P.CHANNELS.get(channel, channel)
        collector = collectors.get(channel)
        if collector is None:
            skipped.append(channel)
            log.info("%s: sin lector de métricas; se omiten %s publicaciones.", label, len(posts))
            continue
        try:
            read = collector.fetch([remote_id for _, remote_id in posts])
        except PublishError as exc:
            failures[channel] = exc.message
            log.warning("%s: no se leyeron las métricas: %s (%s)", label, exc.message, exc.detail)
            continue
        except Exception as exc:  # noqa: BLE001 - an unexpected answer on one channel must not stop the others
            failures[channel] = f"Error inesperado al leer las métricas de {label}: {type(exc).__name__}."
            log.exception("%s: error inesperado al leer métricas", label)
            continue
        taken, here = clock(), 0
        with office.session() as s:
            for pub_id, remote_id in posts:
                metrics = read.get(remote_id)
                if metrics is None or not has_numbers(metrics):
                    continue
                s.add(EngagementSnapshot(publication_id=pub_id, channel=channel, taken_at=taken, metrics=metrics))
                here += 1
        stored += here
        log.info("%s: métricas registradas de %s de %s publicaciones.", label, here, len(posts))
    return Collected(stored, failures, skipped)
