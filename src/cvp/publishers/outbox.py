"""The local outbox channel: the embedded default when a platform has no Airflow Connection.

Each piece becomes a folder of the product's store (``salida/<canal>/necesidad-…``) with its text,
its media and a manifest. Every file is written whole or not at all and the manifest goes last: a
piece is in the outbox exactly when its manifest is, a failed write removes what it had written,
and the manifest's fingerprint lets the ledger recognise a piece already written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cvp.errors import StorageUnavailable
from cvp.publishers.base import MediaRejected, Piece, PublishResult, TransientError, about_to_post, announces_post
from cvp.storage import Storage

MANIFEST = "pieza.json"


class OutboxPublisher:
    def __init__(self, root: Storage | Path, channel: str):
        """``root`` is the outbox: the product store's ``salida`` child, or a local folder (tests, older callers)."""
        self.storage = Storage.coerce(root)
        self.channel = channel

    @property
    def root(self) -> Storage:
        return self.storage

    def _folder(self, piece: Piece) -> str:
        return f"{self.channel}/necesidad-{piece.need_id}-t{piece.text_revision}-d{piece.design_revision}"

    def validate(self, piece: Piece) -> None:
        for m in piece.media:
            if not m.exists():
                raise MediaRejected(f"No se encuentra el archivo de la pieza ({m.name}).", channel=self.channel)

    @announces_post
    def publish(self, piece: Piece) -> PublishResult:
        try:
            return self._publish(piece)
        except StorageUnavailable as exc:  # nothing left half-written: safe to retry later
            raise TransientError(exc.message, channel=self.channel) from exc

    def _publish(self, piece: Piece) -> PublishResult:
        folder = self._folder(piece)
        if self.storage.exists(f"{folder}/{MANIFEST}"):
            return self._result(folder)
        written: list[str] = []
        try:
            written.append(self.storage.write_text(f"{folder}/texto.txt", piece.text + "\n"))
            names = []
            for i, m in enumerate(piece.media, 1):
                name = f"pieza-{i}{m.suffix}"
                with m.open() as src:
                    written.append(self.storage.write_stream(f"{folder}/{name}", src))
                names.append(
                    {"archivo": name, "tipo": m.media_type, "sha256": m.sha256, "texto_alternativo": m.alt_text}
                )
            manifest = {
                "necesidad": piece.need_id,
                "canal": self.channel,
                "titulo": piece.title,
                "revision_texto": piece.text_revision,
                "revision_diseno": piece.design_revision,
                "huella": piece.fingerprint,
                "medios": names,
                "publicado_en": datetime.now(UTC).isoformat(),
            }
            about_to_post(piece)  # the manifest is the post: the piece is in the outbox once it is written
            self.storage.write_text(f"{folder}/{MANIFEST}", json.dumps(manifest, ensure_ascii=False, indent=2))
        except BaseException:
            for key in written:  # no half piece: without its manifest the folder is emptied again
                try:
                    self.storage.delete(key)
                except Exception:  # noqa: BLE001 - the original failure is what the person must see
                    pass
            raise
        return self._result(folder)

    def find_published(self, piece: Piece) -> PublishResult | None:
        folder = self._folder(piece)
        manifest = f"{folder}/{MANIFEST}"
        if (
            self.storage.exists(manifest)
            and json.loads(self.storage.read_text(manifest)).get("huella") == piece.fingerprint
        ):
            return self._result(folder)
        return None

    def _result(self, folder: str) -> PublishResult:
        data = json.loads(self.storage.read_text(f"{folder}/{MANIFEST}"))
        return PublishResult(
            remote_id=folder.rsplit("/", 1)[1],
            url=self._folder_uri(folder),
            published_at=datetime.fromisoformat(data["publicado_en"]),
        )

    def _folder_uri(self, folder: str) -> str:
        return self.storage.uri(f"{folder}/{MANIFEST}").rsplit("/", 1)[0]
