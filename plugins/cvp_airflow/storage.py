"""The product's store on Airflow's side: ``CVP_STORAGE_URL`` through Airflow's ``ObjectStoragePath``.

With ``CVP_STORAGE_CONN_ID`` (e.g. ``google_cloud_default`` for ``gs://bucket/prefix``) the
filesystem is built from that Airflow Connection, so no credential lives in the product's settings.
Every Office, mailbox, outbox, report and Instagram public storage built in this process uses the
one :class:`~cvp.storage.Storage` returned here, cached per process and per setting.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from cvp.storage import Storage

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _storage(url: str, conn_id: str | None) -> Storage:
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(url, conn_id=conn_id)
    storage = Storage(root)
    log.info("Almacenamiento de archivos: %s%s", storage.description, f" (conexión «{conn_id}»)" if conn_id else "")
    return storage


def product_storage(cfg=None) -> Storage:
    """The store of every file the product keeps (read from the environment now, built once per value)."""
    from cvp.config import settings

    cfg = cfg or settings()
    return _storage(cfg.storage_base_url, cfg.storage_conn_id)


def outbox() -> Storage:
    return product_storage().child("salida")


def mailbox() -> Storage:
    return product_storage().child("buzon")
