"""The product's files (designs, final pieces, outbox, mailbox, reports, record exports) in one store.

Every file the office keeps lives under one base (``CVP_STORAGE_URL``): a folder (``file://``) on
the embedded setup, a bucket (``gs://bucket/prefix``) in a deployment where the api-server and the
workers run on different hosts. Records keep *keys* relative to that base (``archivos/12/<uuid>.png``),
never a host's absolute path, so any component can read what another wrote.

The root is anything with the ``universal_pathlib`` API (``upath.UPath``; Airflow's
``ObjectStoragePath`` on the Airflow side): this module never imports Airflow. Writes are whole or
nothing (a temporary key, then a move), and every failure of the store becomes a
:class:`~cvp.errors.StorageUnavailable` whose Spanish message names the store, never a credential.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import quote

from cvp.errors import CvpError, NotFound, StorageUnavailable

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TEMP_SUFFIX = ".part"
DEFAULT_URL_LIFETIME = timedelta(hours=24)


def check_key(key: str) -> PurePosixPath:
    """A storage key: a relative slash-separated path, without ``..`` or empty parts."""
    pure = PurePosixPath(key or "")
    if not key or pure.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"Clave de almacenamiento inválida: {key!r}")
    return pure


def is_legacy_path(key: str) -> bool:
    """Rows written before the store kept an absolute local path instead of a key."""
    return os.path.isabs(key or "")


def _is_local_fs(fs) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]+)\?[^\s'\"]*")


_QUOTA = re.compile(r"quota|exceeded|insufficient storage|no space|storage left", re.IGNORECASE)


def _reason(exc: BaseException) -> str:
    """A short Spanish reason for a store failure: full, forbidden, unreachable, else the error's own words.

    gcsfs answers a refused request with ``OSError("Forbidden: …")`` (403, quota included, told apart by
    its message) or ``HttpError`` carrying the HTTP ``code`` (429 and 5xx after its own retries).
    """
    code = getattr(exc, "code", None)
    code = code if isinstance(code, int) else None
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or code == 507:
        return "el almacenamiento está lleno (no queda espacio)"
    if code == 429 or (("403" in text or "Forbidden" in text or code == 403) and _QUOTA.search(text)):
        return "se agotó la cuota del almacenamiento (espacio o solicitudes permitidas)"
    if isinstance(exc, PermissionError) or code in (401, 403) or "403" in text or "Forbidden" in text:
        return "el almacenamiento no da permiso para esta operación (permiso denegado)"
    if code is not None and (code >= 500 or code == 408):
        return f"el almacenamiento no responde (HTTP {code})"
    if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__name__ in (
        "ClientConnectorError",
        "ServerDisconnectedError",
        "TransportError",
        "RefreshError",
        "ProxyError",
        "ConnectionError",
    ):
        return "no se pudo conectar con el almacenamiento"
    text = _URL_QUERY.sub(r"\1?…", text).strip().replace("\n", " ")  # signed URLs carry tokens
    return f"el almacenamiento respondió: {type(exc).__name__}{': ' + text[:200] if text else ''}"


class Storage:
    """Keys → files under one root; whole-or-nothing writes; Spanish errors naming the store.

    ``public_base_url`` says where the root is served on the web (a folder behind a web server): then
    :meth:`public_url` builds plain URLs under it; otherwise it signs through the filesystem (gs://).
    """

    def __init__(self, root: Any, *, public_base_url: str | None = None):
        self.root = root
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, *, public_base_url: str | None = None, **storage_options: Any) -> Storage:
        """The store at ``url`` (``file:///…``, ``gs://bucket/prefix``, ``memory://…``, or a plain folder)."""
        from upath import UPath

        if "://" not in url:
            url = Path(url).expanduser().resolve().as_uri()
        return cls(UPath(url, **storage_options), public_base_url=public_base_url)

    @classmethod
    def local(cls, folder: str | os.PathLike, *, public_base_url: str | None = None) -> Storage:
        return cls.from_url(Path(folder).expanduser().resolve().as_uri(), public_base_url=public_base_url)

    @classmethod
    def coerce(cls, target: Storage | str | os.PathLike) -> Storage:
        """A Storage as is; a local folder (older callers and tests) as a file:// store."""
        return target if isinstance(target, Storage) else cls.local(target)

    def child(self, prefix: str) -> Storage:
        """The store under ``prefix`` (the outbox, the mailbox): keys of the child are relative to it."""
        rel = check_key(prefix.strip("/")).as_posix()
        base = f"{self.public_base_url}/{quote(rel)}" if self.public_base_url else None
        return type(self)(self.root / rel, public_base_url=base)

    # --- description ----------------------------------------------------------------------

    @property
    def fs(self):
        return self.root.fs

    @property
    def protocol(self) -> str:
        protocol = getattr(self.root, "protocol", "") or "file"
        return protocol[0] if isinstance(protocol, (tuple, list)) else protocol

    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")

    @property
    def base(self) -> str:
        """The root as the filesystem names it (no protocol)."""
        return str(self.root.path).rstrip("/") or "/"

    @property
    def description(self) -> str:
        """Where the files are, for messages: protocol and path, no connection id nor credential."""
        if self.is_local:
            return self.base
        return f"{self.protocol}://{self.base.lstrip('/')}"

    def __repr__(self) -> str:
        return f"Storage({self.description!r})"

    def _full(self, key: str) -> str:
        return f"{self.base.rstrip('/')}/{check_key(key).as_posix()}"

    def path(self, key: str):
        """A path object for ``key`` (``open``, ``name``, ``suffix``); a legacy absolute path stays local."""
        if is_legacy_path(key):
            return Path(key)
        return self.root / check_key(key).as_posix()

    def uri(self, key: str) -> str:
        """A URL naming the file (``file:///…``, ``gs://…``): for records and messages, not for the public."""
        if is_legacy_path(key):
            return Path(key).as_uri()
        if self.is_local:
            return Path(self._full(key)).as_uri()
        return f"{self.protocol}://{self._full(key).lstrip('/')}"

    def key_of(self, path: Any) -> str | None:
        """The key of a path object inside this store, or None when it lives elsewhere."""
        proto = getattr(path, "protocol", None)
        if isinstance(path, Path) and not hasattr(path, "fs"):
            proto, text = "file", str(Path(path).resolve())
        else:
            text = str(getattr(path, "path", path))
        if (proto or "file") not in (self.protocol, "local" if self.is_local else self.protocol):
            return None
        base = self.base.rstrip("/") + "/"
        return text[len(base) :] if text.startswith(base) else None

    # --- errors -----------------------------------------------------------------------------

    @contextmanager
    def _guard(self, doing: str, key: str) -> Iterator[None]:
        try:
            yield
        except CvpError:
            raise
        except FileNotFoundError:
            raise NotFound(
                f"El archivo «{key}» no está en el almacenamiento de archivos ({self.description})."
            ) from None
        except Exception as exc:  # noqa: BLE001 - OSError, fsspec/gcsfs/aiohttp/google-auth errors alike
            log.warning("No se pudo %s «%s» en %s: %r", doing, key, self.description, exc)
            raise StorageUnavailable(
                f"No se pudo {doing} «{key}» en el almacenamiento de archivos ({self.description}): "
                f"{_reason(exc)}. No quedó nada a medias; intente de nuevo y, si persiste, avise a quien "
                "administra la plataforma."
            ) from exc

    # --- writing ----------------------------------------------------------------------------

    def write_stream(
        self, key: str, stream: IO[bytes], *, on_chunk: Callable[[bytes], None] | None = None, chunk_size: int = CHUNK
    ) -> str:
        """Copy ``stream`` to ``key``, whole or not at all; ``on_chunk`` sees each chunk (a checksum)."""

        def chunks():
            while chunk := stream.read(chunk_size):
                yield chunk

        return self._write(key, chunks(), on_chunk)

    def write_bytes(self, key: str, data: bytes) -> str:
        return self._write(key, iter((data,)), None)

    def write_text(self, key: str, text: str) -> str:
        return self.write_bytes(key, text.encode("utf-8"))

    def _write(self, key: str, chunks, on_chunk) -> str:
        rel = check_key(key)
        final = self._full(key)
        tmp = f"{final.rsplit('/', 1)[0]}/.{rel.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
        fs = self.fs
        with self._guard("guardar", key):
            try:
                if _is_local_fs(fs):
                    fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                out = fs.open(tmp, "wb")
                try:
                    for chunk in chunks:
                        if on_chunk is not None:
                            on_chunk(chunk)
                        out.write(chunk)
                except BaseException:
                    _abandon(out)
                    raise
                out.close()
                fs.mv(tmp, final)
            except BaseException:
                _quietly(fs.rm_file, tmp)  # nothing half-written stays behind
                raise
        return key

    def copy(self, source_key: str, key: str) -> str:
        """Copy a file of this store to another key (through a stream: works for legacy paths too)."""
        with self.open(source_key) as src:
            return self.write_stream(key, src)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present (a legacy absolute path is a local file)."""
        if is_legacy_path(key):
            Path(key).unlink(missing_ok=True)
            return
        with self._guard("borrar", key):
            try:
                self.fs.rm_file(self._full(key))
            except FileNotFoundError:
                pass

    # --- reading ----------------------------------------------------------------------------

    def open(self, key: str) -> IO[bytes]:
        """The file for reading (binary, seekable); a legacy absolute path opens the local file."""
        if is_legacy_path(key):
            try:
                return open(key, "rb")
            except FileNotFoundError:
                raise NotFound(f"El archivo «{Path(key).name}» ya no está en este equipo ({key}).") from None
        with self._guard("leer", key):
            return self.fs.open(self._full(key), "rb")

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as f, self._guard("leer", key):
            return f.read()

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def exists(self, key: str) -> bool:
        if is_legacy_path(key):
            return Path(key).is_file()
        with self._guard("consultar", key):
            return bool(self.fs.isfile(self._full(key)))

    def size(self, key: str) -> int:
        if is_legacy_path(key):
            return Path(key).stat().st_size
        with self._guard("consultar", key):
            return int(self.fs.size(self._full(key)))

    def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (recursive, sorted); temporary files of writes in progress are left out."""
        where = self._full(prefix.strip("/")) if prefix.strip("/") else self.base
        with self._guard("listar", prefix or "/"):
            try:
                found = self.fs.find(where)
            except FileNotFoundError:
                return []
        base = self.base.rstrip("/") + "/"
        keys = []
        for p in found:
            p = str(p)
            p = p[len(base) :] if p.startswith(base) else p.lstrip("/")
            if not PurePosixPath(p).name.startswith("."):
                keys.append(p)
        return sorted(keys)

    def local_path(self, key: str) -> Path | None:
        """The real local file of ``key`` when the store is a local folder (for range-serving), else None."""
        if is_legacy_path(key):
            return Path(key)
        return Path(self._full(key)) if self.is_local else None

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A real local file with the content of ``key``, for code that needs a path (the media probe).

        A local store hands its own file (nothing copied); any other store downloads to a scratch file
        private to this process, removed on exit.
        """
        if is_legacy_path(key):
            yield Path(key)
            return
        if self.is_local:
            path = self.local_path(key)
            if not path.is_file():
                raise NotFound(f"El archivo «{key}» no está en el almacenamiento de archivos ({self.description}).")
            yield path
            return
        with local_file(self.path(key), opener=lambda: self.open(key)) as path:
            yield path

    # --- publishing -------------------------------------------------------------------------

    def can_publish(self) -> bool:
        """Whether :meth:`public_url` can give a URL anyone can fetch (served folder, or signing)."""
        return bool(self.public_base_url) or _signs(self.fs)

    def public_url(self, key: str, expires: timedelta = DEFAULT_URL_LIFETIME) -> str:
        """A URL a platform can download ``key`` from: under the public base URL, else signed by the store."""
        rel = check_key(key).as_posix()
        if self.public_base_url:
            return f"{self.public_base_url}/{quote(rel)}"
        if not _signs(self.fs):
            raise StorageUnavailable(
                f"El almacenamiento de archivos ({self.description}) no publica direcciones para las "
                "plataformas: use un bucket (CVP_STORAGE_URL=gs://…) o una carpeta servida por la web "
                "(extra «storage_dir» y «public_base_url» de la conexión de Instagram)."
            )
        options = {"version": "v4"} if self.protocol in ("gs", "gcs") else {}  # gcsfs signs V2 unless asked
        with self._guard("publicar", key):
            return str(self.fs.sign(self._full(key), expiration=int(expires.total_seconds()), **options))


def _signs(fs) -> bool:
    from fsspec import AbstractFileSystem

    return getattr(type(fs), "sign", AbstractFileSystem.sign) is not AbstractFileSystem.sign


def _abandon(handle) -> None:
    """Give up a file being written without committing it (fsspec commits on close and on garbage collection)."""
    discard = getattr(handle, "discard", None)
    _quietly(discard) if discard else None
    try:
        handle.closed = True  # fsspec buffered files: close() and __del__ then do nothing
    except Exception:  # noqa: BLE001 - plain files have a read-only 'closed'
        _quietly(handle.close)


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - cleanup after a failure must not hide the failure
        pass


@contextmanager
def local_file(path: Any, *, opener: Callable[[], IO[bytes]] | None = None) -> Iterator[Path]:
    """A local path for a path-like: itself when it is a local file, else a private scratch copy."""
    if isinstance(path, Path) and not hasattr(path, "fs"):
        yield path
        return
    if getattr(path, "protocol", None) in ("file", "local"):
        yield Path(str(path.path))
        return
    suffix = PurePosixPath(str(getattr(path, "name", ""))).suffix
    fd, name = tempfile.mkstemp(prefix="cvp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out, opener() if opener else path.open("rb") as src:
            shutil.copyfileobj(src, out, CHUNK)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def default_storage(cfg=None) -> Storage:
    """The domain's own store from the settings (command line, tests).

    With ``CVP_STORAGE_CONN_ID`` the store is Airflow's (``cvp_airflow.storage.product_storage``: the
    filesystem built from that Airflow Connection, as the api-server and the workers build it); without
    Airflow installed such a setting is refused rather than opening the bucket without its credentials.
    """
    from cvp.config import settings

    cfg = cfg or settings()
    if not cfg.storage_conn_id:
        return Storage.from_url(cfg.storage_base_url)
    try:  # Airflow's side, imported only when asked
        from airflow.sdk import ObjectStoragePath  # noqa: F401 - cvp_airflow imports it only when building

        from cvp_airflow.storage import product_storage
    except ImportError:
        raise StorageUnavailable(
            f"CVP_STORAGE_CONN_ID indica la conexión de Airflow «{cfg.storage_conn_id}» para el almacenamiento "
            f"de archivos ({cfg.storage_base_url}), pero Airflow no está instalado en este equipo. "
            "Ejecute la orden donde está Airflow o quite CVP_STORAGE_CONN_ID."
        ) from None
    return product_storage(cfg)
