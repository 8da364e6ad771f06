"""The engagement DAG's task bodies, and the metric collectors built from the platforms' hooks.

Each collector comes from its platform's hook (:mod:`cvp_airflow.platforms`), the same that builds the
publisher, so one Connection per platform serves both DAGs and is read in one place. A platform
without its connection is skipped (logged); client libraries are imported only when a collector is
built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

#: Posts published in the last 35 days are read every day: on the 1st, the whole previous month.
COLLECT_WINDOW_DAYS = 35


def conn_ids() -> dict[str, str]:
    """Each platform's connection id: the publishers' own."""
    from cvp import procedure as P
    from cvp_airflow.platforms import conn_id_for

    return {ch: conn_id_for(ch) for ch in P.PLATFORM_CHANNELS}


def _airflow_connection(conn_id: str):
    from cvp_airflow.channels import lookup_connection

    return lookup_connection(conn_id)


def collectors(
    ids: Mapping[str, str] | None = None, *, get_connection: Callable[[str], Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The collectors of the platforms that have a Connection, and the problems of those that could not be built.

    A missing connection is not a problem: that channel is simply not read. A connection that
    exists but cannot give a collector (no token, bad credentials file) is reported by channel.
    """
    from cvp import procedure as P
    from cvp_airflow.platforms import HOOKS

    get_connection = get_connection or _airflow_connection
    built, problems = {}, {}
    for channel, conn_id in (ids or conn_ids()).items():
        label = P.CHANNELS.get(channel, channel)
        conn = get_connection(conn_id)
        if conn is None:
            log.info("Sin la conexión de Airflow '%s': no se leen métricas de %s.", conn_id, label)
            continue
        try:
            built[channel] = HOOKS[channel](conn_id, connection=conn).collector()
        except Exception as exc:  # noqa: BLE001 - one bad connection must not stop the other channels
            message = getattr(exc, "message", None) or (
                f"La conexión de Airflow '{conn_id}' no permite leer métricas de {label} ({type(exc).__name__})."
            )
            problems[channel] = message
            log.warning("No se pudo preparar la lectura de métricas de %s: %s", label, message)
    return built, problems


# --------------------------------------------------------------------------------------------
# Task bodies of dags/metricas_interaccion.py
# --------------------------------------------------------------------------------------------


def run_day(context: Mapping[str, Any]) -> date:
    """The Bogotá day a run stands for: its logical date (the 20:00 it was due, or the day a person chose
    when triggering by hand), else when it was triggered; never when a worker got to it."""
    from cvp.config import bogota_date

    dag_run = context.get("dag_run")
    when = context.get("logical_date") or getattr(dag_run, "run_after", None) or datetime.now(UTC)
    return bogota_date(when)


def _office():
    from cvp_airflow.hooks import RecordsHook

    return RecordsHook().office(with_mailer=False)


def collect_engagement(context: Mapping[str, Any]) -> dict:
    """Read every configured platform; fail (after storing the rest) if a platform could not be read.

    A retry reads only the posts this run has not read yet.
    """
    from airflow.sdk.exceptions import AirflowException

    from cvp import engagement
    from cvp import procedure as P
    from cvp.config import bogota_day_start

    day = run_day(context)
    since = bogota_day_start(day - timedelta(days=COLLECT_WINDOW_DAYS))
    built, problems = collectors()
    if not built and not problems:
        log.info("Ninguna plataforma tiene conexión en Airflow: no hay métricas que leer hoy.")
    started = getattr(context.get("dag_run"), "start_date", None)
    result = engagement.collect(_office(), built, since, fresh_since=started)
    failures = {**problems, **result.failures}
    summary = {
        "lecturas": int(result),
        "canales": sorted(built),
        "sin_lector": list(result.skipped),
        "fallas": failures,
    }
    if failures:
        detail = "; ".join(f"{P.CHANNELS.get(c, c)}: {m.rstrip('.')}" for c, m in sorted(failures.items()))
        raise AirflowException(
            f"No se pudieron leer las métricas de {len(failures)} canal(es): {detail} "
            f"(se registraron {int(result)} lecturas de los demás canales)."
        )
    return summary


def build_reports(context: Mapping[str, Any]) -> list[dict]:
    """The reports due on the run's day (see :func:`cvp.reports.periods_for`), into ``informes/`` of the store;
    also into a Google Sheet when one is configured (:mod:`cvp_airflow.sheets`)."""
    from cvp import reports
    from cvp_airflow import sheets

    office = _office()
    built = []
    for period in reports.periods_for(run_day(context)):
        row = reports.build_report(office, period.start, period.end, kind=period.kind)
        built.append(
            {
                "id": row.id,
                "tipo": row.kind,
                "inicio": row.period_start.isoformat(),
                "fin": row.period_end.isoformat(),
                "archivos": list(row.files),
                **sheets.export_report(office, row),
            }
        )
    return built


def send_reports(built: list[dict]) -> list[int]:
    """Mail each closed-period report to the head of the OAC, once per report."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from cvp import reports
    from cvp.errors import InvalidInput
    from cvp_airflow.hooks import mailer

    due = [r for r in built or [] if r["tipo"] in reports.MAILED_KINDS]
    if not due:
        raise AirflowSkipException(
            "Hoy no cierra ninguna semana ni ningún mes: el informe del mes en curso queda "
            "en la carpeta de informes, sin correo."
        )
    office, transport = _office(), mailer()
    sent = []
    for r in due:
        try:
            if reports.send_report(office, r["id"], transport):
                sent.append(r["id"])
        except InvalidInput as exc:  # no address for the head: a person must fix the team file
            raise AirflowFailException(exc.message) from None
    return sent
