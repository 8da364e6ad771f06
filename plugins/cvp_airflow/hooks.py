"""Hooks: the records database and the institutional mail, each from an Airflow Connection.

The channels' platforms have a hook each in :mod:`cvp_airflow.platforms` (connection types ``cvp_x``...).

Nothing here is read at import time; every lookup happens when a task or trigger runs.
"""

from __future__ import annotations

import json
import logging
import os

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

log = logging.getLogger(__name__)

RECORDS_CONN_ID = "cvp_records"


def records_url_from_connection(conn) -> str:
    """SQLAlchemy URL for a 'sqlite' or 'postgres' connection; extra 'sqlalchemy_url' overrides both."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    if extra.get("sqlalchemy_url"):
        return extra["sqlalchemy_url"]
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or "127.0.0.1",
            port=conn.port or 5432,
            database=conn.schema or "cvp",
        ).render_as_string(hide_password=False)
    raise ValueError(f"La conexión de registros «{conn.conn_id}» es de tipo {conn.conn_type!r}; use sqlite o postgres.")


def _default_records_url() -> str:
    from cvp.config import settings

    return settings().default_records_url


class RecordsHook(BaseHook):
    """The records database of the procedure (separate from Airflow's metadata database)."""

    conn_name_attr = "records_conn_id"
    default_conn_name = RECORDS_CONN_ID
    conn_type = "sqlite"
    hook_name = "Registros CVP"

    def __init__(self, records_conn_id: str = RECORDS_CONN_ID):
        super().__init__()
        self.records_conn_id = records_conn_id

    def get_url(self) -> str:
        try:
            return records_url_from_connection(self.get_connection(self.records_conn_id))
        except AirflowNotFoundException:
            log.info("No connection %s: using the embedded records database", self.records_conn_id)
            return _default_records_url()

    async def aget_url(self) -> str:
        try:
            return records_url_from_connection(await self.aget_connection(self.records_conn_id))
        except AirflowNotFoundException:
            return _default_records_url()

    def office(self, *, with_mailer: bool = True):
        from cvp.office import Office
        from cvp_airflow.storage import product_storage

        return Office(self.get_url(), mailer=mailer() if with_mailer else None, storage=product_storage())


def mailer():
    """Mail transport from Airflow's SMTP connection; without one, the mailbox (``buzon/``) of the product's store."""
    from cvp.mail import MailboxMailer, smtp_mailer
    from cvp_airflow.storage import mailbox

    conn_id = os.environ.get("CVP_SMTP_CONN_ID", "smtp_default")
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return MailboxMailer(mailbox())
    return smtp_mailer(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)
