"""Streaming upload of a design: the body goes to a temporary file and stops at the size limit.

Starlette's form parser would spool the whole file, however large, before anyone could look at it.
Here the multipart body is parsed as it arrives: the one file part is written (off the event loop)
to a temporary file outside any web root, its first bytes are sniffed so that a wrong type is
refused at once, and the read stops as soon as the file passes the limit. The domain then stores
the file under a generated name with its checksum (``Office.submit_design``).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from cvp.errors import CvpError, InvalidInput
from cvp.office import UPLOAD_TYPES, sniff_media_type

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 12
OVERHEAD_BYTES = MAX_PARTS * MAX_FIELD_BYTES  # room for the form fields and multipart framing
FLUSH_BYTES = 1 << 20
SNIFF_BYTES = 64
MAX_BOUNDARY = 200  # RFC 2046 allows 70 characters; python-multipart refuses more than 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ACCEPTED = "imágenes PNG, JPEG, GIF o WebP, documentos PDF y videos MP4 o MOV"


class TooLarge(CvpError):
    status = 413


class UnsupportedType(CvpError):
    status = 415


def max_upload_bytes() -> int:
    """The same limit the domain applies (CVP_MAX_UPLOAD_MB, 512 MB by default)."""
    return int(os.environ.get("CVP_MAX_UPLOAD_MB", "512")) * 1024 * 1024


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"El archivo supera el máximo permitido de {limit / 1048576:.0f} MB; no se guardó nada. "
        "Reduzca su peso (exportación optimizada o menor resolución) y cárguelo de nuevo."
    )


@dataclass
class UploadedForm:
    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    filename: str = ""
    size: int = 0
    media_type: str | None = None

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


class _Parser:
    def __init__(self, file_field: str, tmp_path: Path, limit: int, before_file):
        self.file_field, self.tmp_path, self.limit = file_field, tmp_path, limit
        self.before_file = before_file
        self.form = UploadedForm()
        self.parts = 0
        self._name = ""
        self._is_file = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._data = bytearray()
        self._pending = bytearray()  # file bytes not yet written
        self._head = bytearray()  # first bytes of the file, to sniff its type

    # python-multipart callbacks (synchronous, no I/O here)
    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidInput("El formulario tiene demasiados campos.")
        self._name, self._is_file, self._disposition, self._data = "", False, b"", bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            if self._name != self.file_field or self.form.path is not None:
                raise InvalidInput("El formulario trae un archivo inesperado: cargue un solo archivo de diseño.")
            if self.before_file is not None:
                self.before_file(self.form.fields)
            self._is_file = True
            name = _CONTROL.sub("_", options[b"filename"].decode("utf-8", "replace"))
            self.form.filename = Path(name).name[:255]
            self.form.path = self.tmp_path

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            if len(self._data) + len(chunk) > MAX_FIELD_BYTES:
                raise InvalidInput("Un campo del formulario es demasiado largo (máximo 64 KB).")
            self._data += chunk
            return
        self.form.size += len(chunk)
        if self.form.size > self.limit:
            raise _too_large(self.limit)
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
        self._pending += chunk

    def on_part_end(self) -> None:
        if self._is_file:
            if self.form.media_type is None and self._head:
                self._sniff()
        elif self._name:
            value = self._data.decode("utf-8", "replace")  # never a lone surrogate; NUL is refused here
            if "\0" in value:
                raise InvalidInput(
                    "Un campo del formulario contiene un carácter nulo, que no se puede guardar: "
                    "bórrelo y vuelva a cargar el archivo."
                )
            self.form.fields[self._name] = value

    def _sniff(self) -> None:
        media_type = sniff_media_type(bytes(self._head))
        if media_type not in UPLOAD_TYPES:
            raise UnsupportedType(
                f"Tipo de archivo no admitido («{self.form.filename}»): se admiten {ACCEPTED}. "
                "El tipo se reconoce por el contenido del archivo, no por su nombre."
            )
        self.form.media_type = media_type

    def take_pending(self) -> bytes:
        out, self._pending = bytes(self._pending), bytearray()
        return out


async def receive_upload(
    request: Request,
    *,
    file_field: str,
    tmp_dir: Path,
    limit: int | None = None,
    before_file: Callable[[dict[str, str]], None] | None = None,
) -> UploadedForm:
    """Parse the multipart body of ``request`` with the file capped at ``limit`` bytes.

    ``before_file(fields)`` runs when the file part starts, with the fields read so far (the
    anti-forgery token comes before the file in our form), and may refuse before a byte is stored.
    Refuses before reading when the declared length is already too large. On any refusal the
    temporary file is removed and the rest of the body is not read.
    """
    limit = limit or max_upload_bytes()
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise InvalidInput("El diseño se envía como formulario con archivo (multipart/form-data).")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + OVERHEAD_BYTES:
        raise _too_large(limit)
    boundary = options[b"boundary"]
    if not 1 <= len(boundary) <= MAX_BOUNDARY:  # the parser raised FormParserError (a 500) at construction
        raise InvalidInput(
            "El formulario llegó mal formado (el separador de sus partes no es válido); vuelva a "
            "cargar el archivo desde la página."
        )
    tmp_path = await asyncio.to_thread(_new_temp_file, tmp_dir)
    p = _Parser(file_field, tmp_path, limit, before_file)
    received = 0
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": p.on_part_begin,
                "on_part_data": p.on_part_data,
                "on_part_end": p.on_part_end,
                "on_header_field": p.on_header_field,
                "on_header_value": p.on_header_value,
                "on_header_end": p.on_header_end,
                "on_headers_finished": p.on_headers_finished,
            },
        )
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + OVERHEAD_BYTES:
                raise _too_large(limit)
            parser.write(chunk)
            if len(p._pending) >= FLUSH_BYTES:
                await asyncio.to_thread(_append, tmp_path, p.take_pending())
        parser.finalize()
        await asyncio.to_thread(_append, tmp_path, p.take_pending())
    except FormParserError:
        await asyncio.to_thread(tmp_path.unlink, missing_ok=True)
        raise InvalidInput("El formulario llegó incompleto o mal formado; vuelva a cargar el archivo.") from None
    except BaseException as exc:
        await asyncio.to_thread(tmp_path.unlink, missing_ok=True)
        if isinstance(exc, CvpError):
            exc.fields = dict(p.form.fields)  # what was typed, to show the form again
        raise
    if p.form.path is None or p.form.size == 0:
        await asyncio.to_thread(tmp_path.unlink, missing_ok=True)
        raise InvalidInput("Elija el archivo del diseño (imagen, PDF o video); el archivo no puede estar vacío.")
    return p.form


def _new_temp_file(tmp_dir: Path) -> Path:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="subida-", suffix=".part", dir=tmp_dir)
    os.close(fd)
    return Path(name)


def _append(path: Path, data: bytes) -> None:
    if data:
        with path.open("ab") as out:
            out.write(data)
