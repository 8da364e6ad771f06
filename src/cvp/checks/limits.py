"""Text limits of each platform: what the API rejects (error) and what is close to it (warning).

The figures are the platforms' published limits; a piece that exceeds one would fail at publishing
time, after approval, so it is cheaper to stop it before the head reviews it.
"""

from __future__ import annotations

from collections.abc import Iterator

from cvp import procedure as P

from .findings import ERROR, WARNING, Finding
from .textutil import SpanSet, find_hashtags, find_mentions, link_spans, publishable
from .xlength import X_MAX_WEIGHTED_LENGTH, x_has_invalid_characters, x_weighted_length

NEAR_LIMIT = 0.9

# The platforms' published limits, from the channel registry (cvp.procedure.CHANNEL).
FACEBOOK_MAX_CHARS = P.CHANNEL["facebook"].text.max_length
INSTAGRAM_MAX_CHARS = P.CHANNEL["instagram"].text.max_length
INSTAGRAM_MAX_HASHTAGS = P.CHANNEL["instagram"].text.max_hashtags
INSTAGRAM_MAX_MENTIONS = P.CHANNEL["instagram"].text.max_mentions
YOUTUBE_TITLE_MAX_CHARS = P.CHANNEL["youtube"].text.title_max_chars
YOUTUBE_DESCRIPTION_MAX_BYTES = P.CHANNEL["youtube"].text.max_length


def _fmt(n: int) -> str:
    """Colombian thousands separator (63.206)."""
    return f"{n:,}".replace(",", ".")


def _limit(
    code: str,
    channel: str,
    value: int,
    limit: int,
    what: str,
    unit: str,
    fix: str,
    field: str = "text",
) -> Iterator[Finding]:
    """Yield an error above ``limit`` and a warning from 90 % of it."""
    if value > limit:
        yield Finding(
            code,
            ERROR,
            "%s tiene %s %s y el límite es %s: sobran %s. %s"
            % (what, _fmt(value), unit, _fmt(limit), _fmt(value - limit), fix),
            channel=channel,
            field=field,
        )
    elif value >= NEAR_LIMIT * limit:
        yield Finding(
            code,
            WARNING,
            "%s tiene %s %s, cerca del límite de %s (quedan %s)."
            % (what, _fmt(value), unit, _fmt(limit), _fmt(limit - value)),
            channel=channel,
            field=field,
        )


def _angle_brackets(code: str, channel: str, text: str, what: str, field: str) -> Iterator[Finding]:
    for i, ch in enumerate(text):
        if ch in "<>":
            yield Finding(
                code,
                ERROR,
                "%s contiene el carácter «%s», que YouTube no admite." % (what, ch),
                channel=channel,
                start=i,
                end=i + 1,
                suggestion="Quite «<» y «>» o reemplácelos por «‹ ›» o paréntesis.",
                field=field,
            )


def check_x_text(text: str) -> tuple[int, list[Finding]]:
    """Weighted length (twitter-text v3) and invalid characters on X."""
    weighted = x_weighted_length(text)
    findings = list(
        _limit(
            "x.length",
            "x",
            weighted,
            X_MAX_WEIGHTED_LENGTH,
            "El texto para X",
            "caracteres ponderados",
            "Cada enlace cuenta 23 y cada emoji 2; acorte el texto.",
        )
    )
    if text and x_has_invalid_characters(text):
        findings.append(
            Finding(
                "x.invalid_chars",
                ERROR,
                "El texto contiene caracteres que X rechaza (marcas de dirección o BOM, a menudo "
                "pegados desde otro programa).",
                channel="x",
                suggestion="Vuelva a escribir el texto o péguelo como texto sin formato.",
                field="text",
            )
        )
    return weighted, findings


def check_facebook_text(text: str) -> list[Finding]:
    return list(
        _limit(
            "fb.length",
            "facebook",
            len(text),
            FACEBOOK_MAX_CHARS,
            "La publicación de Facebook",
            "caracteres",
            "Acorte el texto o enlace a la nota completa en el sitio web.",
        )
    )


def check_instagram_text(text: str) -> list[Finding]:
    findings = list(
        _limit(
            "ig.length",
            "instagram",
            len(text),
            INSTAGRAM_MAX_CHARS,
            "La descripción de Instagram",
            "caracteres",
            "Acorte el texto.",
        )
    )
    skip: SpanSet = link_spans(text)
    hashtags = find_hashtags(text, skip)
    findings += _limit(
        "ig.hashtags",
        "instagram",
        len(hashtags),
        INSTAGRAM_MAX_HASHTAGS,
        "La descripción de Instagram",
        "etiquetas (#)",
        "Deje solo las etiquetas de la campaña y las institucionales.",
    )
    mentions = find_mentions(text, skip)
    findings += _limit(
        "ig.mentions",
        "instagram",
        len(mentions),
        INSTAGRAM_MAX_MENTIONS,
        "La descripción de Instagram",
        "menciones (@)",
        "Reduzca las menciones a las cuentas imprescindibles.",
    )
    return findings


def check_youtube_text(title: str, description: str) -> list[Finding]:
    findings: list[Finding] = []
    if not title.strip():
        findings.append(
            Finding(
                "yt.title_required",
                ERROR,
                "El video de YouTube necesita un título.",
                channel="youtube",
                field="title",
            )
        )
    findings += _limit(
        "yt.title_length",
        "youtube",
        len(title),
        YOUTUBE_TITLE_MAX_CHARS,
        "El título de YouTube",
        "caracteres",
        "Acorte el título.",
        field="title",
    )
    findings += _angle_brackets("yt.title_chars", "youtube", title, "El título de YouTube", "title")
    findings += _limit(
        "yt.description_length",
        "youtube",
        len(publishable(description).encode("utf-8")),
        YOUTUBE_DESCRIPTION_MAX_BYTES,
        "La descripción de YouTube",
        "bytes (las letras con tilde, la ñ y los emoji ocupan más de uno)",
        "Acorte la descripción.",
    )
    findings += _angle_brackets("yt.description_chars", "youtube", description, "La descripción de YouTube", "text")
    return findings
