"""Task bodies of ``dags/conexiones_canales.py``: check every channel's connection, tell the head.

Each platform hook answers about its connection (:meth:`check`: token valid, expiry, permissions) and
renews its token where the platform allows; the answer is recorded (:mod:`cvp.channel_health`) and the
head gets the notices it calls for. A platform that does not answer keeps its last state and the task
fails after recording the others, so that Airflow retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def _office():
    from cvp_airflow.hooks import RecordsHook

    return RecordsHook().office(with_mailer=False)


def check_channels(context: Mapping[str, Any]) -> dict[str, str]:
    """Record each configured channel's state; channels without a connection (outbox) are not checked."""
    from airflow.sdk.exceptions import AirflowException

    from cvp import channel_health
    from cvp import procedure as P
    from cvp.channel_health import Health
    from cvp.publishers.base import PublishError
    from cvp_airflow.channels import lookup_connection
    from cvp_airflow.platforms import CheckUnavailable, conn_id_for, hook_for

    office = _office()
    summary: dict[str, str] = {}
    unanswered: dict[str, str] = {}
    for channel in P.PLATFORM_CHANNELS:
        conn_id = conn_id_for(channel)
        conn = lookup_connection(conn_id)
        if conn is None:
            summary[channel] = "sin conexión (bandeja de salida)"
            continue
        try:
            health = hook_for(channel, connection=conn).check()
        except CheckUnavailable as exc:
            unanswered[channel] = exc.message
            log.warning("Canal %s: %s", channel, exc.message)
            continue
        except PublishError as exc:  # a connection missing a field, a credentials file that is not there
            health = Health(False, exc.message)
        row = channel_health.record(office, channel, conn_id, health)
        summary[channel] = channel_health.describe(row)
        log.info("Canal %s (conexión '%s'): %s", channel, conn_id, summary[channel])
    if unanswered:
        detail = "; ".join(f"{P.CHANNELS[c]}: {m}" for c, m in unanswered.items())
        raise AirflowException(f"No se pudo verificar {len(unanswered)} canal(es): {detail}")
    return summary


def notify_head(context: Mapping[str, Any]) -> list[str]:
    """Mail the head the notices the last checks call for (7 days and 1 day before an expiry, a broken channel)."""
    from cvp import channel_health
    from cvp_airflow.hooks import mailer

    return channel_health.send_notices(_office(), mailer())
