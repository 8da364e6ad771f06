"""Temporary: the names that moved to cvp.publishers.retry, .graph and .base, until every importer uses those."""

from cvp.publishers.base import (  # noqa: F401
    check_file, format_mb, is_recent_enough, normalize_text, not_before, parse_datetime, same_text, split_media,
)
from cvp.publishers.graph import GRAPH_BASE_URL, GRAPH_VERSION, GraphApi, graph_items, graph_reset_at  # noqa: F401
from cvp.publishers.retry import (  # noqa: F401
    DEFAULT_ATTEMPTS, DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, DEFAULT_TIMEOUT, Clock, Sleep, backoff_delay, parse_epoch,
    utcnow, with_retries,
)
