"""The forms' view of the records and the mail, resolved the api-server way.

The api-server runs with ``_AIRFLOW_PROCESS_CONTEXT=server``: connections come from its own secrets
chain (environment variables, then the metadata database) through ``airflow.models.Connection``,
not through the task SDK's supervisor. Lookups are cached for a minute so that a changed connection
is picked up without a restart, while a page does not query the metadata database every time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import lru_cache

from fastapi import BackgroundTasks

from cvp.config import settings
from cvp.mail import MailboxMailer, Mailer, smtp_mailer
from cvp.office import Office
from cvp_airflow.storage import mailbox, product_storage

log = logging.getLogger(__name__)

RECORDS_CONN_ID = "cvp_records"
CACHE_SECONDS = 60.0
_lock = threading.Lock()
_cache: dict[str, tuple[float, object]] = {}


def _connection(conn_id: str):
    """The Airflow connection ``conn_id`` or None; never raises for a missing one."""
    try:
        from airflow.models.connection import Connection
    except ImportError:  # outside an Airflow installation (not expected here)
        return None
    try:
        return Connection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException, or no metadata database at hand
        log.debug("Connection %s not available to the forms: %s", conn_id, exc)
        return None


def _cached(key: str, build):
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    value = build()
    with _lock:
        _cache[key] = (now, value)
    return value


def records_url() -> str:
    """URL of the records database: the ``cvp_records`` connection, else the embedded default."""

    def build() -> str:
        conn = _connection(RECORDS_CONN_ID)
        if conn is None:
            url = settings().default_records_url
            log.info("Forms: no connection %s, records at the default %s", RECORDS_CONN_ID, _safe(url))
            return url
        from cvp_airflow.hooks import records_url_from_connection

        url = records_url_from_connection(conn)
        log.info("Forms: records from connection %s (%s)", RECORDS_CONN_ID, _safe(url))
        return url

    return _cached("records_url", build)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for a log line
        return "(URL no interpretable)"


def mailer() -> Mailer:
    """SMTP from Airflow's ``smtp_default`` connection (or CVP_SMTP_CONN_ID); else the local mailbox."""

    def build() -> Mailer:
        conn = _connection(os.environ.get("CVP_SMTP_CONN_ID", "smtp_default"))
        if conn is None or not conn.host:
            return MailboxMailer(mailbox())
        return smtp_mailer(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)

    return _cached("mailer", build)


@lru_cache(maxsize=4)
def _office(url: str) -> Office:
    return Office(url, storage=product_storage())  # designs go to the store the workers read


def get_office() -> Office:
    """FastAPI dependency: the records (one Office per URL and process; the team file is re-read on change)."""
    return _office(records_url())


def get_mailer() -> Mailer:
    """FastAPI dependency: how the forms deliver the e-mails their actions queue."""
    return mailer()


def deliver_later(tasks: BackgroundTasks, office: Office, mail: Mailer, need_id: int) -> None:
    """Send the need's pending e-mails after the response, in the threadpool (never on the event loop)."""
    tasks.add_task(_deliver, office, mail, need_id)


def _deliver(office: Office, mail: Mailer, need_id: int) -> None:
    try:
        sent = office.deliver_pending(mail, need_id=need_id)
        log.info("Forms: %s mail(s) of need %s delivered through %s", sent, need_id, mail.description)
    except Exception:  # noqa: BLE001 - pending mails stay in the records and are retried by the run
        log.exception("Forms: delivering the mails of need %s failed", need_id)
