"""Read what the media checks need from a file's header: type, size, dimensions, duration.

The type comes from the magic bytes because a renamed file (a PDF saved as ``.png``) is exactly what
a platform rejects after approval. Only headers are read, with seeks, so a 2 GB video costs a few
kilobytes of I/O. Pillow is not a dependency; the formats here are the ones the office produces.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
WEBP = "image/webp"
BMP = "image/bmp"
TIFF = "image/tiff"
PDF = "application/pdf"
MP4 = "video/mp4"
MOV = "video/quicktime"
AVI = "video/x-msvideo"
WMV = "video/x-ms-wmv"
FLV = "video/x-flv"
WEBM = "video/webm"
MKV = "video/x-matroska"
MPEG_PS = "video/mpeg"
GPP3 = "video/3gpp"
GPP3_2 = "video/3gpp2"
OCTET = "application/octet-stream"

FORMAT_NAMES = {
    JPEG: "JPEG",
    PNG: "PNG",
    GIF: "GIF",
    WEBP: "WebP",
    BMP: "BMP",
    TIFF: "TIFF",
    PDF: "PDF",
    MP4: "MP4",
    MOV: "MOV",
    AVI: "AVI",
    WMV: "WMV",
    FLV: "FLV",
    WEBM: "WebM",
    MKV: "MKV",
    MPEG_PS: "MPEG-PS",
    GPP3: "3GPP",
    GPP3_2: "3GPP2",
    OCTET: "desconocido",
}


@dataclass(frozen=True)
class MediaInfo:
    """What the checks know about one attached file (probed, or declared by the caller)."""

    media_type: str  # MIME type, e.g. "image/png", "video/mp4", "application/pdf"
    size: int  # bytes
    width: int | None = None  # displayed width (EXIF/track rotation applied)
    height: int | None = None
    duration: float | None = None  # seconds, videos only
    alt_text: str | None = None
    has_captions: bool | None = None  # None: unknown
    name: str | None = None  # file name, used in messages

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")

    @property
    def is_pdf(self) -> bool:
        return self.media_type == PDF

    @property
    def aspect_ratio(self) -> float | None:
        """Width over height; None when unknown or not a size at all (declared dimensions may be absurd)."""
        if self.width and self.height and self.width > 0 and self.height > 0:
            try:
                return self.width / self.height
            except OverflowError:
                return None
        return None

    @property
    def format_name(self) -> str:
        return FORMAT_NAMES.get(self.media_type, self.media_type)


# --- type detection ----------------------------------------------------------------------------

_QT_TOP_LEVEL = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def sniff_type(head: bytes) -> str:
    """MIME type from the first bytes of a file (at least 64 are needed for every case)."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head[:2] == b"BM" and len(head) >= 26:
        return BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head.startswith(b"%PDF-"):
        return PDF
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return MOV
        if brand.startswith(b"3gp"):
            return GPP3
        if brand.startswith(b"3g2"):
            return GPP3_2
        return MP4
    if head[4:8] in _QT_TOP_LEVEL:
        return MOV
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM if b"webm" in head else MKV
    if head.startswith(_ASF_GUID):
        return WMV
    if head.startswith(b"FLV\x01"):
        return FLV
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return MPEG_PS
    return OCTET


# --- image dimensions --------------------------------------------------------------------------


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", head[16:24])
    return w, h


def _gif_size(head: bytes) -> tuple[int, int]:
    return struct.unpack("<HH", head[6:10])


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    return None


def _bmp_size(head: bytes) -> tuple[int, int]:
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:
        w, h = struct.unpack("<HH", head[18:22])
    else:
        w, h = struct.unpack("<ii", head[18:26])
    return abs(w), abs(h)


def _tiff_tags(read_at, base: int, wanted: set[int]) -> dict[int, int]:
    """Values of the wanted SHORT/LONG tags of IFD0 of a TIFF structure starting at ``base``."""
    order = read_at(base, 2)
    endian = "<" if order == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", read_at(base + 4, 4))
    (count,) = struct.unpack(endian + "H", read_at(base + ifd, 2))
    entries = read_at(base + ifd + 2, 12 * min(count, 512))
    tags: dict[int, int] = {}
    for i in range(len(entries) // 12):
        tag, typ, _n = struct.unpack(endian + "HHI", entries[i * 12 : i * 12 + 8])
        if tag not in wanted:
            continue
        raw = entries[i * 12 + 8 : i * 12 + 12]
        if typ == 3:  # SHORT
            tags[tag] = struct.unpack(endian + "H", raw[:2])[0]
        elif typ == 4:  # LONG
            tags[tag] = struct.unpack(endian + "I", raw)[0]
    return tags


def _tiff_size(f: BinaryIO) -> tuple[int, int] | None:
    def read_at(offset: int, n: int) -> bytes:
        f.seek(offset)
        return f.read(n)

    tags = _tiff_tags(read_at, 0, {256, 257, 274})
    if 256 in tags and 257 in tags:
        w, h = tags[256], tags[257]
        return (h, w) if tags.get(274, 1) in (5, 6, 7, 8) else (w, h)
    return None


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(f: BinaryIO) -> tuple[int, int] | None:
    """Walk the JPEG markers up to the frame header; apply the EXIF orientation (phone photos)."""
    f.seek(2)
    orientation = 1
    while True:
        byte = f.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            continue
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker:
            return None
        m = marker[0]
        if m == 0x01 or 0xD0 <= m <= 0xD8:
            continue
        if m in (0xD9, 0xDA):  # end of image / start of scan: no frame header found
            return None
        seg_len_raw = f.read(2)
        if len(seg_len_raw) < 2:
            return None
        (seg_len,) = struct.unpack(">H", seg_len_raw)
        if seg_len < 2:
            return None
        if m in _SOF_MARKERS:
            data = f.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        if m == 0xE1 and orientation == 1:
            payload = f.read(seg_len - 2)
            if payload.startswith(b"Exif\x00\x00"):
                tiff = payload[6:]
                try:
                    orientation = _tiff_tags(lambda o, n: tiff[o : o + n], 0, {274}).get(274, 1)  # noqa: B023
                except struct.error:
                    orientation = 1
            continue
        f.seek(seg_len - 2, os.SEEK_CUR)


# --- MP4 / MOV ---------------------------------------------------------------------------------


def _boxes(f: BinaryIO, start: int, end: int):
    """Yield ``(type, payload_start, payload_end)`` for the ISO-BMFF boxes in ``[start, end)``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        size, typ = struct.unpack(">I4s", header)
        header_len = 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            (size,) = struct.unpack(">Q", large)
            header_len = 16
        elif size == 0:
            size = end - pos
        if size < header_len:
            return
        yield typ, pos + header_len, min(pos + size, end)
        pos += size


def _mp4_info(f: BinaryIO, file_size: int) -> tuple[float | None, tuple[int, int] | None]:
    duration = None
    dims = None
    for typ, start, end in _boxes(f, 0, file_size):
        if typ != b"moov":
            continue
        for sub, s_start, s_end in _boxes(f, start, end):
            if sub == b"mvhd":
                f.seek(s_start)
                data = f.read(min(s_end - s_start, 32))
                if data[:1] == b"\x01":
                    timescale, length = struct.unpack(">IQ", data[20:32])
                    unknown = length == 0xFFFFFFFFFFFFFFFF
                else:
                    timescale, length = struct.unpack(">II", data[12:20])
                    unknown = length == 0xFFFFFFFF
                if timescale and not unknown:
                    duration = length / timescale
            elif sub == b"trak" and dims is None:
                dims = _track_dims(f, s_start, s_end)
        break
    return duration, dims


def _track_dims(f: BinaryIO, start: int, end: int) -> tuple[int, int] | None:
    """Displayed size of a visual track from ``tkhd`` (rotation matrix applied)."""
    for typ, t_start, t_end in _boxes(f, start, end):
        if typ != b"tkhd":
            continue
        f.seek(t_start)
        data = f.read(t_end - t_start)
        matrix_at = 40 if data[:1] == b"\x00" else 52
        if len(data) < matrix_at + 44:
            return None
        a, b, _u, c, d = struct.unpack(">iiiii", data[matrix_at : matrix_at + 20])
        w_fixed, h_fixed = struct.unpack(">II", data[matrix_at + 36 : matrix_at + 44])
        w, h = w_fixed >> 16, h_fixed >> 16
        if not w or not h:
            return None
        if a == 0 and d == 0 and b != 0 and c != 0:  # rotated 90 or 270 degrees
            w, h = h, w
        return w, h
    return None


# --- public ------------------------------------------------------------------------------------


def probe_media(
    path: str | os.PathLike,
    *,
    alt_text: str | None = None,
    has_captions: bool | None = None,
) -> MediaInfo:
    """Probe a file: MIME type from magic bytes, size, image dimensions, MP4/MOV duration and size.

    Unreadable headers leave the dimensions or duration as None rather than failing: the checks
    then report them as unknown. A missing file raises ``FileNotFoundError``.
    """
    p = Path(path)
    with p.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4096)
        media_type = sniff_type(head)
        width = height = None
        duration = None
        try:
            dims = None
            if media_type == PNG:
                dims = _png_size(head)
            elif media_type == GIF:
                dims = _gif_size(head)
            elif media_type == WEBP:
                dims = _webp_size(head)
            elif media_type == BMP:
                dims = _bmp_size(head)
            elif media_type == TIFF:
                dims = _tiff_size(f)
            elif media_type == JPEG:
                dims = _jpeg_size(f)
            elif media_type in (MP4, MOV, GPP3, GPP3_2):
                duration, dims = _mp4_info(f, size)
            if dims:
                width, height = dims
        except (struct.error, ValueError, IndexError):
            log.warning("No se pudo leer la cabecera de %s (%s); se omiten dimensiones y duración.", p, media_type)
    return MediaInfo(
        media_type=media_type,
        size=size,
        width=width,
        height=height,
        duration=duration,
        alt_text=alt_text,
        has_captions=has_captions,
        name=p.name,
    )
