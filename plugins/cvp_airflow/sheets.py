"""Optional: the period report's tables written to a Google Sheet, for offices that report in Sheets.

When the Variable ``cvp_informes_hoja`` (or the environment variable ``CVP_INFORMES_HOJA``) names a
spreadsheet id, each report built by the metrics DAG writes the Tablero's tables there through the Google
provider's :class:`GSheetsHook` (connection ``CVP_SHEETS_CONN_ID``, default ``google_cloud_default``):
one tab per kind of report and table ("Semanal - Resumen"...), created when missing, cleared and
written whole, the period on its first row. The tabs hold the latest report of each kind; the report
files in the store keep every period. A failure is logged and reported by the task, never losing the
report itself, which is already kept and mailed.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import date, datetime
from typing import Any

log = logging.getLogger(__name__)

VARIABLE = "cvp_informes_hoja"
ENV = "CVP_INFORMES_HOJA"
CONN_ENV = "CVP_SHEETS_CONN_ID"
DEFAULT_CONN_ID = "google_cloud_default"
KIND_TABS = {"semanal": "Semanal", "mensual": "Mensual", "mes_en_curso": "Mes en curso", "periodo": "Periodo"}


def configured_spreadsheet() -> str | None:
    """The spreadsheet id, if the office configured one (the environment first, then the Variable)."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return value
    from airflow.sdk import Variable

    try:
        return (Variable.get(VARIABLE, default=None) or "").strip() or None
    except Exception as exc:  # noqa: BLE001 - no Variable backend (tests, CLI): the export is simply off
        log.info("Sin la Variable %s (%s): no se escribe la hoja de cálculo.", VARIABLE, type(exc).__name__)
        return None


def make_hook(conn_id: str | None = None):
    from airflow.providers.google.suite.hooks.sheets import GSheetsHook

    return GSheetsHook(gcp_conn_id=conn_id or os.environ.get(CONN_ENV) or DEFAULT_CONN_ID)


def _value(v: Any) -> Any:
    """A cell as the Sheets API takes it in JSON: numbers stay numbers, missing stays empty (never 0)."""
    if v is None:
        return ""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return ""
    if isinstance(v, bool):
        return "sí" if v else "no"
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, int | float):
        return v
    text = str(v)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # RAW input, but a copy-paste stays text


def tab_title(kind: str, key: str) -> str:
    from cvp.dashboard_tables import SHEET_NAMES

    return f"{KIND_TABS.get(kind, kind)} - {SHEET_NAMES[key]}"


def export_tables(hook, spreadsheet_id: str, kind: str, period_text: str, tables: dict) -> list[str]:
    """Write each table to its tab (created when missing); returns the tabs written.

    Three calls whatever the number of tables: add the missing tabs (``spreadsheets.batchUpdate``), clear
    the tabs (``values:batchClear``), write them (``values:batchUpdate``).
    """
    titles = [tab_title(kind, key) for key in tables]
    existing = set(hook.get_sheet_titles(spreadsheet_id=spreadsheet_id))
    missing = [t for t in titles if t not in existing]
    if missing:
        body = {"requests": [{"addSheet": {"properties": {"title": t}}} for t in missing]}
        hook.get_conn().spreadsheets().batchUpdate(spreadsheetId=spreadsheet_id, body=body).execute(
            num_retries=hook.num_retries
        )
    ranges = [f"'{t}'" for t in titles]
    hook.batch_clear(spreadsheet_id=spreadsheet_id, ranges=ranges)
    values = []
    for frame in tables.values():
        rows = [[period_text], [str(c) for c in frame.columns]]
        rows += [[_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        values.append(rows)
    hook.batch_update_values(
        spreadsheet_id=spreadsheet_id,
        ranges=[f"{r}!A1" for r in ranges],
        values=values,
        value_input_option="RAW",
    )
    return titles


def export_report(office, report, *, spreadsheet_id: str | None = None, hook=None) -> dict:
    """The report's period as Tablero tables into the configured sheet; ``{}`` when none is configured."""
    spreadsheet_id = spreadsheet_id or configured_spreadsheet()
    if not spreadsheet_id:
        return {}
    from cvp import dashboard
    from cvp.dashboard_tables import describe_period

    with office.session() as s:
        board = dashboard.build(s, dashboard.Period(report.period_start, report.period_end))
    period_text = "; ".join(f"{k}: {v}" for k, v in describe_period(board))
    try:
        tabs = export_tables(hook or make_hook(), spreadsheet_id, report.kind, period_text, board.tables())
    except Exception as exc:  # noqa: BLE001 - the report is kept and mailed; the sheet is an extra copy
        log.warning("No se pudo escribir el informe %s en la hoja de cálculo %s: %s", report.id, spreadsheet_id, exc)
        return {"hoja": spreadsheet_id, "error": f"{type(exc).__name__}: {exc}"[:500]}
    log.info("Informe %s escrito en la hoja de cálculo %s (%s pestañas)", report.id, spreadsheet_id, len(tabs))
    return {"hoja": spreadsheet_id, "pestanas": tabs}
