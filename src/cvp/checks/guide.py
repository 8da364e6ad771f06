"""Institutional guide: hashtags and mentions a channel or campaign requires, and link checks.

What a campaign must carry changes every few weeks, so it is data
(``include/checks/guia_institucional.yml``) the office edits; a missing item is a warning because
the head may have agreed an exception. Links are checked for form always, and for reachability only
on request, since that needs the network.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .data import GUIDE_FILE, data_file
from .findings import CHANNELS

log = logging.getLogger(__name__)

ALL_CHANNELS_KEY = "all"
LINK_TIMEOUT_SECONDS = 3.0
_USER_AGENT = "CVP-revision-previa/1.0 (+https://www.cajaviviendapopular.gov.co)"


class GuideError(ValueError):
    """The guide file cannot be used; the message says where, in Spanish."""


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class Requirements:
    """Hashtags (``#Etiqueta``) and mentions (``@cuenta``) a piece must include."""

    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()

    def __add__(self, other: Requirements) -> Requirements:
        return Requirements(_dedupe(self.hashtags + other.hashtags), _dedupe(self.mentions + other.mentions))

    def __bool__(self) -> bool:
        return bool(self.hashtags or self.mentions)


@dataclass(frozen=True)
class Campaign:
    key: str
    name: str
    requirements: Mapping[str, Requirements] = field(default_factory=dict)  # channel or "all"


@dataclass(frozen=True)
class Guide:
    """Per-channel defaults plus per-campaign requirements."""

    channels: Mapping[str, Requirements] = field(default_factory=dict)  # channel or "all"
    campaigns: Mapping[str, Campaign] = field(default_factory=dict)

    def requirements(self, channel: str, campaign: str | None = None) -> Requirements:
        """Everything a piece on ``channel`` must carry; unknown campaigns add nothing."""
        req = self.channels.get(ALL_CHANNELS_KEY, Requirements()) + self.channels.get(channel, Requirements())
        camp = self.campaigns.get(campaign) if campaign else None
        if camp is not None:
            req = req + camp.requirements.get(ALL_CHANNELS_KEY, Requirements())
            req = req + camp.requirements.get(channel, Requirements())
        return req

    @classmethod
    def from_dict(cls, doc: Mapping | None, source: str = "guía") -> Guide:
        """Build and validate a guide from its YAML structure."""
        doc = doc or {}
        if not isinstance(doc, Mapping):
            raise GuideError("%s: se espera un mapa con «channels» y «campaigns»." % source)
        unknown = set(doc) - {"version", "channels", "campaigns"}
        if unknown:
            raise GuideError("%s: claves desconocidas: %s." % (source, ", ".join(sorted(map(str, unknown)))))
        channels = _parse_channel_map(doc.get("channels"), "%s, channels" % source)
        campaigns: dict[str, Campaign] = {}
        raw_campaigns = doc.get("campaigns") or {}
        if not isinstance(raw_campaigns, Mapping):
            raise GuideError("%s: «campaigns» debe ser un mapa de campañas." % source)
        for key, raw in raw_campaigns.items():
            where = "%s, campaña %s" % (source, key)
            if not isinstance(raw, Mapping):
                raise GuideError("%s: debe ser un mapa." % where)
            raw = dict(raw)
            name = raw.pop("name", None) or str(key)
            raw.pop("description", None)
            campaigns[str(key)] = Campaign(str(key), str(name), _parse_channel_map(raw, where))
        return cls(channels, campaigns)


def _parse_channel_map(raw, where: str) -> dict[str, Requirements]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise GuideError("%s: debe ser un mapa de canal a requisitos." % where)
    out: dict[str, Requirements] = {}
    for channel, req in raw.items():
        if channel != ALL_CHANNELS_KEY and channel not in CHANNELS:
            raise GuideError(
                "%s: canal desconocido «%s»; use %s o «%s»." % (where, channel, ", ".join(CHANNELS), ALL_CHANNELS_KEY)
            )
        req = req or {}
        if not isinstance(req, Mapping) or set(req) - {"hashtags", "mentions"}:
            raise GuideError("%s, %s: solo se admiten las claves «hashtags» y «mentions»." % (where, channel))
        hashtags = _items(req.get("hashtags"), "#", "%s, %s, hashtags" % (where, channel))
        mentions = _items(req.get("mentions"), "@", "%s, %s, mentions" % (where, channel))
        out[channel] = Requirements(hashtags, mentions)
    return out


def _items(raw, prefix: str, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise GuideError("%s: debe ser una lista." % where)
    out = []
    for item in raw:
        if (
            not isinstance(item, str)
            or not item.strip().startswith(prefix)
            or len(item.strip()) < 2
            or " " in item.strip()
        ):
            raise GuideError("%s: «%s» debe empezar por «%s» y no tener espacios." % (where, item, prefix))
        out.append(item.strip())
    return _dedupe(out)


_cache_lock = threading.Lock()
_cache: dict[tuple, Guide] = {}


def load_guide(path: str | os.PathLike | None = None) -> Guide:
    """The guide from ``include/checks/guia_institucional.yml`` (or ``path``), cached until it changes."""
    p = Path(path) if path is not None else data_file(GUIDE_FILE)
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    guide = _cache.get(key)
    if guide is None:
        with _cache_lock:
            try:
                doc = yaml.safe_load(p.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise GuideError("%s no es YAML válido: %s" % (p, exc)) from exc
            guide = Guide.from_dict(doc, p.name)
            _cache[key] = guide
    return guide


# --- reachability ------------------------------------------------------------------------------


def _probe_url(client, url: str, timeout: float) -> str | None:
    import httpx

    problem = None
    try:
        response = client.head(url)
        if response.status_code < 400:
            return None
        problem = "respondió con el código %d" % response.status_code
    except httpx.TimeoutException:
        problem = "no respondió en %g s" % timeout
    except httpx.HTTPError as exc:
        problem = _network_problem(exc)
    # Some servers refuse HEAD (405) or time out on it; a GET is the real test.
    try:
        with client.stream("GET", url) as response:
            if response.status_code < 400:
                return None
            return "respondió con el código %d" % response.status_code
    except httpx.TimeoutException:
        return "no respondió en %g s" % timeout
    except httpx.HTTPError as exc:
        return _network_problem(exc) or problem


def _network_problem(exc) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "no se pudo conectar con el servidor"
    if isinstance(exc, httpx.TooManyRedirects):
        return "redirige demasiadas veces"
    return "error de red (%s)" % type(exc).__name__


def check_urls_online(urls: Iterable[str], timeout: float = LINK_TIMEOUT_SECONDS) -> dict[str, str | None]:
    """Map each URL to None when it answers below 400 (HEAD, then GET), else a Spanish reason."""
    import httpx

    unique = list(dict.fromkeys(urls))
    if not unique:
        return {}
    with (
        httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": _USER_AGENT}) as client,
        ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool,
    ):
        results = list(pool.map(lambda u: _probe_url(client, u, timeout), unique))
    for url, problem in zip(unique, results, strict=True):
        if problem:
            log.info("Enlace no disponible %s: %s", url, problem)
    return dict(zip(unique, results, strict=True))
