"""A local fake of X, the Meta Graph API (Facebook Pages and Instagram) and YouTube, over real HTTP.

One ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) answers the few documented endpoints
the publishers call, with the documented response shapes, so that a publisher built from an
Airflow Connection pointing here runs end to end: its HTTP client, its authentication, its
multipart bodies and its error mapping are the real ones. Routes by path:

* X API v2: ``/2/media/upload`` (one-shot, ``initialize``/``append``/``finalize``, ``STATUS``),
  ``/2/media/metadata``, ``/2/tweets``, ``/2/users/me``, ``/2/users/{id}/tweets``;
* Graph API: ``/{version}/{page}/feed|photos|videos|posts``, ``/{version}/{ig}/media``,
  ``/{version}/{ig}/media_publish``, ``/{version}/{object}`` (containers, posts, media);
* YouTube Data API v3 as googleapiclient calls it when its root URL is this server:
  ``/upload/youtube/v3/videos`` (resumable: ``POST`` → ``Location``, ``PUT`` chunks, ``308``),
  ``/upload/youtube/v3/thumbnails/set``, ``/youtube/v3/channels``, ``/youtube/v3/playlistItems``;
  and Google's OAuth token endpoint, ``/token`` (recorded as platform ``google_oauth``, so that
  faults aimed at ``youtube`` hit the API, not the token refresh);
* ``/public/{key}``: the files of :attr:`FakePlatforms.public_dir`, the "public storage" that the
  fake Instagram downloads ``image_url``/``video_url`` from, as Instagram does.

Every request is recorded (:class:`Recorded`: method, path, query, headers without credentials,
body size, form fields, JSON, file parts). Switches inject the failures a platform produces:
:meth:`FakePlatforms.expire_token`, :meth:`~FakePlatforms.rate_limit`,
:meth:`~FakePlatforms.fail` (a 5xx) and :meth:`~FakePlatforms.drop_after_accept` (the request is
processed, the post exists, and the connection is closed without an answer);
:meth:`~FakePlatforms.list_late` makes new posts show in the account's listings only later.

Every response carries ``Connection: close``, so no client ever reuses a connection the fake has
closed and a dropped answer is the only way a request goes unanswered.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.loopback import LoopbackServer, QuietHandler

# -- credentials the fake accepts (tests build Airflow Connections from these) ----------------

X_BEARER = "x-oauth2-user-token-SECRET-7f3a"
X_CONSUMER_KEY = "x-consumer-key-SECRET-91bd"
X_CONSUMER_SECRET = "x-consumer-secret-SECRET-2c44"
X_ACCESS_TOKEN = "x-access-token-SECRET-5e10"
X_ACCESS_TOKEN_SECRET = "x-access-token-secret-SECRET-88aa"
X_USER_ID = "1500000000000000001"
X_USERNAME = "CVPBogota"

GRAPH_VERSION = "v25.0"
FB_PAGE_ID = "104000000000001"
FB_TOKEN = "EAAB-page-token-SECRET-4d2e"
IG_USER_ID = "17841400000000001"
IG_TOKEN = "EAAB-instagram-token-SECRET-b7c1"
META_APP_SECRET = "meta-app-secret-SECRET-0f9e"

YT_CLIENT_ID = "1234567890-cvp.apps.googleusercontent.com"
YT_CLIENT_SECRET = "GOCSPX-client-secret-SECRET-61aa"
YT_REFRESH_TOKEN = "1//refresh-token-SECRET-c3d9"
YT_CHANNEL_ID = "UCcvpBogota000000000000"
YT_UPLOADS = "UUcvpBogota000000000000"

#: Everything that must never show in a log line, a repr or a recorded request.
SECRETS = (
    X_BEARER,
    X_CONSUMER_KEY,
    X_CONSUMER_SECRET,
    X_ACCESS_TOKEN,
    X_ACCESS_TOKEN_SECRET,
    FB_TOKEN,
    IG_TOKEN,
    META_APP_SECRET,
    YT_CLIENT_SECRET,
    YT_REFRESH_TOKEN,
)

PLATFORMS = ("x", "facebook", "instagram", "youtube")
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}
_SECRET_FIELDS = {"client_secret", "refresh_token", "access_token", "client_assertion"}
_GRAPH_PATH = re.compile(r"^/(v\d+\.\d+)/(.+)$")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Part:
    """One file part of a multipart body."""

    field: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class Recorded:
    """One request as the fake received it, credentials left out."""

    platform: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    auth: str  # the scheme only: "Bearer", "OAuth" or ""
    body_size: int
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: list[Part] = field(default_factory=list)
    status: int | None = None  # None: the fake closed the connection without answering
    complete: bool = True  # False: the announced body never arrived whole


@dataclass
class Post:
    """A post that exists on a fake platform (what a person would see on the account)."""

    platform: str
    id: str
    text: str
    url: str
    created_at: datetime
    media: list[dict] = field(default_factory=list)
    title: str = ""


@dataclass
class _Fault:
    platform: str
    kind: str  # "error", "rate_limit", "drop"
    method: str | None
    path: re.Pattern | None
    remaining: int | None  # None: every matching request
    status: int = 500
    reset_at: datetime | None = None
    predicate: Callable[[Recorded], bool] | None = None

    def matches(self, rec: Recorded) -> bool:
        if self.remaining == 0 or rec.platform != self.platform:
            return False
        if self.method and rec.method != self.method:
            return False
        if self.path is not None and not self.path.search(rec.path):
            return False
        return self.predicate is None or self.predicate(rec)


class _Drop(Exception):
    """Close the connection without answering."""


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


# --------------------------------------------------------------------------------------------


class FakePlatforms(LoopbackServer):
    """The fake platforms; use as a context manager (``with FakePlatforms(dir) as fake``)."""

    thread_name = "fake-platforms"

    def __init__(
        self,
        public_dir: str | Path | None = None,
        *,
        meta_app_secret: str | None = META_APP_SECRET,
        body_timeout: float | None = None,
    ):
        # Silence tolerated inside a request body; a loaded machine running a whole deployment needs more.
        self.body_timeout = body_timeout
        self.public_dir = Path(public_dir) if public_dir else None
        self.meta_app_secret = meta_app_secret
        self.recorded: list[Recorded] = []
        self.posts: dict[str, list[Post]] = {p: [] for p in PLATFORMS}
        self.expired: set[str] = set()
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()  # platform state; held while a request is processed
        self._rec_lock = threading.Lock()  # the record only: /public is served while _lock is held
        self._ids = itertools.count(1)
        super().__init__()
        # platform state
        self._x_media: dict[str, dict] = {}
        self._fb_photos: dict[str, dict] = {}
        self._fb_objects: dict[str, Post] = {}
        self._fb_sessions: dict[str, dict] = {}
        self._ig_containers: dict[str, dict] = {}
        self._ig_media: dict[str, Post] = {}
        self._yt_tokens: set[str] = set()
        self._yt_sessions: dict[str, dict] = {}
        self.thumbnails: dict[str, int] = {}  # YouTube video id → bytes of its thumbnail
        self._listed_up_to: dict[str, int] = {}  # platform → how many of its posts its listings show
        #: Called with each request as it arrives (tests observe the product's records at that moment).
        self.on_request: Callable[[Recorded], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            platforms = fake
            body_timeout = fake.body_timeout or _Handler.body_timeout

        return Handler

    @property
    def public_url(self) -> str:
        return f"{self.url}/public"

    # -- switches ----------------------------------------------------------------------------

    def expire_token(self, platform: str) -> None:
        """Reject the platform's credentials: 401 on X, OAuthException 190 on Graph, and on
        YouTube 401 for every access token plus ``invalid_grant`` for the refresh token."""
        with self._lock:
            self.expired.add(platform)
            if platform == "youtube":
                self._yt_tokens.clear()

    def renew_token(self, platform: str) -> None:
        with self._lock:
            self.expired.discard(platform)

    def fail(
        self,
        platform: str,
        *,
        status: int = 500,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with a server error, creating nothing."""
        self._add(_Fault(platform, "error", method, _re(path), times, status=status))

    def rate_limit(
        self,
        platform: str,
        *,
        reset_at: datetime | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer with the platform's rate-limit error: X 429 with ``x-rate-limit-reset``; Graph
        error 80001/80002 with ``x-business-use-case-usage``; YouTube 403 ``quotaExceeded``."""
        reset_at = reset_at or utcnow() + timedelta(minutes=15)
        self._add(_Fault(platform, "rate_limit", method, _re(path), times, reset_at=reset_at))

    def drop_after_accept(
        self, platform: str, *, times: int | None = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """Process the platform's post call (the post exists) and close the connection unanswered.

        Without ``method``/``path`` the fault applies to the call that makes the post public:
        X ``POST /2/tweets``; Facebook ``feed``, published ``photos`` and ``videos``; Instagram
        ``media_publish``; YouTube any ``PUT`` to an upload session.
        """
        predicate = None if (method or path) else _POST_CALLS[platform]
        self._add(_Fault(platform, "drop", method, _re(path), times, predicate=predicate))

    def list_late(self, platform: str) -> None:
        """Posts created from now on exist but do not show in the account's listings yet (a platform
        that is slow to list a new post), until :meth:`list_now`."""
        with self._lock:
            self._listed_up_to[platform] = len(self.posts[platform])

    def list_now(self, platform: str) -> None:
        with self._lock:
            self._listed_up_to.pop(platform, None)

    def _listed(self, platform: str) -> list[Post]:
        return self.posts[platform][: self._listed_up_to.get(platform, len(self.posts[platform]))]

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, rec: Recorded, kinds: tuple[str, ...]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(rec):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    # -- queries for tests -------------------------------------------------------------------

    def requests(
        self, platform: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[Recorded]:
        pattern = _re(path)
        with self._rec_lock:
            return [
                r
                for r in self.recorded
                if (platform is None or r.platform == platform)
                and (method is None or r.method == method)
                and (pattern is None or pattern.search(r.path))
            ]

    # -- dispatch ----------------------------------------------------------------------------

    def platform_of(self, path: str, headers) -> str:
        if path.startswith("/2/"):
            return "x"
        if path.startswith(("/upload/youtube/", "/youtube/")):
            return "youtube"
        if path == "/token":
            return "google_oauth"
        if path.startswith("/public/"):
            return "storage"
        if _GRAPH_PATH.match(path):
            token = _bearer(headers)
            if token == IG_TOKEN:
                return "instagram"
            if token == FB_TOKEN:
                return "facebook"
            return "instagram" if IG_USER_ID in path else "facebook"
        return "unknown"

    def handle(self, rec: Recorded, body: bytes, headers, form: dict[str, str], query: dict[str, str]) -> _Reply:
        """Process one request; raises :class:`_Reply` or :class:`_Drop`."""
        if rec.platform == "storage":
            return self._serve_public(rec)
        if self.on_request is not None:
            self.on_request(rec)
        self._check_auth(rec, headers, form, query)
        fault = self._take(rec, ("error", "rate_limit"))
        if fault is not None:
            raise _fault_reply(fault)
        with self._lock:
            if rec.platform == "x":
                reply = self._x(rec)
            elif rec.platform in ("facebook", "instagram"):
                reply = self._graph(rec)
            elif rec.platform in ("youtube", "google_oauth"):
                reply = self._youtube(rec, body, headers, form)
            else:
                reply = _Reply(404, {"error": "not found"})
        if self._take(rec, ("drop",)) is not None:
            raise _Drop()
        return reply

    def _check_auth(self, rec: Recorded, headers, form: dict[str, str], query: dict[str, str]) -> None:
        platform = rec.platform
        if platform == "x":
            raw = headers.get("Authorization", "")
            ok = raw == f"Bearer {X_BEARER}" or (
                raw.startswith("OAuth ")
                and f'oauth_consumer_key="{quote(X_CONSUMER_KEY, safe="")}"' in raw
                and f'oauth_token="{quote(X_ACCESS_TOKEN, safe="")}"' in raw
                and 'oauth_signature="' in raw
            )
            if platform in self.expired or not ok:
                raise _Reply(
                    401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
                )
        elif platform in ("facebook", "instagram"):
            token = _bearer(headers) or query.get("access_token") or form.get("access_token")
            expected = FB_TOKEN if platform == "facebook" else IG_TOKEN
            if token != expected:
                raise _Reply(
                    400, _graph_error("Invalid OAuth access token - Cannot parse access token", "OAuthException", 190)
                )
            if platform in self.expired:
                raise _Reply(
                    400,
                    _graph_error(
                        "Error validating access token: Session has expired on Friday, 28-Nov-25 "
                        "07:00:00 PST. The current time is Friday, 28-Nov-25 10:00:00 PST.",
                        "OAuthException",
                        190,
                        subcode=463,
                    ),
                )
            proof = query.get("appsecret_proof") or form.get("appsecret_proof")
            if proof is not None and self.meta_app_secret:
                good = hmac.new(self.meta_app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
                if not hmac.compare_digest(proof, good):
                    raise _Reply(
                        400,
                        _graph_error(
                            "Invalid appsecret_proof provided in the API argument", "GraphMethodException", 100
                        ),
                    )
        elif platform == "youtube":
            token = _bearer(headers)
            if token not in self._yt_tokens:
                raise _Reply(
                    401,
                    _yt_error(
                        401,
                        "authError",
                        "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                        domain="global",
                        status="UNAUTHENTICATED",
                    ),
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
                )

    # -- public storage ----------------------------------------------------------------------

    def _serve_public(self, rec: Recorded) -> _Reply:
        key = unquote(rec.path[len("/public/") :])
        if self.public_dir is None or ".." in key.split("/"):
            raise _Reply(404)
        target = self.public_dir / key
        if not target.is_file():
            raise _Reply(404)
        return _Reply(200, target.read_bytes(), {"Content-Type": "application/octet-stream"})

    def _download(self, url: str) -> int:
        """Fetch a media URL as Instagram does; raise the documented Graph error when it fails."""
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local fake)
                return len(response.read())
        except Exception as exc:
            raise _Reply(
                400,
                _graph_error(
                    "Media download has failed.",
                    "OAuthException",
                    9004,
                    subcode=2207052,
                    user_msg=f"The media URI doesn't meet our requirements: {url}",
                ),
            ) from exc

    # -- X -----------------------------------------------------------------------------------

    def _x(self, rec: Recorded) -> _Reply:
        path, method = rec.path, rec.method
        if method == "POST" and path == "/2/media/upload":
            part = _one_file(rec, "media")
            media_id = self._snowflake()
            self._x_media[media_id] = {
                "media_key": f"3_{media_id}",
                "size": part.size,
                "sha256": part.sha256,
                "media_type": rec.form.get("media_type") or part.content_type,
                "category": rec.form.get("media_category", ""),
                "state": "succeeded",
                "alt_text": None,
            }
            return _Reply(
                200,
                {
                    "data": {
                        "id": media_id,
                        "media_key": f"3_{media_id}",
                        "size": part.size,
                        "expires_after_secs": 86400,
                        "image": {"image_type": part.content_type, "w": 8, "h": 8},
                    }
                },
            )
        if method == "GET" and path == "/2/media/upload" and rec.query.get("command") == "STATUS":
            media = self._x_media.get(rec.query.get("media_id", ""))
            if media is None:
                raise _Reply(400, _x_problem(400, "Invalid Request", "media_id not found"))
            if media["state"] == "pending":
                media["state"] = "in_progress"
                info = {"state": "in_progress", "check_after_secs": 1, "progress_percent": 50}
            else:
                media["state"] = "succeeded"
                info = {"state": "succeeded", "progress_percent": 100}
            return _Reply(
                200, {"data": {"id": rec.query["media_id"], "media_key": media["media_key"], "processing_info": info}}
            )
        if method == "POST" and path == "/2/media/upload/initialize":
            body = rec.json or {}
            media_id = self._snowflake()
            self._x_media[media_id] = {
                "media_key": f"7_{media_id}",
                "size": 0,
                "declared": int(body.get("total_bytes", 0)),
                "media_type": body.get("media_type"),
                "category": body.get("media_category"),
                "state": "uploading",
                "segments": {},
                "alt_text": None,
            }
            return _Reply(200, {"data": {"id": media_id, "media_key": f"7_{media_id}", "expires_after_secs": 86400}})
        match = re.fullmatch(r"/2/media/upload/(\d+)/(append|finalize)", path)
        if method == "POST" and match:
            media = self._x_media.get(match.group(1))
            if media is None or media["state"] != "uploading":
                raise _Reply(400, _x_problem(400, "Invalid Request", "media_id is not in an uploading state"))
            if match.group(2) == "append":
                part = _one_file(rec, "media")
                media["segments"][int(rec.form.get("segment_index", "0"))] = part.size
                return _Reply(200, {"data": {"expires_at": int(utcnow().timestamp()) + 86400}})
            media["size"] = sum(media["segments"].values())
            if media["size"] != media["declared"]:
                raise _Reply(400, _x_problem(400, "Invalid Request", "File size does not match total_bytes"))
            media["state"] = "pending"
            return _Reply(
                200,
                {
                    "data": {
                        "id": match.group(1),
                        "media_key": media["media_key"],
                        "size": media["size"],
                        "expires_after_secs": 86400,
                        "processing_info": {"state": "pending", "check_after_secs": 1},
                    }
                },
            )
        if method == "POST" and path == "/2/media/metadata":
            body = rec.json or {}
            media = self._x_media.get(str(body.get("id")))
            if media is None:
                raise _Reply(400, _x_problem(400, "Invalid Request", "media id not found"))
            media["alt_text"] = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
            return _Reply(200, {"data": {"id": str(body["id"]), "associated_metadata": body.get("metadata")}})
        if method == "POST" and path == "/2/tweets":
            body = rec.json or {}
            ids = [str(i) for i in (body.get("media") or {}).get("media_ids") or []]
            for media_id in ids:
                media = self._x_media.get(media_id)
                if media is None or media["state"] != "succeeded":
                    raise _Reply(
                        400, _x_problem(400, "Invalid Request", "Your media IDs are invalid or not processed.")
                    )
            text = body.get("text", "")
            post_id = self._snowflake()
            # X stores an escaped text and appends a t.co link for the attached media.
            stored = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            if ids:
                stored += f" https://t.co/{post_id[-10:]}"
            self.posts["x"].append(
                Post(
                    "x",
                    post_id,
                    stored,
                    f"https://x.com/{X_USERNAME}/status/{post_id}",
                    utcnow(),
                    [dict(self._x_media[i], id=i) for i in ids],
                )
            )
            return _Reply(201, {"data": {"id": post_id, "text": stored, "edit_history_tweet_ids": [post_id]}})
        if method == "GET" and path == "/2/users/me":
            return _Reply(
                200, {"data": {"id": X_USER_ID, "name": "Caja de la Vivienda Popular", "username": X_USERNAME}}
            )
        match = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if method == "GET" and match:
            if match.group(1) != X_USER_ID:
                raise _Reply(404, _x_problem(404, "Not Found Error", "Could not find user"))
            fields = set(rec.query.get("tweet.fields", "").split(","))
            limit = int(rec.query.get("max_results", "10"))
            data = []
            for post in reversed(self._listed("x")[-limit:]):
                item: dict[str, Any] = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
                if "created_at" in fields:
                    item["created_at"] = post.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                if "attachments" in fields and post.media:
                    item["attachments"] = {"media_keys": [m["media_key"] for m in post.media]}
                data.append(item)
            meta: dict[str, Any] = {"result_count": len(data)}
            if data:
                meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
                return _Reply(200, {"data": data, "meta": meta})
            return _Reply(200, {"meta": meta})
        raise _Reply(404, _x_problem(404, "Not Found", f"{method} {path}"))

    # -- Graph (Facebook Page, Instagram) ----------------------------------------------------

    def _graph(self, rec: Recorded) -> _Reply:
        match = _GRAPH_PATH.match(rec.path)
        node, _, edge = match.group(2).partition("/")
        method, form = rec.method, rec.form
        if node == FB_PAGE_ID and rec.platform == "facebook":
            if method == "POST" and edge == "feed":
                media = []
                for key in sorted(k for k in form if k.startswith("attached_media[")):
                    fbid = str(json.loads(form[key]).get("media_fbid"))
                    photo = self._fb_photos.get(fbid)
                    if photo is None or photo["published"]:
                        raise _Reply(400, _graph_error("(#100) Invalid media_fbid", "OAuthException", 100))
                    media.append(photo)
                post = self._fb_post(form.get("message", ""), media)
                return _Reply(200, {"id": post.id})
            if method == "POST" and edge == "photos":
                part = _one_file(rec, "source")
                photo_id = self._numeric()
                published = form.get("published", "true") != "false"
                photo = {
                    "id": photo_id,
                    "size": part.size,
                    "sha256": part.sha256,
                    "content_type": part.content_type,
                    "alt_text": form.get("alt_text_custom"),
                    "published": published,
                }
                self._fb_photos[photo_id] = photo
                if not published:
                    return _Reply(200, {"id": photo_id})
                post = self._fb_post(form.get("caption", ""), [photo])
                return _Reply(200, {"id": photo_id, "post_id": post.id})
            if method == "POST" and edge == "videos":
                return self._fb_video(rec)
            if method == "GET" and edge == "posts":
                limit = int(rec.query.get("limit", "25"))
                return _Reply(
                    200,
                    {
                        "data": [
                            {
                                "id": p.id,
                                "message": p.text,
                                "permalink_url": p.url,
                                "created_time": _graph_time(p.created_at),
                            }
                            for p in reversed(self._listed("facebook")[-limit:])
                        ],
                        "paging": {},
                    },
                )
        if node == IG_USER_ID and rec.platform == "instagram":
            if method == "POST" and edge == "media":
                return self._ig_container(form)
            if method == "POST" and edge == "media_publish":
                container = self._ig_containers.get(form.get("creation_id", ""))
                if container is None or container["status_code"] != "FINISHED":
                    raise _Reply(
                        400, _graph_error("Media ID is not available", "OAuthException", 9007, subcode=2207027)
                    )
                media_id = str(17900000000000000 + next(self._ids))
                shortcode = hashlib.sha256(media_id.encode()).hexdigest()[:11]
                post = Post(
                    "instagram",
                    media_id,
                    container.get("caption", ""),
                    f"https://www.instagram.com/p/{shortcode}/",
                    utcnow(),
                    container["items"],
                )
                container["status_code"] = "PUBLISHED"
                self._ig_media[media_id] = post
                self.posts["instagram"].append(post)
                return _Reply(200, {"id": media_id})
            if method == "GET" and edge == "media":
                limit = int(rec.query.get("limit", "25"))
                return _Reply(
                    200,
                    {
                        "data": [
                            {"id": p.id, "caption": p.text, "permalink": p.url, "timestamp": _graph_time(p.created_at)}
                            for p in reversed(self._listed("instagram")[-limit:])
                        ],
                        "paging": {},
                    },
                )
        if method == "GET" and not edge:
            return self._graph_object(rec, node)
        raise _Reply(
            400,
            _graph_error(
                f"Unsupported {method} request. Object with ID '{node}' does not "
                "exist, cannot be loaded due to missing permissions, or does not "
                "support this operation.",
                "GraphMethodException",
                100,
                subcode=33,
            ),
        )

    def _graph_object(self, rec: Recorded, node: str) -> _Reply:
        fields = set(rec.query.get("fields", "id").split(","))
        if rec.platform == "facebook" and node in self._fb_objects:
            post = self._fb_objects[node]
            body = {"id": node, "permalink_url": post.url, "created_time": _graph_time(post.created_at)}
        elif rec.platform == "instagram" and node in self._ig_containers:
            container = self._ig_containers[node]
            if container["status_code"] == "IN_PROGRESS" and container["polls"] > 0:
                container["status_code"] = "FINISHED"
            container["polls"] += 1
            body = {
                "id": node,
                "status_code": container["status_code"],
                "status": "Finished: Media has been uploaded and it is ready to be published."
                if container["status_code"] == "FINISHED"
                else "In Progress",
            }
        elif rec.platform == "instagram" and node in self._ig_media:
            post = self._ig_media[node]
            body = {"id": node, "permalink": post.url, "timestamp": _graph_time(post.created_at)}
        else:
            raise _Reply(
                400,
                _graph_error(
                    f"Unsupported get request. Object with ID '{node}' does not exist",
                    "GraphMethodException",
                    100,
                    subcode=33,
                ),
            )
        return _Reply(200, {k: v for k, v in body.items() if k in fields | {"id"}})

    def _fb_post(self, message: str, media: list[dict], *, object_id: str | None = None) -> Post:
        post_id = f"{FB_PAGE_ID}_{self._numeric()}"
        for photo in media:
            photo["published"] = True
        post = Post(
            "facebook",
            post_id,
            message,
            f"https://www.facebook.com/{FB_PAGE_ID}/posts/{post_id.split('_')[1]}",
            utcnow(),
            media,
        )
        self.posts["facebook"].append(post)
        self._fb_objects[post_id] = post
        if object_id:
            self._fb_objects[object_id] = post
        return post

    def _fb_video(self, rec: Recorded) -> _Reply:
        form = rec.form
        phase = form.get("upload_phase")
        if phase is None:
            part = _one_file(rec, "source")
            video_id = self._numeric()
            post = self._fb_post(
                form.get("description", ""),
                [{"id": video_id, "size": part.size, "sha256": part.sha256}],
                object_id=video_id,
            )
            post.url = f"/{FB_PAGE_ID}/videos/{video_id}/"
            post.title = form.get("title", "")
            return _Reply(200, {"id": video_id})
        if phase == "start":
            video_id, session_id = self._numeric(), self._numeric()
            size = int(form.get("file_size", "0"))
            self._fb_sessions[session_id] = {"video_id": video_id, "size": size, "received": 0}
            return _Reply(
                200,
                {
                    "video_id": video_id,
                    "upload_session_id": session_id,
                    "start_offset": "0",
                    "end_offset": str(min(size, 1048576)),
                },
            )
        session = self._fb_sessions.get(form.get("upload_session_id", ""))
        if session is None:
            raise _Reply(400, _graph_error("Invalid upload session", "OAuthException", 6000, subcode=1363020))
        if phase == "transfer":
            part = _one_file(rec, "video_file_chunk")
            start = int(form.get("start_offset", "0"))
            session["received"] = max(session["received"], start + part.size)
            end = min(session["size"], session["received"] + 1048576)
            return _Reply(200, {"start_offset": str(session["received"]), "end_offset": str(end)})
        if phase == "finish":
            video_id = session["video_id"]
            post = self._fb_post(
                form.get("description", ""), [{"id": video_id, "size": session["received"]}], object_id=video_id
            )
            post.url = f"/{FB_PAGE_ID}/videos/{video_id}/"
            return _Reply(200, {"success": True})
        raise _Reply(400, _graph_error("Invalid upload_phase", "OAuthException", 100))

    def _ig_container(self, form: dict[str, str]) -> _Reply:
        container_id = str(18000000000000000 + next(self._ids))
        item: dict[str, Any] = {k: form[k] for k in ("image_url", "video_url", "alt_text", "media_type") if k in form}
        if form.get("media_type") == "CAROUSEL":
            children = [self._ig_containers.get(c) for c in form.get("children", "").split(",")]
            if not children or None in children:
                raise _Reply(400, _graph_error("Invalid children", "OAuthException", 100))
            items = [i for child in children for i in child["items"]]
            status = "FINISHED"
        else:
            url = form.get("image_url") or form.get("video_url")
            if not url:
                raise _Reply(400, _graph_error("The parameter image_url is required", "OAuthException", 100))
            item["downloaded_bytes"] = self._download(url)
            items = [item]
            status = "IN_PROGRESS" if "video_url" in form else "FINISHED"
        self._ig_containers[container_id] = {
            "status_code": status,
            "polls": 0,
            "items": items,
            "caption": form.get("caption", ""),
        }
        return _Reply(200, {"id": container_id})

    # -- YouTube -----------------------------------------------------------------------------

    def _youtube(self, rec: Recorded, body: bytes, headers, form: dict[str, str]) -> _Reply:
        path, method = rec.path, rec.method
        if path == "/token" and method == "POST":
            if (
                form.get("grant_type") != "refresh_token"
                or form.get("client_id") != YT_CLIENT_ID
                or form.get("client_secret") != YT_CLIENT_SECRET
            ):
                raise _Reply(401, {"error": "invalid_client", "error_description": "Unauthorized"})
            if form.get("refresh_token") != YT_REFRESH_TOKEN or "youtube" in self.expired:
                raise _Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
            token = f"ya29.fake-access-{next(self._ids)}"
            self._yt_tokens.add(token)
            return _Reply(
                200,
                {
                    "access_token": token,
                    "expires_in": 3599,
                    "token_type": "Bearer",
                    "scope": "https://www.googleapis.com/auth/youtube.upload "
                    "https://www.googleapis.com/auth/youtube.readonly",
                },
            )
        if path == "/upload/youtube/v3/videos" and method == "POST" and rec.query.get("uploadType") == "resumable":
            if rec.query.get("upload_id"):
                raise _Reply(400, _yt_error(400, "badRequest", "Unexpected upload_id"))
            meta = rec.json or {}
            snippet = meta.get("snippet") or {}
            if not snippet.get("title"):
                raise _Reply(
                    400,
                    _yt_error(400, "invalidTitle", "The request metadata specifies an invalid or empty video title."),
                )
            session_id = f"ABCD{next(self._ids)}"
            self._yt_sessions[session_id] = {
                "meta": meta,
                "size": int(headers.get("X-Upload-Content-Length") or 0),
                "type": headers.get("X-Upload-Content-Type"),
                "data": bytearray(),
                "video": None,
                "query": dict(rec.query),
            }
            location = f"{self.url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={session_id}"
            return _Reply(200, None, {"Location": location, "X-GUploader-UploadID": session_id})
        if path == "/upload/youtube/v3/videos" and method == "PUT":
            session = self._yt_sessions.get(rec.query.get("upload_id", ""))
            if session is None:
                raise _Reply(404, _yt_error(404, "notFound", "Upload session not found"))
            return self._yt_chunk(session, body, headers)
        if path == "/upload/youtube/v3/thumbnails/set" and method == "POST":
            video_id = rec.query.get("videoId", "")
            if not any(p.id == video_id for p in self.posts["youtube"]):
                raise _Reply(
                    404, _yt_error(404, "videoNotFound", "The video that you are trying to update cannot be found.")
                )
            self.thumbnails[video_id] = rec.body_size
            return _Reply(
                200,
                {
                    "kind": "youtube#thumbnailSetResponse",
                    "items": [
                        {
                            "default": {
                                "url": f"https://i.ytimg.com/vi/{video_id}/default.jpg",
                                "width": 120,
                                "height": 90,
                            }
                        }
                    ],
                },
            )
        if path == "/youtube/v3/channels" and method == "GET":
            if rec.query.get("mine") != "true":
                raise _Reply(400, _yt_error(400, "missingRequiredParameter", "No filter selected."))
            return _Reply(
                200,
                {
                    "kind": "youtube#channelListResponse",
                    "pageInfo": {"totalResults": 1, "resultsPerPage": 5},
                    "items": [
                        {
                            "kind": "youtube#channel",
                            "id": YT_CHANNEL_ID,
                            "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": YT_UPLOADS}},
                        }
                    ],
                },
            )
        if path == "/youtube/v3/playlistItems" and method == "GET":
            if rec.query.get("playlistId") != YT_UPLOADS:
                raise _Reply(
                    404,
                    _yt_error(
                        404,
                        "playlistNotFound",
                        "The playlist identified with the request's playlistId parameter cannot be found.",
                    ),
                )
            limit = int(rec.query.get("maxResults", "5"))
            items = [
                {
                    "kind": "youtube#playlistItem",
                    "id": f"item-{p.id}",
                    "snippet": {
                        "publishedAt": p.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "channelId": YT_CHANNEL_ID,
                        "title": p.title,
                        "description": p.text,
                        "playlistId": YT_UPLOADS,
                        "resourceId": {"kind": "youtube#video", "videoId": p.id},
                    },
                }
                for p in reversed(self._listed("youtube")[-limit:])
            ]
            return _Reply(
                200,
                {
                    "kind": "youtube#playlistItemListResponse",
                    "items": items,
                    "pageInfo": {"totalResults": len(items), "resultsPerPage": limit},
                },
            )
        raise _Reply(404, _yt_error(404, "notFound", f"{method} {path}"))

    def _yt_chunk(self, session: dict, body: bytes, headers) -> _Reply:
        size = session["size"]
        content_range = headers.get("Content-Range", "")
        if session["video"] is not None:  # complete: any later PUT answers with the resource
            return _Reply(200, session["video"])
        status_query = re.fullmatch(r"bytes \*/(\d+|\*)", content_range)
        if status_query is None:
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", content_range)
            if match is None or int(match.group(1)) != len(session["data"]):
                raise _Reply(400, _yt_error(400, "badContent", "Invalid Content-Range"))
            session["data"] += body
        if size and len(session["data"]) >= size:
            session["video"] = self._yt_publish(session)
            return _Reply(200, session["video"])
        headers_out = {"Range": f"bytes=0-{len(session['data']) - 1}"} if session["data"] else {}
        return _Reply(308, None, headers_out)

    def _yt_publish(self, session: dict) -> dict:
        video_id = hashlib.sha256(f"video-{next(self._ids)}".encode()).hexdigest()[:11]
        meta = session["meta"]
        snippet = dict(meta.get("snippet") or {})
        now = utcnow()
        snippet.update(publishedAt=now.strftime("%Y-%m-%dT%H:%M:%SZ"), channelId=YT_CHANNEL_ID)
        post = Post(
            "youtube",
            video_id,
            snippet.get("description", ""),
            f"https://www.youtube.com/watch?v={video_id}",
            now,
            [
                {
                    "size": len(session["data"]),
                    "media_type": session["type"],
                    "sha256": hashlib.sha256(bytes(session["data"])).hexdigest(),
                }
            ],
            title=snippet.get("title", ""),
        )
        self.posts["youtube"].append(post)
        status = dict(meta.get("status") or {})
        status.update(uploadStatus="uploaded")
        return {"kind": "youtube#video", "etag": "fake", "id": video_id, "snippet": snippet, "status": status}

    # -- ids ---------------------------------------------------------------------------------

    def _snowflake(self) -> str:
        return str(1860000000000000000 + next(self._ids))

    def _numeric(self) -> str:
        return str(122000000000000 + next(self._ids))


_POST_CALLS: dict[str, Callable[[Recorded], bool]] = {
    "x": lambda r: r.method == "POST" and r.path == "/2/tweets",
    "facebook": lambda r: (
        r.method == "POST"
        and (
            r.path.endswith("/feed")
            or (r.path.endswith("/photos") and r.form.get("published", "true") != "false")
            or (r.path.endswith("/videos") and r.form.get("upload_phase") in (None, "finish"))
        )
    ),
    "instagram": lambda r: r.method == "POST" and r.path.endswith("/media_publish"),
    "youtube": lambda r: r.method == "PUT" and r.path == "/upload/youtube/v3/videos",
}


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Handler(QuietHandler):
    platforms: FakePlatforms
    body_timeout = 0.3

    def _dispatch(self) -> None:
        fake = self.platforms
        body, complete = self._read_body()
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        content_type = self.headers.get("Content-Type", "")
        form, files, parsed_json = _parse_body(content_type, body)
        raw_auth = self.headers.get("Authorization", "")
        visible_form = {k: ("***" if k in _SECRET_FIELDS else v) for k, v in form.items()}
        rec = Recorded(
            platform=fake.platform_of(split.path, self.headers),
            method=self.command,
            path=split.path,
            query={k: ("***" if k in _SECRET_FIELDS else v) for k, v in query.items()},
            headers={k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS},
            auth=raw_auth.split(" ", 1)[0] if raw_auth else "",
            body_size=len(body),
            json=parsed_json,
            form=visible_form,
            files=files,
        )
        with fake._rec_lock:
            fake.recorded.append(rec)
        if not complete:
            rec.complete = False
            self._hang_up()
            return
        try:
            reply = fake.handle(rec, body, self.headers, form, query)
        except _Reply as raised:
            reply = raised
        except _Drop:
            self._hang_up()
            return
        rec.status = reply.status
        self._answer(reply)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> tuple[bytes, bool]:
        """The body, and whether it arrived whole.

        A client that announces a body and does not send it (httplib2 resending a request whose
        body was a stream it had already read) would hold both ends until a timeout; the fake
        gives up after :attr:`body_timeout` seconds of silence, as a real front end does later.
        """
        self.connection.settimeout(self.body_timeout)
        chunks: list[bytes] = []
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks), True
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            while length > sum(map(len, chunks)):
                chunk = self.rfile.read1(length - sum(map(len, chunks)))
                if not chunk:
                    break
                chunks.append(chunk)
            body = b"".join(chunks)
            return body, len(body) == length
        except (TimeoutError, OSError):
            return b"".join(chunks), False

    def _answer(self, reply: _Reply) -> None:
        if isinstance(reply.body, bytes):
            data = reply.body
        elif reply.body is None:
            data = b""
        else:
            data = json.dumps(reply.body).encode()
        self.send_response(reply.status, _REASONS.get(reply.status))
        headers = {"Content-Length": str(len(data)), "Connection": "close"}
        if reply.body is not None and not isinstance(reply.body, bytes):
            headers["Content-Type"] = "application/json; charset=UTF-8"
        headers.update(reply.headers)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True


_REASONS = {308: "Resume Incomplete"}


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, str], list[Part], Any]:
    form: dict[str, str] = {}
    files: list[Part] = []
    parsed = None
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json" and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    elif ctype == "application/x-www-form-urlencoded":
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    elif ctype.startswith("multipart/"):
        boundary = re.search(r'boundary="?([^";]+)"?', content_type)
        if boundary:
            _parse_multipart(body, boundary.group(1).encode(), form, files)
    return form, files, parsed


def _parse_multipart(body: bytes, boundary: bytes, form: dict[str, str], files: list[Part]) -> None:
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, content = chunk.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        field_name = name.group(1) if name else ""
        if filename is not None:
            files.append(
                Part(
                    field_name,
                    filename.group(1),
                    headers.get("content-type", ""),
                    len(content),
                    hashlib.sha256(content).hexdigest(),
                )
            )
        else:
            form[field_name] = content.decode("utf-8", "replace")


def _one_file(rec: Recorded, field_name: str) -> Part:
    for part in rec.files:
        if part.field == field_name:
            return part
    raise _Reply(400, {"error": f"missing file part {field_name!r}"})


def _bearer(headers) -> str | None:
    raw = headers.get("Authorization", "")
    return raw[7:] if raw.startswith("Bearer ") else None


def _re(pattern: str | None) -> re.Pattern | None:
    return re.compile(pattern) if pattern else None


def _graph_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _graph_error(
    message: str,
    kind: str,
    code: int,
    *,
    subcode: int | None = None,
    user_msg: str | None = None,
    transient: bool | None = None,
) -> dict:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_msg:
        error["error_user_msg"] = user_msg
    if transient is not None:
        error["is_transient"] = transient
    return {"error": error}


def _x_problem(status: int, title: str, detail: str) -> dict:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def _yt_error(code: int, reason: str, message: str, *, domain: str = "youtube", status: str | None = None) -> dict:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if status:
        error["status"] = status
    return {"error": error}


def _fault_reply(fault: _Fault) -> _Reply:
    platform = fault.platform
    if fault.kind == "rate_limit":
        reset = int(fault.reset_at.timestamp())
        if platform == "x":
            return _Reply(
                429,
                {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
            )
        if platform in ("facebook", "instagram"):
            minutes = max(1, round((fault.reset_at - utcnow()).total_seconds() / 60))
            kind = "pages" if platform == "facebook" else "instagram"
            usage = {
                "1234567890": [
                    {
                        "type": kind,
                        "call_count": 100,
                        "total_cputime": 35,
                        "total_time": 40,
                        "estimated_time_to_regain_access": minutes,
                    }
                ]
            }
            code = 80001 if platform == "facebook" else 80002
            return _Reply(
                400,
                _graph_error(
                    "There have been too many calls to this account. Wait a bit and try again.", "OAuthException", code
                ),
                {"x-business-use-case-usage": json.dumps(usage)},
            )
        return _Reply(
            403,
            _yt_error(
                403,
                "quotaExceeded",
                "The request cannot be completed because you have exceeded your quota.",
                domain="youtube.quota",
            ),
        )
    status = fault.status
    if platform == "x":
        return _Reply(status, _x_problem(status, "Internal Server Error", "Something went wrong."))
    if platform in ("facebook", "instagram"):
        return _Reply(status, _graph_error("An unknown error has occurred.", "OAuthException", 1, transient=True))
    return _Reply(status, _yt_error(status, "backendError", "Backend Error", domain="global"))
