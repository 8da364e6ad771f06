"""``check_text``: every check a piece goes through before the head reviews it (issue 5).

One entry point per piece and channel, so the DAG, the review screen and the command line see the
same findings in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cvp import procedure as P

from .findings import (
    CHANNEL_NAMES_ES,
    ERROR,
    INFO,
    WARNING,
    CheckReport,
    Finding,
    require_channel,
    sort_findings,
)
from .guide import Guide, check_urls_online, load_guide
from .inclusive import InclusiveRules, load_inclusive_rules
from .limits import check_facebook_text, check_instagram_text, check_x_text, check_youtube_text
from .media import check_media
from .probe import MediaInfo
from .textutil import find_hashtags, find_links, find_mentions, link_spans, publishable, unpublishable_positions

HASHTAG_CASE_MIN_LETTERS = 12
ACUERDO = "Lenguaje incluyente (Acuerdo 381 de 2009)"


def _hashtag_case(channel: str, text: str, field: str) -> list[Finding]:
    """Long one-case hashtags are read letter by letter or as one word by screen readers."""
    out = []
    for tag in find_hashtags(text, link_spans(text)):
        letters = [c for c in tag.text[1:] if c.isalpha()]
        if len(letters) <= HASHTAG_CASE_MIN_LETTERS:
            continue
        if all(c.islower() for c in letters) or all(c.isupper() for c in letters):
            out.append(
                Finding(
                    "a11y.hashtag_case",
                    WARNING,
                    "La etiqueta %s está toda en %s; los lectores de pantalla no distinguen sus palabras."
                    % (tag.text, "minúsculas" if letters[0].islower() else "mayúsculas"),
                    channel=channel,
                    start=tag.start,
                    end=tag.end,
                    suggestion="Escriba cada palabra con mayúscula inicial, p. ej. #ViviendaDigna.",
                    field=field,
                )
            )
    return out


def _unpublishable(channel: str, text: str, field: str) -> list[Finding]:
    """Lone surrogates and NUL characters: no platform, database or mail carries them (blocking)."""
    positions = unpublishable_positions(text)
    if not positions:
        return []
    what = "El título" if field == "title" else "El texto"
    count = len(positions)
    many = (
        "%d caracteres que no se pueden publicar; el primero está" % count
        if count > 1
        else "un carácter que no se puede publicar"
    )
    return [
        Finding(
            "text.invalid_character",
            ERROR,
            "%s contiene %s en la posición %d (la mitad suelta de un emoji o símbolo, o un carácter nulo, "
            "que suele quedar al copiar o cortar un texto)." % (what, many, positions[0] + 1),
            channel=channel,
            start=positions[0],
            end=positions[0] + 1,
            suggestion="Borre ese carácter y, si era un emoji, vuelva a insertarlo completo.",
            field=field,
        )
    ]


def _inclusive(channel: str, text: str, field: str, rules: InclusiveRules) -> list[Finding]:
    out = []
    for m in rules.find(text):
        alternatives = " o ".join("«%s»" % s for s in m.rule.suggestions)
        message = "%s: «%s» puede reemplazarse por %s." % (ACUERDO, m.text, alternatives)
        if m.rule.note:
            message += " " + m.rule.note
        out.append(
            Finding(
                "lang.inclusive",
                WARNING,
                message,
                channel=channel,
                start=m.start,
                end=m.end,
                suggestion=m.suggestion(),
                field=field,
            )
        )
    return out


def _guide(channel: str, text: str, title: str, campaign: str | None, guide: Guide) -> list[Finding]:
    out = []
    where = CHANNEL_NAMES_ES[channel]
    if campaign and campaign not in guide.campaigns:
        out.append(
            Finding(
                "guide.unknown_campaign",
                WARNING,
                "La campaña «%s» no está en la guía institucional; no se verificaron sus etiquetas ni menciones."
                % campaign,
                channel=channel,
                suggestion="Revise la clave de la campaña o agréguela a include/checks/guia_institucional.yml.",
            )
        )
    req = guide.requirements(channel, campaign)
    if not req:
        return out
    combined = title + "\n" + text if title else text
    skip = link_spans(combined)
    present_tags = {t.text.casefold() for t in find_hashtags(combined, skip)}
    present_mentions = {t.text.casefold() for t in find_mentions(combined, skip)}
    camp = guide.campaigns.get(campaign) if campaign else None
    context = " de la campaña «%s»" % camp.name if camp else ""
    for tag in req.hashtags:
        if tag.casefold() not in present_tags:
            out.append(
                Finding(
                    "guide.required_hashtag",
                    WARNING,
                    "La guía institucional pide la etiqueta %s en las piezas%s para %s." % (tag, context, where),
                    channel=channel,
                    suggestion="Agregue %s al texto." % tag,
                )
            )
    for mention in req.mentions:
        if mention.casefold() not in present_mentions:
            out.append(
                Finding(
                    "guide.required_mention",
                    WARNING,
                    "La guía institucional pide mencionar a %s en las piezas%s para %s." % (mention, context, where),
                    channel=channel,
                    suggestion="Agregue %s al texto." % mention,
                )
            )
    return out


def _links(channel: str, text: str, field: str, online: bool) -> tuple[list[Finding], list[tuple]]:
    out = []
    to_probe = []
    for link in find_links(text):
        if link.problem:
            out.append(
                Finding(
                    "link.malformed",
                    ERROR,
                    "El enlace «%s» está mal escrito: %s." % (link.raw, link.problem),
                    channel=channel,
                    start=link.start,
                    end=link.end,
                    suggestion="Copie el enlace completo desde el navegador, p. ej. https://www.cajaviviendapopular.gov.co/",
                    field=field,
                )
            )
            continue
        if link.raw[:7].lower() == "http://":
            out.append(
                Finding(
                    "link.insecure",
                    INFO,
                    "El enlace «%s» usa http; si el sitio tiene versión segura, use https." % link.raw,
                    channel=channel,
                    start=link.start,
                    end=link.end,
                    suggestion="https://" + link.raw[7:],
                    field=field,
                )
            )
        if online:
            to_probe.append((link, field))
    return out, to_probe


def check_text(
    channel: str,
    text: str,
    *,
    title: str = "",
    media: Sequence[MediaInfo] = (),
    campaign: str | None = None,
    guide: Guide | None = None,
    rules: InclusiveRules | None = None,
    check_links_online: bool = False,
) -> CheckReport:
    """Run every check for a piece on ``channel``; ``report.blocking`` says whether it can be submitted.

    For YouTube ``title`` is the video title and ``text`` the description. ``guide`` and ``rules``
    default to the files in ``include/checks`` (cached). Only ``check_links_online=True`` touches
    the network (HEAD then GET, 3 s timeout).
    """
    require_channel(channel)
    findings: list[Finding] = []
    findings += _unpublishable(channel, title or "", "title")
    findings += _unpublishable(channel, text or "", "text")
    # The other checks read the text with those characters replaced (same offsets), so that no finding
    # quotes a character a page or a database could not show.
    text = publishable(text or "")
    title = publishable(title or "")
    media = [replace(m, name=publishable(m.name), alt_text=publishable(m.alt_text)) for m in media]
    weighted = None

    if channel == "x":
        weighted, found = check_x_text(text)
        findings += found
    elif channel == "facebook":
        findings += check_facebook_text(text)
    elif channel == "instagram":
        findings += check_instagram_text(text)
    elif channel == "youtube":
        findings += check_youtube_text(title, text)

    if P.CHANNEL[channel].text.needs_text_or_media and not text.strip() and not media:
        findings.append(
            Finding(
                "text.empty",
                ERROR,
                "La publicación para %s no tiene texto ni archivos adjuntos." % CHANNEL_NAMES_ES[channel],
                channel=channel,
            )
        )

    findings += check_media(channel, media)

    rules = rules if rules is not None else load_inclusive_rules()
    guide = guide if guide is not None else load_guide()
    probes = []
    for field, value in (("title", title), ("text", text)):
        if not value:
            continue
        findings += _hashtag_case(channel, value, field)
        findings += _inclusive(channel, value, field, rules)
        found, to_probe = _links(channel, value, field, check_links_online)
        findings += found
        probes += to_probe
    findings += _guide(channel, text, title, campaign, guide)

    if probes:
        results = check_urls_online([link.url for link, _ in probes])
        for link, field in probes:
            problem = results.get(link.url)
            if problem:
                findings.append(
                    Finding(
                        "link.unreachable",
                        WARNING,
                        "El enlace «%s» no está disponible: %s." % (link.raw, problem),
                        channel=channel,
                        start=link.start,
                        end=link.end,
                        suggestion="Verifique la dirección o que la página ya esté publicada.",
                        field=field,
                    )
                )

    return CheckReport(sort_findings(findings), weighted, channel)
