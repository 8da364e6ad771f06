"""Media checks per channel: formats, sizes, durations, aspect ratios, counts and accessibility.

The limits are the platforms' published ones for organic posts through their APIs. A file outside
them fails at publishing time, after the head approved it, so they are errors here; accessibility
gaps (alt text, captions) are warnings because the head may accept them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cvp import procedure as P

from .findings import CHANNEL_NAMES_ES, ERROR, INFO, WARNING, Finding, require_channel
from .probe import FORMAT_NAMES, GIF, MediaInfo
from .textutil import publishable

MB = 1024 * 1024
GB = 1024 * MB
ASPECT_TOLERANCE = 0.01


# The rules live with the channels (cvp.procedure.CHANNEL); these names stay for the checks' readers.
KindLimits = P.KindLimits
ChannelMedia = P.ChannelMedia
CHANNEL_MEDIA: dict[str, ChannelMedia] = {key: c.media for key, c in P.CHANNEL.items()}
X_ALT_TEXT_MAX = P.CHANNEL["x"].media.alt_text_max


def _size_es(n: int) -> str:
    if n >= GB:
        value, unit = n / GB, "GB"
    elif n >= MB:
        value, unit = n / MB, "MB"
    else:
        value, unit = n / 1024, "KB"
    text = ("%.1f" % value).replace(".", ",")
    if text.endswith(",0"):
        text = text[:-2]
    return "%s %s" % (text, unit)


def _duration_es(seconds: float) -> str:
    if seconds < 60:
        return ("%.1f s" % seconds).replace(".", ",").replace(",0 s", " s")
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return "%d min %02d s" % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return "%d h %02d min" % (hours, minutes)


def _ratio_es(ratio: float) -> str:
    return ("%.2f:1" % ratio).replace(".", ",")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _label(item: MediaInfo, index: int) -> str:
    return "«%s»" % publishable(item.name) if item.name else "n.º %d" % (index + 1)


def _formats_es(formats: frozenset[str]) -> str:
    return ", ".join(sorted(FORMAT_NAMES.get(f, f) for f in formats))


def _check_item(channel: str, rules: ChannelMedia, item: MediaInfo, index: int) -> list[Finding]:
    where = CHANNEL_NAMES_ES[channel]
    label = _label(item, index)
    out: list[Finding] = []

    def add(code: str, severity: str, message: str, suggestion: str | None = None) -> None:
        out.append(Finding(code, severity, message, channel=channel, suggestion=suggestion))

    if item.is_pdf:
        if not rules.any_file:
            add(
                "media.pdf",
                ERROR,
                "El archivo %s es un PDF y %s no publica PDF." % (label, where),
                "Exporte la pieza como imagen (PNG o JPEG) o como video (MP4) y adjúntela de nuevo.",
            )
        return out
    if rules.any_file:
        if not (item.is_image or item.is_video):
            add(
                "media.format",
                WARNING,
                "El archivo %s no es imagen, video ni PDF (tipo %s); revise que el sitio web pueda mostrarlo."
                % (label, item.media_type),
            )
        return out

    kind = rules.images if item.is_image else rules.videos if item.is_video else None
    if kind is None or item.media_type not in kind.formats:
        accepted = []
        if rules.images:
            accepted.append("imágenes " + _formats_es(rules.images.formats))
        if rules.videos:
            accepted.append("video " + _formats_es(rules.videos.formats))
        add(
            "media.format",
            ERROR,
            "El archivo %s tiene formato %s, que %s no acepta. Formatos admitidos: %s."
            % (label, item.format_name, where, "; ".join(accepted)),
            "Exporte el archivo en uno de los formatos admitidos.",
        )
        return out

    limit = kind.size_limit(item.media_type)
    if item.size > limit:
        add(
            "media.size",
            ERROR,
            "El archivo %s pesa %s y %s admite hasta %s para %s."
            % (label, _size_es(item.size), where, _size_es(limit), item.format_name),
            "Reduzca la resolución o la calidad de exportación.",
        )

    if item.is_video and (kind.min_duration is not None or kind.max_duration is not None):
        if item.duration is None or not math.isfinite(item.duration):  # NaN or infinite: nothing was read
            add(
                "media.duration_unknown",
                INFO,
                "No se pudo leer la duración del video %s; verifique que cumpla el límite de %s." % (label, where),
            )
        elif kind.max_duration is not None and item.duration > kind.max_duration:
            add(
                "media.duration",
                ERROR,
                "El video %s dura %s y %s admite hasta %s."
                % (label, _duration_es(item.duration), where, _duration_es(kind.max_duration)),
                "Recorte el video o publíquelo en YouTube y enlácelo.",
            )
        elif kind.min_duration is not None and item.duration < kind.min_duration:
            add(
                "media.duration",
                ERROR,
                "El video %s dura %s y %s exige al menos %s."
                % (label, _duration_es(item.duration), where, _duration_es(kind.min_duration)),
            )

    if kind.min_aspect is not None and kind.max_aspect is not None:
        ratio = item.aspect_ratio
        if ratio is None:
            add(
                "media.dimensions_unknown",
                INFO,
                "No se pudieron leer las dimensiones del archivo %s; verifique que la relación de aspecto esté "
                "entre %s." % (label, kind.aspect_label),
            )
        elif ratio < kind.min_aspect - ASPECT_TOLERANCE or ratio > kind.max_aspect + ASPECT_TOLERANCE:
            add(
                "media.aspect_ratio",
                ERROR,
                "El archivo %s mide %d×%d (relación %s) y %s admite entre %s; la plataforma lo recortaría o rechazaría."
                % (label, item.width, item.height, _ratio_es(ratio), where, kind.aspect_label),
                "Ajuste el lienzo, p. ej. 1080×1350 (4:5), 1080×1080 (1:1) o 1080×1920 (9:16) para video vertical.",
            )
    return out


def _accessibility(channel: str, item: MediaInfo, index: int) -> list[Finding]:
    label = _label(item, index)
    out: list[Finding] = []
    if item.is_image:
        alt = (item.alt_text or "").strip()
        if not alt:
            out.append(
                Finding(
                    "a11y.alt_text",
                    WARNING,
                    "La imagen %s no tiene texto alternativo. Es una advertencia (no bloquea), pero sin "
                    "él las personas que usan lector de pantalla no acceden a la pieza." % label,
                    channel=channel,
                    suggestion="Describa en una o dos frases lo que muestra la imagen, incluido el texto que contiene.",
                )
            )
        elif (limit := CHANNEL_MEDIA[channel].alt_text_max) is not None and len(alt) > limit:
            out.append(
                Finding(
                    "a11y.alt_text_length",
                    ERROR,
                    "El texto alternativo de %s tiene %d caracteres y %s admite hasta %d."
                    % (label, len(alt), CHANNEL_NAMES_ES[channel], limit),
                    channel=channel,
                    suggestion="Resuma la descripción.",
                )
            )
    elif item.is_video:
        if item.has_captions is False:
            out.append(
                Finding(
                    "a11y.captions",
                    WARNING,
                    "El video %s no tiene subtítulos; las personas sordas o con hipoacusia no podrán "
                    "seguirlo, y muchas personas ven los videos sin sonido." % label,
                    channel=channel,
                    suggestion="Agregue subtítulos incrustados o un archivo de subtítulos (SRT).",
                )
            )
        elif item.has_captions is None:
            out.append(
                Finding(
                    "a11y.captions",
                    INFO,
                    "No se sabe si el video %s tiene subtítulos; verifíquelo antes de enviar." % label,
                    channel=channel,
                )
            )
    return out


def _counts(channel: str, rules: ChannelMedia, media: Sequence[MediaInfo]) -> list[Finding]:
    where = CHANNEL_NAMES_ES[channel]
    out: list[Finding] = []

    def add(code: str, message: str, suggestion: str | None = None) -> None:
        out.append(Finding(code, ERROR, message, channel=channel, suggestion=suggestion))

    images = [m for m in media if m.is_image]
    videos = [m for m in media if m.is_video]
    if rules.requires_video and not videos:
        add("media.required", "YouTube necesita un video; no hay ningún video adjunto.", "Adjunte el video final.")
    elif rules.requires_media and not media:
        add(
            "media.required",
            "%s no admite publicaciones solo de texto: adjunte al menos una imagen o un video." % _cap(where),
        )
    if rules.max_items is not None and len(media) > rules.max_items:
        add(
            "media.count",
            "Hay %d archivos y %s admite hasta %d por publicación." % (len(media), where, rules.max_items),
            "Divida el contenido en varias publicaciones.",
        )
    if rules.max_images is not None and len(images) > rules.max_images:
        add(
            "media.count",
            "Hay %d imágenes y %s admite hasta %d por publicación." % (len(images), where, rules.max_images),
            "Deje las más importantes o publique un hilo.",
        )
    if rules.max_videos is not None and len(videos) > rules.max_videos:
        add(
            "media.count",
            "Hay %d videos y %s admite uno por publicación." % (len(videos), where),
        )
    if not rules.allow_mixed:
        gifs = [m for m in images if m.media_type == GIF]
        if images and videos:
            add(
                "media.mixed",
                "%s no permite mezclar imágenes y video en una publicación." % where,
                "Publique el video aparte, o solo las imágenes.",
            )
        elif gifs and len(images) > 1:
            add(
                "media.mixed",
                "En %s un GIF animado va solo: no puede acompañarse de otras imágenes." % where,
                "Publique el GIF aparte.",
            )
    return out


def check_media(channel: str, media: Sequence[MediaInfo]) -> list[Finding]:
    """All media findings for a piece on ``channel``: per file, per post and accessibility."""
    require_channel(channel)
    rules = CHANNEL_MEDIA[channel]
    findings = _counts(channel, rules, media)
    for index, item in enumerate(media):
        findings += _check_item(channel, rules, item, index)
        findings += _accessibility(channel, item, index)
    return findings
