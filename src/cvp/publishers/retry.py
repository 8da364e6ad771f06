"""Bounded retries, timeouts and rate-limit times shared by every HTTP client of the platforms.

Only calls that are safe to repeat are retried (uploads and reads); the post call itself is never
retried by a publisher, and a rate limit is waited for by the caller, who knows the task's deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx

from cvp.publishers.base import TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Default timeouts, in seconds: connecting must be quick; uploads may take long to send.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=10.0)
DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_DELAY = 2.0
DEFAULT_MAX_DELAY = 30.0

Sleep = Callable[[float], None]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def backoff_delay(attempt: int, base_delay: float, max_delay: float) -> float:
    """Delay before retry number ``attempt`` (1-based): base, 2·base, 4·base… capped."""
    return min(max_delay, base_delay * (2 ** (attempt - 1)))


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    sleep: Sleep = time.sleep,
) -> T:
    """Run ``call``, repeating it after a :class:`TransientError`, at most ``attempts`` times.

    Only for calls that are safe to repeat. Any other error (authentication, rate limit,
    rejection, unknown outcome) goes up at once: a rate limit is waited for by the caller, who
    knows the task's deadline, never here.
    """
    attempt = 1
    while True:
        try:
            return call()
        except TransientError as exc:
            if attempt >= attempts:
                raise
            delay = backoff_delay(attempt, base_delay, max_delay)
            log.warning(
                "%s falló (%s); reintento %s de %s en %.1f s",
                what,
                exc.detail or exc.message,
                attempt,
                attempts - 1,
                delay,
            )
            sleep(delay)
            attempt += 1


def parse_epoch(value: str | None) -> datetime | None:
    """A reset time given as epoch seconds (X's ``x-rate-limit-reset``), in UTC."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(float(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
