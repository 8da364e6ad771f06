"""Checks a text and its media go through before the head of communications reviews them.

Platform limits (X weighted length, Instagram hashtags, YouTube bytes...), media formats and sizes,
accessibility, inclusive language (Acuerdo 381 de 2009) and the institutional guide. Each check
returns ``Finding`` objects with a stable code, a severity and a Spanish message; an ``error``
blocks submission, a ``warning`` is for the head to decide.
"""

from .core import check_text
from .findings import CHANNELS, ERROR, INFO, WARNING, CheckReport, Finding, render_findings_es
from .guide import Campaign, Guide, GuideError, Requirements, check_urls_online, load_guide
from .inclusive import (
    RULES_DIR_ENV,
    InclusiveRule,
    InclusiveRules,
    InclusiveRulesError,
    load_inclusive_rules,
)
from .media import check_media
from .probe import MediaInfo, probe_media
from .xlength import X_MAX_WEIGHTED_LENGTH, x_weighted_length

__all__ = [
    "CHANNELS",
    "Campaign",
    "CheckReport",
    "ERROR",
    "Finding",
    "Guide",
    "GuideError",
    "INFO",
    "InclusiveRule",
    "InclusiveRules",
    "InclusiveRulesError",
    "MediaInfo",
    "RULES_DIR_ENV",
    "Requirements",
    "WARNING",
    "X_MAX_WEIGHTED_LENGTH",
    "check_media",
    "check_text",
    "check_urls_online",
    "load_guide",
    "load_inclusive_rules",
    "probe_media",
    "render_findings_es",
    "x_weighted_length",
]
