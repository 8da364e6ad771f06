"""The local outbox channel: the embedded default when a platform has no Airflow Connection.

Each piece becomes a folder with its text, its media and a manifest; the folder appears atomically,
so a crash leaves either the whole piece or nothing, and the manifest's fingerprint lets the ledger
recognise a piece already written.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from cvp.publishers.base import MediaRejected, Piece, PublishResult


class OutboxPublisher:
    def __init__(self, root: Path, channel: str):
        self.root = root
        self.channel = channel

    def _folder(self, piece: Piece) -> Path:
        return self.root / self.channel / f"necesidad-{piece.need_id}-t{piece.text_revision}-d{piece.design_revision}"

    def validate(self, piece: Piece) -> None:
        for m in piece.media:
            if not m.path.is_file():
                raise MediaRejected(f"No se encuentra el archivo de la pieza ({m.path.name}).", channel=self.channel)

    def publish(self, piece: Piece) -> PublishResult:
        folder = self._folder(piece)
        if folder.exists():
            return self._result(folder)
        tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        (tmp / "texto.txt").write_text(piece.text + "\n", encoding="utf-8")
        names = []
        for i, m in enumerate(piece.media, 1):
            name = f"pieza-{i}{m.path.suffix}"
            shutil.copyfile(m.path, tmp / name)
            names.append({"archivo": name, "tipo": m.media_type, "sha256": m.sha256, "texto_alternativo": m.alt_text})
        manifest = {"necesidad": piece.need_id, "canal": self.channel, "titulo": piece.title,
                    "revision_texto": piece.text_revision, "revision_diseno": piece.design_revision,
                    "huella": piece.fingerprint, "medios": names,
                    "publicado_en": datetime.now(timezone.utc).isoformat()}
        (tmp / "pieza.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.rename(folder)
        return self._result(folder)

    def find_published(self, piece: Piece) -> PublishResult | None:
        folder = self._folder(piece)
        manifest = folder / "pieza.json"
        if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("huella") == piece.fingerprint:
            return self._result(folder)
        return None

    @staticmethod
    def _result(folder: Path) -> PublishResult:
        data = json.loads((folder / "pieza.json").read_text(encoding="utf-8"))
        return PublishResult(remote_id=folder.name, url=folder.as_uri(),
                             published_at=datetime.fromisoformat(data["publicado_en"]))
