"""A local fake of Google Cloud Storage's JSON API, over real HTTP, for gcsfs behind the Google provider.

One ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) answers what ``gcsfs`` asks when the product's
store is ``gs://bucket/prefix`` opened through a ``google_cloud_platform`` Airflow Connection whose extra
``gcs.endpoint`` is this server and whose ``keyfile_dict`` is :meth:`FakeGCS.keyfile` (a service account
with a freshly generated RSA key, its ``token_uri`` pointing here). Routes:

* ``POST /token``: Google's OAuth token endpoint for a service account (a JWT bearer assertion, whose
  RS256 signature is checked against the generated key); every API route below then wants that token;
* ``POST /upload/storage/v1/b/{bucket}/o``: ``uploadType=multipart`` (one request, JSON metadata then
  the bytes) and ``uploadType=resumable`` (a session at ``Location``, then ``Content-Range`` chunks:
  ``308`` with ``Range`` until the last one);
* ``GET /storage/v1/b/{bucket}/o/{object}`` (metadata; ``alt=media`` gives the bytes),
  ``GET /download/storage/v1/b/{bucket}/o/{object}?alt=media`` (with ``Range``), ``GET /storage/v1/b/{bucket}/o``
  (list: ``prefix``, ``delimiter``, ``maxResults``, ``pageToken``), ``DELETE /storage/v1/b/{bucket}/o/{object}``,
  ``POST …/o/{object}/rewriteTo/b/{bucket}/o/{object}`` and ``POST …/o/{object}/moveTo/o/{object}``;
* ``GET /{bucket}/{object}?X-Goog-Signature=…``: a V4 signed URL, served only when its signature (by the
  service account's key), its host and its expiry hold, as a platform downloading a signed URL would see.

:meth:`FakeGCS.fail` makes chosen operations answer an error as GCS does (``403`` forbidden or quota
exceeded, ``429``, ``503``), :meth:`FakeGCS.fill` is the "no space left" case (uploads and copies refused
for quota); every request is recorded in :attr:`FakeGCS.requests` (method, operation, path).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.loopback import LoopbackServer, QuietHandler

PROJECT = "cvp-pruebas"
SERVICE_ACCOUNT = f"cvp-archivos@{PROJECT}.iam.gserviceaccount.com"
BUCKET = "cvp-archivos"

_OBJECT = re.compile(r"^/(?:storage|download/storage)/v1/b/([^/]+)/o/([^/]+)$")
_OBJECTS = re.compile(r"^/storage/v1/b/([^/]+)/o/?$")
_BUCKET = re.compile(r"^/storage/v1/b/([^/]+)/?$")
_UPLOAD = re.compile(r"^/upload/storage/v1/b/([^/]+)/o/?$")
_REWRITE = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/rewriteTo/b/([^/]+)/o/([^/]+)$")
_MOVE = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/moveTo/o/([^/]+)$")


@dataclass
class Recorded:
    method: str
    op: str  # token, upload, read, list, delete, copy, public, bucket
    path: str
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0


@dataclass
class _Object:
    data: bytes
    content_type: str
    generation: int
    updated: str


@dataclass
class _Fault:
    status: int
    reason: str
    message: str
    ops: tuple[str, ...] | None
    remaining: int | None
    after: int = 0

    def matches(self, op: str) -> bool:
        if self.ops is not None and op not in self.ops:
            return False
        if self.after > 0:  # let these through first (a failure midway through an upload)
            self.after -= 1
            return False
        return self.remaining is None or self.remaining > 0


@dataclass
class _Session:
    bucket: str
    name: str
    content_type: str
    data: bytearray = field(default_factory=bytearray)


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, reason: str = "") -> _Reply:
    errors = [{"domain": "global", "reason": reason or "error", "message": message}]
    return _Reply(status, {"error": {"code": status, "message": message, "errors": errors}})


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class FakeGCS(LoopbackServer):
    """The fake server: buckets of objects, a service account, faults on demand."""

    thread_name = "fake-gcs"

    def __init__(self, buckets: tuple[str, ...] = (BUCKET,)):
        self.buckets: dict[str, dict[str, _Object]] = {b: {} for b in buckets}
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        self.access_token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        self.requests: list[Recorded] = []
        self.faults: list[_Fault] = []
        self._sessions: dict[str, _Session] = {}
        self._generations = itertools.count(int(time.time() * 1e6))
        self._lock = threading.RLock()
        super().__init__()

    # -- lifecycle ---------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            gcs = fake

        return Handler

    # -- credentials ---------------------------------------------------------------------------

    @property
    def private_key_pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def keyfile(self) -> dict[str, str]:
        """A service-account key file (``keyfile_dict``) whose token endpoint is this server."""
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": self.key_id,
            "private_key": self.private_key_pem,
            "client_email": SERVICE_ACCOUNT,
            "client_id": "100000000000000000001",
            "auth_uri": f"{self.url}/auth",
            "token_uri": f"{self.url}/token",
        }

    def connection(self, **extra: Any) -> str:
        """An ``AIRFLOW_CONN_…`` value: a Google Cloud connection with the key, aimed at this server."""
        return json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": json.dumps(self.keyfile()), "gcs.endpoint": self.url, **extra},
            }
        )

    def _verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    # -- state ---------------------------------------------------------------------------------

    def names(self, bucket: str = BUCKET) -> list[str]:
        with self._lock:
            return sorted(self.buckets[bucket])

    def read(self, name: str, bucket: str = BUCKET) -> bytes:
        with self._lock:
            return self.buckets[bucket][name].data

    def put(self, name: str, data: bytes, bucket: str = BUCKET, content_type: str = "application/octet-stream"):
        with self._lock:
            self.buckets[bucket][name] = _Object(
                bytes(data), content_type, next(self._generations), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            )
            return self.buckets[bucket][name]

    def ops(self) -> list[str]:
        with self._lock:
            return [r.op for r in self.requests]

    # -- faults --------------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        message: str = "",
        *,
        reason: str = "",
        ops: tuple[str, ...] | None = None,
        times: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer ``status`` to the given operations (all but the token when None), ``times`` times or always,
        once ``after`` of them went through."""
        default = {
            403: "cvp-archivos@cvp-pruebas.iam.gserviceaccount.com does not have storage.objects.create access",
            429: "The object exceeded the rate limit for object mutation operations (create, update, and delete).",
            503: "We encountered an internal error. Please try again.",
        }
        with self._lock:
            self.faults.append(_Fault(status, reason, message or default.get(status, "Error"), ops, times, after))

    def fill(self) -> None:
        """The bucket's project has no storage left: writes (uploads, copies) are refused for quota."""
        self.fail(
            403,
            "Quota exceeded: the project has no storage left for this bucket.",
            reason="quotaExceeded",
            ops=("upload", "copy"),
        )

    def heal(self) -> None:
        with self._lock:
            self.faults.clear()

    def _fault(self, op: str) -> None:
        if op == "token":
            return
        with self._lock:
            for fault in self.faults:
                if fault.matches(op):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    raise _error(fault.status, fault.message, fault.reason)

    # -- the API ------------------------------------------------------------------------------

    def _meta(self, bucket: str, name: str, obj: _Object) -> dict[str, Any]:
        return {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{obj.generation}",
            "name": name,
            "bucket": bucket,
            "generation": str(obj.generation),
            "metageneration": "1",
            "contentType": obj.content_type,
            "size": str(len(obj.data)),
            "md5Hash": base64.b64encode(hashlib.md5(obj.data).digest()).decode(),  # noqa: S324 - GCS's own field
            "timeCreated": obj.updated,
            "updated": obj.updated,
            "storageClass": "STANDARD",
            "mediaLink": f"{self.url}/download/storage/v1/b/{bucket}/o/{quote(name, safe='')}"
            f"?generation={obj.generation}&alt=media",
        }

    def _bucket(self, bucket: str) -> dict[str, _Object]:
        if bucket not in self.buckets:
            raise _error(404, "The specified bucket does not exist.", "notFound")
        return self.buckets[bucket]

    def _object(self, bucket: str, name: str) -> _Object:
        found = self._bucket(bucket).get(name)
        if found is None:
            raise _error(404, f"No such object: {bucket}/{name}", "notFound")
        return found

    def op_of(self, method: str, path: str, query: dict[str, str]) -> str:
        if path == "/token":
            return "token"
        if path.startswith("/upload/"):
            return "upload"
        if _REWRITE.match(path) or _MOVE.match(path):
            return "copy"
        if _OBJECTS.match(path):
            return "list"
        if _OBJECT.match(path):
            return "delete" if method == "DELETE" else "read"
        if _BUCKET.match(path):
            return "bucket"
        return "public"

    def handle(self, method: str, raw_path: str, query: dict[str, str], headers, body: bytes) -> _Reply:
        op = self.op_of(method, raw_path, query)
        rec = Recorded(method, op, unquote(raw_path.partition("?")[0]), dict(query))
        with self._lock:
            self.requests.append(rec)
        try:
            if op == "token":
                reply = self._token(body)
            elif op == "public":
                self._fault(op)
                reply = self._signed(method, raw_path, headers)
            else:
                if headers.get("Authorization") != f"Bearer {self.access_token}":
                    raise _error(401, "Anonymous caller does not have storage access.", "required")
                self._fault(op)
                with self._lock:
                    reply = self._api(method, op, raw_path, query, headers, body)
        except _Reply as raised:
            reply = raised
        rec.status = reply.status
        return reply

    def _token(self, body: bytes) -> _Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        try:
            head, payload, signature = form["assertion"].encode().split(b".")
            claims = json.loads(_b64url(payload))
            valid = self._verify(head + b"." + payload, _b64url(signature)) and claims["iss"] == SERVICE_ACCOUNT
        except (KeyError, ValueError):
            valid = False
        if not valid:
            return _Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        return _Reply(200, {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"})

    def _api(self, method: str, op: str, path: str, query: dict[str, str], headers, body: bytes) -> _Reply:
        if op == "upload":
            return self._upload(method, _UPLOAD.match(path).group(1), query, headers, body)
        if op == "copy":
            if m := _REWRITE.match(path):
                src_bucket, src, dst_bucket, dst = (unquote(g) for g in m.groups())
            else:
                src_bucket, src, dst = (unquote(g) for g in _MOVE.match(path).groups())
                dst_bucket = src_bucket
            obj = self._object(src_bucket, src)
            self._bucket(dst_bucket)
            new = self.put(dst, obj.data, dst_bucket, obj.content_type)
            meta = self._meta(dst_bucket, dst, new)
            if _MOVE.match(path):
                del self.buckets[src_bucket][src]
                return _Reply(200, meta)
            size = str(len(obj.data))
            return _Reply(
                200,
                {"kind": "storage#rewriteResponse", "totalBytesRewritten": size, "objectSize": size, "done": True}
                | {"resource": meta},
            )
        if op == "list":
            return self._list(unquote(_OBJECTS.match(path).group(1)), query)
        if op == "bucket":
            bucket = unquote(_BUCKET.match(path).group(1))
            self._bucket(bucket)
            return _Reply(200, {"kind": "storage#bucket", "name": bucket, "id": bucket})
        bucket, name = (unquote(g) for g in _OBJECT.match(path).groups())
        obj = self._object(bucket, name)
        if op == "delete":
            del self.buckets[bucket][name]
            return _Reply(204)
        if query.get("alt") == "media":
            data, status, extra = obj.data, 200, {}
            if m := re.match(r"bytes=(\d+)-(\d*)", headers.get("Range") or ""):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(obj.data) - 1
                data, status = obj.data[start : end + 1], 206
                extra = {"Content-Range": f"bytes {start}-{start + len(data) - 1}/{len(obj.data)}"}
            return _Reply(status, data, {"Content-Type": obj.content_type, **extra})
        return _Reply(200, self._meta(bucket, name, obj))

    def _list(self, bucket: str, query: dict[str, str]) -> _Reply:
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        items, prefixes = [], set()
        for name in sorted(self._bucket(bucket)):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
            else:
                items.append(name)
        start = int(query.get("pageToken") or 0)
        size = int(query.get("maxResults") or 1000)
        page = items[start : start + size]
        out: dict[str, Any] = {
            "kind": "storage#objects",
            "items": [self._meta(bucket, n, self.buckets[bucket][n]) for n in page],
        }
        if start == 0 and prefixes:
            out["prefixes"] = sorted(prefixes)
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return _Reply(200, out)

    def _upload(self, method: str, bucket: str, query: dict[str, str], headers, body: bytes) -> _Reply:
        bucket = unquote(bucket)
        self._bucket(bucket)
        kind = query.get("uploadType")
        if kind == "multipart":
            meta, content_type, data = _multipart(headers.get("Content-Type", ""), body)
            obj = self.put(meta["name"], data, bucket, content_type)
            return _Reply(200, self._meta(bucket, meta["name"], obj))
        if kind != "resumable":
            raise _error(400, f"Upload type not supported here: {kind}", "badRequest")
        upload_id = query.get("upload_id")
        if upload_id is None:  # start a session
            meta = json.loads(body or b"{}")
            name = meta.get("name") or query["name"]
            upload_id = secrets.token_urlsafe(16)
            self._sessions[upload_id] = _Session(
                bucket, name, headers.get("X-Upload-Content-Type") or "application/octet-stream"
            )
            location = f"{self.url}/upload/storage/v1/b/{quote(bucket)}/o?uploadType=resumable&upload_id={upload_id}"
            return _Reply(200, b"", {"Location": location})
        session = self._sessions.get(upload_id)
        if session is None:
            raise _error(404, "No such upload session.", "notFound")
        if method == "DELETE":  # cancelled
            del self._sessions[upload_id]
            return _Reply(499)
        m = re.match(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", headers.get("Content-Range") or "")
        if not m:
            raise _error(400, "Missing Content-Range.", "badRequest")
        if m.group(1) is not None:
            if int(m.group(1)) != len(session.data):
                raise _error(400, "Chunk out of order.", "badRequest")
            session.data += body
        total = m.group(3)
        if total == "*":
            return _Reply(308, b"", {"Range": f"bytes=0-{len(session.data) - 1}"})
        if int(total) != len(session.data):
            raise _error(400, "Upload size does not match.", "badRequest")
        del self._sessions[upload_id]
        obj = self.put(session.name, bytes(session.data), session.bucket, session.content_type)
        return _Reply(200, self._meta(session.bucket, session.name, obj))

    def _signed(self, method: str, raw: str, headers) -> _Reply:
        """A V4 signed URL: ``/{bucket}/{object}?X-Goog-…``, checked as GCS checks it."""
        path, _, query = raw.partition("?")
        params = [p for p in query.split("&") if p]
        signature = next((p.split("=", 1)[1] for p in params if p.startswith("X-Goog-Signature=")), None)
        denied = _Reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", {"Content-Type": "application/xml"})
        if signature is None:
            return _Reply(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})
        fields = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in params)}
        signed_headers = fields.get("X-Goog-SignedHeaders", "")
        canonical_headers = "".join(
            f"{name}:{(headers.get(name) or '').strip()}\n" for name in signed_headers.split(";")
        )
        canonical_request = "\n".join(
            [
                method,
                path,
                "&".join(sorted(p for p in params if not p.startswith("X-Goog-Signature="))),
                canonical_headers,
                signed_headers,
                "UNSIGNED-PAYLOAD",
            ]
        )
        date = fields.get("X-Goog-Date", "")
        scope = fields.get("X-Goog-Credential", "").split("/", 1)[-1]
        to_sign = "\n".join(["GOOG4-RSA-SHA256", date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
        try:
            good = self._verify(to_sign.encode(), bytes.fromhex(signature))
            issued = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            alive = issued <= time.time() + 60 and time.time() < issued + int(fields.get("X-Goog-Expires", "0"))
        except ValueError:
            good = alive = False
        if not (good and fields.get("X-Goog-Credential", "").startswith(SERVICE_ACCOUNT + "/")):
            return denied
        if not alive:
            return _Reply(400, b"<Error><Code>ExpiredToken</Code></Error>", {"Content-Type": "application/xml"})
        bucket, _, name = path.lstrip("/").partition("/")
        obj = self._object(unquote(bucket), unquote(name))
        return _Reply(200, obj.data, {"Content-Type": obj.content_type})


def _multipart(content_type: str, body: bytes) -> tuple[dict, str, bytes]:
    """The metadata, media type and bytes of a ``multipart/related`` simple upload."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise _error(400, "multipart upload without boundary", "badRequest")
    marker = b"--" + m.group(1).encode()
    parts = body.split(marker)
    if len(parts) < 4:
        raise _error(400, "multipart upload needs metadata and media", "badRequest")

    def split(part: bytes) -> tuple[dict[str, str], bytes]:
        part = part[2:] if part.startswith(b"\r\n") else part[1:] if part.startswith(b"\n") else part
        cut = min((i for i in (part.find(b"\r\n\r\n"), part.find(b"\n\n")) if i >= 0), default=-1)
        head, rest = part[:cut], part[cut:]
        rest = rest[4:] if rest.startswith(b"\r\n\r\n") else rest[2:]
        rest = rest[:-2] if rest.endswith(b"\r\n") else rest[:-1] if rest.endswith(b"\n") else rest
        fields = dict(line.split(":", 1) for line in head.decode().replace("\r", "").split("\n") if ":" in line)
        return {k.strip().lower(): v.strip() for k, v in fields.items()}, rest

    _, meta = split(parts[1])
    media_headers, data = split(parts[2])
    return json.loads(meta), media_headers.get("content-type", "application/octet-stream"), data


class _Handler(QuietHandler):
    gcs: FakeGCS

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        raw = split.path + (f"?{split.query}" if self.gcs.op_of(self.command, split.path, query) == "public" else "")
        reply = self.gcs.handle(self.command, raw, query, self.headers, body)
        if isinstance(reply.body, (dict, list)):
            payload, ctype = json.dumps(reply.body).encode(), "application/json; charset=UTF-8"
        else:
            payload, ctype = reply.body or b"", "application/octet-stream"
        self.send_response(reply.status)
        headers = {"Content-Type": ctype, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (a ranged read)
            pass
        self.close_connection = True
