"""Public storage: where media is placed so that a platform can fetch it by URL.

Instagram's content publishing API does not take uploads: it downloads each image or video from
a public URL. The office's storage (a Google Cloud Storage bucket, wired in the Airflow layer)
implements :class:`PublicStorage`; :class:`LocalDirStorage` serves tests and the embedded setup,
where a folder is exposed by a web server.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable
from urllib.parse import quote


@runtime_checkable
class PublicStorage(Protocol):
    def put(self, path: Path, key: str, media_type: str) -> str:
        """Store the file at ``path`` under ``key`` and return a URL anyone can fetch."""


def check_key(key: str) -> PurePosixPath:
    """A storage key: a relative slash-separated path, without ``..`` or empty parts."""
    pure = PurePosixPath(key)
    if not key or pure.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"Clave de almacenamiento inválida: {key!r}")
    return pure


class LocalDirStorage:
    """Copies files into ``base_dir`` and returns ``base_url/key``.

    Storing the same content under the same key again is a no-op, so a retried publication does
    not copy a large video twice.
    """

    def __init__(self, base_dir: str | Path, base_url: str):
        self.base_dir = Path(base_dir)
        self.base_url = base_url.rstrip("/")

    def put(self, path: Path, key: str, media_type: str) -> str:
        rel = check_key(key)
        target = self.base_dir.joinpath(*rel.parts)
        source = Path(path)
        if not (target.exists() and target.stat().st_size == source.stat().st_size):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        return f"{self.base_url}/{quote(rel.as_posix())}"
