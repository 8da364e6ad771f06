"""Text scanning shared by the checks: accent folding, hashtags, mentions, links and quotes.

Every function reports offsets into the caller's original string, so a finding can point at the
exact words a person has to change.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import urlsplit

# --- accent and case folding -------------------------------------------------------------------


@cache
def _fold_char(ch: str) -> str:
    base = unicodedata.normalize("NFD", ch)[0] if ch else ch
    low = base.lower()
    return low if len(low) == 1 else base


class _FoldTable(dict):
    """``str.translate`` table mapping every character to one folded character (same length)."""

    def __missing__(self, code: int) -> int:
        folded = ord(_fold_char(chr(code)))
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()
for _code in range(0x250):
    _FOLD_TABLE[_code]  # noqa: B018 - pre-fill the Latin ranges Spanish text uses
del _code


def fold_phrase(text: str) -> str:
    """Lower-case ``text`` and strip its accents, collapsing runs of whitespace (for rule phrases)."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())


def fold_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """Fold ``text`` for matching; returns the folded string and, when lengths differ, an index map.

    The common case (precomposed text) keeps one folded character per original character, so no
    map is needed and offsets carry over. Decomposed input (``a`` + combining accent) is folded
    character by character and ``index_map[i]`` gives the original offset of folded character i.
    """
    if unicodedata.is_normalized("NFC", text) and not _has_combining(text):
        return text.translate(_FOLD_TABLE), None
    out: list[str] = []
    index_map: list[int] = []
    for i, ch in enumerate(text):
        for part in unicodedata.normalize("NFD", ch):
            if unicodedata.combining(part):
                continue
            out.append(_fold_char(part))
            index_map.append(i)
    return "".join(out), index_map


_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _has_combining(text: str) -> bool:
    return _COMBINING_RE.search(text) is not None


def map_span(start: int, end: int, index_map: list[int] | None, original: str) -> tuple[int, int]:
    """Translate a span of the folded string back to the original string."""
    if index_map is None:
        return start, end
    if start >= len(index_map):
        return len(original), len(original)
    o_start = index_map[start]
    o_end = index_map[end - 1] + 1 if end > start else o_start
    while o_end < len(original) and unicodedata.combining(original[o_end]):
        o_end += 1
    return o_start, o_end


# --- hashtags and mentions ---------------------------------------------------------------------

_HASHTAG_RE = re.compile(r"(?<![\w&#＃])[#＃](\w*[^\W\d_]\w*)")
_MENTION_RE = re.compile(r"(?<![\w@＠.])[@＠]([A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?)")


@dataclass(frozen=True)
class Token:
    """A hashtag, mention or link found in the text, with its offsets."""

    text: str
    start: int
    end: int


def find_hashtags(text: str, skip: SpanSet | None = None) -> list[Token]:
    """Hashtags (``#Palabra``); at least one letter, as the platforms require."""
    return [
        Token(m.group(0), m.start(), m.end())
        for m in _HASHTAG_RE.finditer(text)
        if skip is None or not skip.contains(m.start())
    ]


def find_mentions(text: str, skip: SpanSet | None = None) -> list[Token]:
    """Mentions (``@cuenta``); e-mail addresses are not mentions."""
    return [
        Token(m.group(0), m.start(), m.end())
        for m in _MENTION_RE.finditer(text)
        if skip is None or not skip.contains(m.start())
    ]


# --- spans -------------------------------------------------------------------------------------


class SpanSet:
    """Sorted, non-overlapping spans with a fast membership test for an offset."""

    def __init__(self, spans: list[tuple[int, int]]):
        self.spans = sorted(spans)
        self._starts = [s for s, _ in self.spans]

    def contains(self, pos: int) -> bool:
        i = bisect.bisect_right(self._starts, pos) - 1
        return i >= 0 and self.spans[i][0] <= pos < self.spans[i][1]

    def __or__(self, other: SpanSet) -> SpanSet:
        return SpanSet(self.spans + other.spans)

    def __bool__(self) -> bool:
        return bool(self.spans)


_QUOTED_RE = re.compile(r'"[^"\n]*"|“[^”\n]*”|«[^»]*»')


def quoted_spans(text: str) -> SpanSet:
    """Spans inside double quotes or «» (names, titles, citations), quotes included."""
    return SpanSet([(m.start(), m.end()) for m in _QUOTED_RE.finditer(text)])


# --- links -------------------------------------------------------------------------------------

_LEADING = "([{«“‘\"'¿¡<"
_TRAILING = ".,;:!?)]}»”’\"'>…"
_SCHEME_LIKE_RE = re.compile(r"(?i)(h[a-z]{1,6})([:;]?)(/*)")
_HTTP_RE = re.compile(r"(?i)https?://")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9\u00a1-\uffff-]{1,63}(?<!-)$")
_TLD_RE = re.compile(r"^(?:[a-z\u00a1-\uffff]{2,63}|xn--[a-z0-9-]{1,59})$")
_IPV4_LIKE_RE = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True)
class Link:
    """A link-like token: ``url`` is what to request (``www.`` links get ``https://``)."""

    raw: str
    start: int
    end: int
    url: str | None
    problem: str | None  # Spanish reason when malformed, else None


def _strip_token(tok: str, start: int) -> tuple[str, int]:
    while tok and tok[0] in _LEADING:
        tok, start = tok[1:], start + 1
    while tok and tok[-1] in _TRAILING:
        if tok[-1] == ")" and tok.count("(") >= tok.count(")"):
            break
        tok = tok[:-1]
    return tok, start


def _is_link_like(tok: str) -> bool:
    if tok[:4].lower() == "www.":
        return True
    m = _SCHEME_LIKE_RE.match(tok)
    if not m or not (m.group(2) or m.group(3)):
        return False
    scheme = m.group(1).lower()
    return "t" in scheme and "p" in scheme


def valid_host(host: str) -> bool:
    """A public-looking host: a dotted domain with a real-looking TLD, or an IP address literal."""
    host = host.lower().rstrip(".")
    if not host:
        return False
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
            return True
        except ValueError:
            return False
    if _IPV4_LIKE_RE.match(host):
        try:
            ipaddress.IPv4Address(host)
            return True
        except ValueError:
            return False
    labels = host.split(".")
    if len(labels) < 2 or (labels[0] == "www" and len(labels) < 3):
        return False
    return all(_LABEL_RE.match(label) for label in labels) and bool(_TLD_RE.match(labels[-1]))


def url_problem(raw: str) -> tuple[str | None, str | None]:
    """Return ``(url, problem)`` for a link-like token; ``problem`` is None when it is well formed."""
    if raw[:4].lower() == "www.":
        url = "https://" + raw
    elif _HTTP_RE.match(raw):
        url = raw
    else:
        return None, "el inicio del enlace debe ser «http://» o «https://»"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None, "el puerto o la dirección no son válidos"
    host = parts.hostname
    if not host:
        return None, "falta el dominio después de «//»"
    if not valid_host(host):
        return None, "el dominio «%s» no es válido" % host
    return url, None


# Marks that only occur in (or near) links: ":/", "//", "www.", an "h...:" scheme, ".tld". The
# regex engine finds them in C; only the few tokens holding one are examined in Python.
# Every branch starts with a literal so the engine can skip ahead by first character.
_MARKER_RE = re.compile(
    r"[:;]/|//|[wW](?<![^\W\d_][wW])[wW]{2}\.|[hH](?<![^\W\d_][hH])[a-zA-Z]{1,6}[:;]"
    r"|\.(?<=[\w-]\.)[a-z]{2,6}(?!\w)"
)
_NON_SPACE_RE = re.compile(r"\S*")


def _candidate_tokens(text: str):
    """Yield ``(token, start)`` for each whitespace-delimited token containing a link marker."""
    last_end = -1
    for m in _MARKER_RE.finditer(text):
        if m.start() < last_end:
            continue
        start = m.start()
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = _NON_SPACE_RE.match(text, m.start()).end()
        last_end = end
        yield text[start:end], start


@lru_cache(maxsize=4)
def find_links(text: str) -> tuple[Link, ...]:
    """Links written with a scheme (or starting with ``www.``), including misspelt schemes."""
    links = []
    for raw, raw_start in _candidate_tokens(text):
        tok, start = _strip_token(raw, raw_start)
        if len(tok) < 4 or not _is_link_like(tok):
            continue
        url, problem = url_problem(tok)
        links.append(Link(tok, start, start + len(tok), url, problem))
    return tuple(links)


_BARE_DOMAIN_RE = re.compile(r"^[\w-]+(?:\.[\w-]+)*\.[a-z]{2,6}(?:[/?#]\S*)?$")


@lru_cache(maxsize=4)
def link_spans(text: str) -> SpanSet:
    """Spans covered by links, e-mail-free bare domains included, so words in URLs are never flagged."""
    spans = []
    for raw, raw_start in _candidate_tokens(text):
        tok, start = _strip_token(raw, raw_start)
        if len(tok) >= 4 and (_is_link_like(tok) or ("@" not in tok and _BARE_DOMAIN_RE.match(tok))):
            spans.append((start, start + len(tok)))
    return SpanSet(spans)


# --- characters nothing downstream can carry ---------------------------------------------------

# A lone UTF-16 surrogate (half of an emoji cut when copying, or "\ud800" typed into JSON) cannot be
# encoded as UTF-8: no platform, page, database driver or mail accepts it. NUL is refused by
# PostgreSQL's text and jsonb. Both are replaced before any other check looks at the text.
_UNPUBLISHABLE_RE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def unpublishable_positions(text: str) -> list[int]:
    """Offsets of lone surrogates and NUL characters in ``text``."""
    return [m.start() for m in _UNPUBLISHABLE_RE.finditer(text or "")]


def publishable(text: str) -> str:
    """``text`` with each lone surrogate and NUL replaced by U+FFFD: same length, so offsets still hold."""
    return _UNPUBLISHABLE_RE.sub(REPLACEMENT, text) if text else text
