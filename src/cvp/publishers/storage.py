"""Public storage: where media is placed so that a platform can fetch it by URL.

Instagram's content publishing API does not take uploads: it downloads each image or video from
a public URL. In a deployment the product's own store gives that URL (:class:`StoragePublicUrls`:
a signed URL on ``gs://``, no copy); a bucket of the Instagram connection (wired in the Airflow
layer) or :class:`LocalDirStorage` (tests and the embedded setup, a folder exposed by a web
server) receive a copy of the file instead.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cvp.storage import DEFAULT_URL_LIFETIME, Storage, check_key

__all__ = ["LocalDirStorage", "PublicStorage", "StoragePublicUrls", "check_key"]


@runtime_checkable
class PublicStorage(Protocol):
    def put(self, path: Any, key: str, media_type: str) -> str:
        """Make the file at ``path`` (a store path or a local one) fetchable under ``key``; return its URL."""


def _copy_once(storage: Storage, path: Any, key: str) -> None:
    """Copy ``path`` to ``key`` unless the same size is already there (a retry does not copy a video twice)."""
    check_key(key)
    size = path.stat().st_size
    if storage.exists(key) and storage.size(key) == size:
        return
    with path.open("rb") as src:
        storage.write_stream(key, src)


class LocalDirStorage:
    """Copies files into ``base_dir`` and returns ``base_url/key``.

    Storing the same content under the same key again is a no-op, so a retried publication does
    not copy a large video twice.
    """

    def __init__(self, base_dir: str | Path, base_url: str):
        self.base_dir = Path(base_dir)
        self.base_url = base_url.rstrip("/")
        self._storage = Storage.local(self.base_dir, public_base_url=self.base_url)

    def put(self, path: Any, key: str, media_type: str) -> str:
        _copy_once(self._storage, path, key)
        return self._storage.public_url(key)


class StoragePublicUrls:
    """The product's store as Instagram's public storage: a file already in it is signed where it is.

    A file from elsewhere (a legacy local path) is first copied under ``key``.
    """

    def __init__(self, storage: Storage, expires: timedelta = DEFAULT_URL_LIFETIME):
        self.storage = storage
        self.expires = expires

    def __repr__(self) -> str:
        return f"StoragePublicUrls({self.storage.description!r})"

    def put(self, path: Any, key: str, media_type: str) -> str:
        stored = self.storage.key_of(path)
        if stored is None:
            _copy_once(self.storage, path, key)
            stored = key
        return self.storage.public_url(stored, self.expires)
