"""A need's run changed from Airflow itself (marked failed or successful): written into the records.

Anyone allowed by Airflow may mark a run failed or successful from its UI or REST API; the procedure's
records must then say what happened to the need and who did it (Ley 1712), instead of showing it in
progress forever. Airflow's api-server fires these listener hooks when a person patches a run's state;
the person is the one Airflow's own action log names for that run a moment before. Registered only in
the api-server (cvp_plugin.py): elsewhere the scheduler's own state changes are the procedure's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)
DAG_ID = "necesidad_comunicacion"


def _who_changed(dag_id: str, run_id: str) -> str:
    """The user Airflow's action log names for the latest request on this run (it is written first)."""
    try:
        from airflow.models.log import Log
        from airflow.utils.session import create_session
        from sqlalchemy import select

        since = datetime.now(UTC) - timedelta(minutes=5)
        with create_session() as session:
            owner = session.scalar(
                select(Log.owner)
                .where(Log.dag_id == dag_id, Log.run_id == run_id, Log.owner.is_not(None), Log.dttm >= since)
                .order_by(Log.id.desc())
                .limit(1)
            )
    except Exception:  # noqa: BLE001 - the change is still recorded, without a name
        log.warning("No se pudo leer quién cambió la ejecución %s en el registro de Airflow", run_id, exc_info=True)
        owner = None
    return owner or "Airflow"


class RunChanges:
    """Listener object (pluggy hook implementations) for the communication-need DAG's runs."""

    @hookimpl
    def on_dag_run_failed(self, dag_run, msg: str):
        self._record(dag_run, "failed")

    @hookimpl
    def on_dag_run_success(self, dag_run, msg: str):
        self._record(dag_run, "success")

    @staticmethod
    def _record(dag_run, outcome: str) -> None:
        if getattr(dag_run, "dag_id", None) != DAG_ID:
            return
        try:
            from cvp_airflow.hooks import RecordsHook

            actor = _who_changed(dag_run.dag_id, dag_run.run_id)
            need = RecordsHook().office().record_run_change(dag_run.run_id, outcome, actor)
            if need is not None:
                log.info("Necesidad %s: %s cambió su ejecución a %s desde Airflow", need.id, actor, outcome)
        except Exception:  # noqa: BLE001 - never break Airflow's own request
            log.exception("No se pudo registrar el cambio de la ejecución %s en los registros", dag_run.run_id)


listener = RunChanges()
