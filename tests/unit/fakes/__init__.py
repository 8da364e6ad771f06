"""Wire-level fakes and fixtures shared by the publisher tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from googleapiclient.http import HttpMockSequence

from cvp.publishers.base import MediaFile, Piece

#: "Now" in every publisher test: 10:00 in Bogotá, 07:00 in Los Angeles.
NOW = datetime(2025, 11, 28, 15, 0, tzinfo=UTC)


class Clock:
    """A clock and a sleep that advance together, so waits cost no real time."""

    def __init__(self, now: datetime = NOW):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now = self.now + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """Import into a test module to use: ``from tests.unit.fakes import clock``."""
    return Clock()


def media_file(
    folder: Path,
    name: str,
    media_type: str,
    *,
    content: bytes | None = None,
    declared_size: int | None = None,
    alt_text: str = "",
) -> MediaFile:
    """Write a small file and describe it; ``declared_size`` fakes a large file without writing it."""
    data = content if content is not None else hashlib.sha256(name.encode()).digest() * 8
    path = folder / name
    path.write_bytes(data)
    return MediaFile(
        path=path,
        media_type=media_type,
        size=declared_size if declared_size is not None else len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        alt_text=alt_text,
    )


def piece(channel: str, text: str, *media: MediaFile, **kw) -> Piece:
    return Piece(need_id=42, channel=channel, text=text, media=tuple(media), **kw)


class RecordingHttp(HttpMockSequence):
    """googleapiclient's documented httplib2 fake, able to fail at the transport too.

    A response whose content is an exception instance raises it (as httplib2 raises
    ``TimeoutError`` when the socket times out) after the request has been recorded in
    ``request_sequence``.
    """

    def request(self, uri, method="GET", body=None, headers=None, redirections=1, connection_type=None):
        resp, content = self._iterable[0]
        if isinstance(content, BaseException):
            self._iterable.pop(0)
            self.request_sequence.append((uri, method, body, headers))
            raise content
        return super().request(uri, method, body, headers, redirections, connection_type)

    @property
    def remaining(self) -> int:
        return len(self._iterable)


__all__ = ["NOW", "Clock", "RecordingHttp", "clock", "media_file", "piece"]
