"""The designs' files: what an upload must be to be admitted, its checks against the channels, and its store.

A design is checked on this host (from the upload's own temporary file), then written to the product's
store whole, under a generated key with its checksum; records name the key, never a local path. The
store is shared by every host, so the forms, the tasks and the publishers read the same file.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cvp import procedure as P
from cvp.errors import InvalidInput
from cvp.records.models import Revision
from cvp.storage import Storage

UPLOAD_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}


def sniff_media_type(head: bytes) -> str | None:
    """The upload's type from its first bytes (the name and the browser's word are not trusted), if admitted."""
    from cvp.checks.probe import sniff_type

    media_type = sniff_type(head)
    return media_type if media_type in UPLOAD_TYPES else None


def max_upload_bytes() -> int:
    """CVP_MAX_UPLOAD_MB, 512 MB by default."""
    return int(os.environ.get("CVP_MAX_UPLOAD_MB", "512")) * 1024 * 1024


@dataclass(frozen=True)
class Admitted:
    """An upload that passed the checks made before reading it whole: its real type and size."""

    media_type: str
    size: int

    @property
    def suffix(self) -> str:
        return UPLOAD_TYPES[self.media_type]


@dataclass(frozen=True)
class StoredDesign:
    """A design written to the store: its key, checksum and the channels' findings on it."""

    key: str
    sha256: str
    checks: list[dict]


class DesignFiles:
    """The designs and final pieces in the product's store."""

    def __init__(self, storage: Storage):
        self.storage = storage

    def admit(self, source: Path | bytes, filename: str, alt_text: str, max_bytes: int | None = None) -> Admitted:
        """Refuse an empty or too large file, a type not admitted, or an image without its alternative text."""
        max_bytes = max_bytes or max_upload_bytes()
        data_path = Path(source) if not isinstance(source, bytes) else None
        size = data_path.stat().st_size if data_path else len(source)
        if size == 0:
            raise InvalidInput("El archivo está vacío.")
        if size > max_bytes:
            raise InvalidInput(f"El archivo pesa {size / 1048576:.1f} MB; el máximo es {max_bytes / 1048576:.0f} MB.")
        if data_path:
            with data_path.open("rb") as fh:
                head = fh.read(64)
        else:
            head = source[:64]
        media_type = sniff_media_type(head)
        if media_type not in UPLOAD_TYPES:
            guessed = mimetypes.guess_type(filename)[0] or "desconocido"
            raise InvalidInput(
                f"Tipo de archivo no admitido ({guessed}). Se admiten imágenes PNG, JPEG, GIF o WebP, "
                "documentos PDF y videos MP4 o MOV."
            )
        if media_type.startswith("image/") and not alt_text.strip():
            raise InvalidInput("Toda imagen necesita un texto alternativo (descripción para lectores de pantalla).")
        return Admitted(media_type, size)

    def check(self, channels: Sequence[str], path: Path, alt_text: str, name: str) -> list[dict]:
        """Media limits of every channel of the need, on a local copy; a blocking finding refuses the upload."""
        from dataclasses import replace

        from cvp.checks import check_media, probe_media

        info = replace(probe_media(path, alt_text=alt_text or None), name=name)
        findings = [(ch, f) for ch in channels for f in check_media(ch, [info])]
        blocking = [f"{P.CHANNELS[ch]}: {f.message}" for ch, f in findings if f.severity == "error"]
        if blocking:
            raise InvalidInput("El diseño no cumple los requisitos de los canales pedidos:", details=blocking)
        return [dict(f.to_dict(), channel=ch) for ch, f in findings]

    def store(
        self,
        need_id: int,
        channels: Sequence[str],
        source: Path | bytes,
        filename: str,
        admitted: Admitted,
        alt_text: str,
    ) -> StoredDesign:
        """Check the admitted upload against the channels, then write it whole under a new key of the need."""
        with _local_source(source, admitted.suffix) as local:
            checks = self.check(channels, local, alt_text, Path(filename).name)
            key = f"archivos/{need_id}/{uuid.uuid4().hex}{admitted.suffix}"
            digest = hashlib.sha256()
            with local.open("rb") as src:
                self.storage.write_stream(key, src, on_chunk=digest.update)
        return StoredDesign(key, digest.hexdigest(), checks)

    def discard(self, key: str) -> None:
        """Remove a stored file whose record was not written (no orphan file without its record)."""
        self.storage.delete(key)

    def media(self, rev: Revision):
        """The design's file as a path object of the store (``open``, ``name``); legacy rows stay local paths."""
        return self.storage.path(rev.stored_path)

    def final_piece(self, need_id: int, design: Revision) -> str:
        """Copy the approved design to the need's final piece (once) and return the piece's key."""
        suffix = Path(design.stored_path).suffix
        final = f"definitivas/{need_id}/pieza-{need_id}-d{design.number}{suffix}"
        if not self.storage.exists(final):
            self.storage.copy(design.stored_path, final)
        return final


@contextmanager
def _local_source(source: Path | bytes, suffix: str) -> Iterator[Path]:
    """The upload as a local file: its own temporary file, or a private scratch file for bytes."""
    if not isinstance(source, bytes):
        yield Path(source)
        return
    fd, name = tempfile.mkstemp(prefix="cvp-diseno-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
