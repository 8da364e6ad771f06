"""The publisher interface every channel implements.

A publisher posts one approved piece to one channel. It never decides whether to post: the
publication ledger (``cvp.publishing``) does, so that a retried task never posts twice. What a
publisher must offer the ledger is ``find_published``: a way to recognise, among the account's
recent posts, the one carrying this piece, after a call whose outcome is unknown.

Besides the interface, the helpers every publisher shares about a piece: its files checked against
the channel's limits before any upload, and its text recognised in a platform's copy of it. HTTP
retries live in :mod:`cvp.publishers.retry`, Meta's Graph client in :mod:`cvp.publishers.graph`.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Protocol, TypeVar, runtime_checkable

BEFORE_POST = "before_post"
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class MediaFile:
    """A design file approved at control point 12.

    ``path`` is a path object of the product's store (``upath``/``ObjectStoragePath``), or a local
    ``Path`` for legacy rows and tests: publishers read it only through :meth:`open`, so a worker
    on any host reads the file the api-server stored.
    """

    path: Any
    media_type: str  # MIME type, e.g. "image/png", "video/mp4", "application/pdf"
    size: int
    sha256: str
    alt_text: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def suffix(self) -> str:
        return self.path.suffix

    def open(self) -> BinaryIO:
        """The file for reading (binary, seekable), wherever the store keeps it.

        A missing file needs a person (MediaRejected); a store that fails is retried later
        (TransientError): nothing was posted yet, since every publisher reads its media first.
        """
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            raise MediaRejected(
                f"No se encuentra el archivo de la pieza ({self.name}) en el almacenamiento de archivos."
            ) from None
        except Exception as exc:  # noqa: BLE001 - fsspec/gcsfs/OSError: the store did not answer
            raise TransientError(
                f"No se pudo leer el archivo de la pieza ({self.name}) del almacenamiento de archivos; se reintentará.",
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc

    def exists(self) -> bool:
        """Whether the file is in the store; a store that fails raises TransientError (retry later)."""
        try:
            return bool(self.path.is_file())
        except Exception as exc:  # noqa: BLE001
            raise TransientError(
                f"No se pudo consultar el archivo de la pieza ({self.name}) en el almacenamiento "
                "de archivos; se reintentará.",
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")


@dataclass(frozen=True)
class Piece:
    """What is published on one channel: the approved text for that channel and the approved design."""

    need_id: int
    channel: str
    text: str
    title: str = ""
    media: tuple[MediaFile, ...] = ()
    tags: tuple[str, ...] = ()
    text_revision: int = 0
    design_revision: int = 0
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """Stable digest of what is posted: the key used to recognise the post on the platform."""
        h = hashlib.sha256()
        h.update(self.channel.encode())
        h.update(b"\0")
        h.update(self.text.strip().encode())
        for m in self.media:
            h.update(b"\0")
            h.update(m.sha256.encode())
        return h.hexdigest()


@dataclass(frozen=True)
class PublishResult:
    remote_id: str
    url: str
    published_at: datetime | None = None


class PublishError(Exception):
    """A failure with a message in Spanish that a person can act on.

    ``retryable`` says whether sending again is safe and may succeed (5xx, timeouts before the
    post was accepted); ``outcome_unknown`` that the platform may have accepted the post.
    """

    retryable = False
    outcome_unknown = False

    def __init__(self, message: str, *, channel: str = "", detail: str = ""):
        super().__init__(message)
        self.message = message
        self.channel = channel
        self.detail = detail


class AuthError(PublishError):
    """Expired or revoked credentials: the message names the Airflow Connection to renew."""


class RateLimited(PublishError):
    """The platform asked to wait; ``reset_at`` is when it said the limit resets (UTC), if it said."""

    retryable = True

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kw):
        super().__init__(message, **kw)
        self.reset_at = reset_at


class TransientError(PublishError):
    """5xx or a network failure before the post could have been accepted: safe to retry."""

    retryable = True


class OutcomeUnknown(PublishError):
    """The post call may have reached the platform (timeout after sending): never resend blindly."""

    outcome_unknown = True


class MediaRejected(PublishError):
    """The media does not fit the channel (size, format, count): refused before any upload."""


def announces_post(publish: _F) -> _F:
    """Mark a ``publish`` method that calls :func:`about_to_post` right before its post call.

    The ledger then writes 'enviando' only at that moment, so a crash during the media uploads
    leaves the row retryable. A ``publish`` without this mark (a subclass overriding it, a
    publisher of another project) gets the conservative order: 'enviando' before ``publish``.
    """
    publish.announces_post = True  # type: ignore[attr-defined]
    return publish


def about_to_post(piece: Piece) -> None:
    """Called by a publisher once everything is uploaded, immediately before the call that may
    make the post public; from here on the outcome can be unknown. It may refuse (the need was
    cancelled meanwhile): the exception propagates and nothing is posted."""
    hook = piece.extra.get(BEFORE_POST)
    if hook is not None:
        hook()


def publish_announces(publisher: Any) -> bool:
    """Whether ``publisher.publish`` calls :func:`about_to_post` before its post call."""
    return bool(getattr(getattr(publisher, "publish", None), "announces_post", False))


@runtime_checkable
class Publisher(Protocol):
    channel: str

    def validate(self, piece: Piece) -> None:
        """Raise MediaRejected if the piece cannot go to this channel; no network."""

    def publish(self, piece: Piece) -> PublishResult:
        """Post the piece once. Uploads may be retried inside; the post call itself is not.

        Decorate with :func:`announces_post` and call :func:`about_to_post` right before the post call.
        """

    def find_published(self, piece: Piece) -> PublishResult | None:
        """Look for the post carrying this piece among the account's recent posts."""


# --------------------------------------------------------------------------------------------
# A piece's files against a channel's limits (checked again before any upload)
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
# Recognising a piece among an account's recent posts (for find_published)
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
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def not_before(piece_extra: Mapping[str, Any]) -> datetime | None:
    """Optional lower bound for reconciliation, ``piece.extra["not_before"]`` (aware datetime).

    When the ledger knows when the first attempt was sent, posts older than that are ignored by
    ``find_published``, so an identical text posted weeks ago is not mistaken for this piece.
    """
    value = piece_extra.get("not_before")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def is_recent_enough(created: datetime | None, bound: datetime | None, slack_s: float = 300.0) -> bool:
    """Whether a post created at ``created`` may be this attempt's (5 minutes of clock skew)."""
    if bound is None or created is None:
        return True
    return created >= bound - timedelta(seconds=slack_s)
