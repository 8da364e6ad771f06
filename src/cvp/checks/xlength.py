"""X (Twitter) weighted length, by the official twitter-text v3 rules.

X does not count characters: URLs weigh 23 whatever their length, emoji sequences and CJK weigh 2,
Latin text (accents included) weighs 1. ``twitter-text-parser`` implements those rules; we only wrap
it, because counting with ``len()`` would let through posts that X then rejects.
"""

from __future__ import annotations

import threading
import warnings

from cvp import procedure as P

from .textutil import publishable

X_MAX_WEIGHTED_LENGTH = P.CHANNEL["x"].text.max_length

_lock = threading.Lock()
_parse_tweet = None


def _load_parse_tweet():
    """Import twitter-text once, lazily: it loads its emoji tables at import (about 0.1 s)."""
    global _parse_tweet
    if _parse_tweet is None:
        with _lock, warnings.catch_warnings():
            # twitter-text-parser 3.0.0 imports pkg_resources (setuptools is pinned below 81 for it).
            warnings.simplefilter("ignore", UserWarning)
            from twitter_text import parse_tweet

            _parse_tweet = parse_tweet
    return _parse_tweet


# twitter-text's URL pattern is quadratic on runs like "a.a.a." (about 0.5 s at 600 characters, hours at
# 100,000) and holds the GIL meanwhile. A text this long is far beyond 280 anyway: it is not parsed.
X_PARSE_MAX_CHARS = 600


def x_weighted_length(text: str) -> int:
    """Weighted length of ``text`` as X counts it (limit 280); past X_PARSE_MAX_CHARS, its plain length."""
    if not text:
        return 0
    if len(text) > X_PARSE_MAX_CHARS:
        return len(text)
    return _load_parse_tweet()(publishable(text)).weightedLength


def x_has_invalid_characters(text: str) -> bool:
    """X rejects a few code points outright (BOM, U+FFFE, U+FFFF, U+202A-U+202E)."""
    _load_parse_tweet()
    from twitter_text.has_invalid_characters import has_invalid_characters

    return has_invalid_characters(publishable(text))
