"""Bodies of the Red Distrital's joint-action tasks: read the agenda, amplify the joined, open the adapted, sum up.

Each is idempotent (Airflow may run a task twice): the agenda's actions have a unique key, the posts
go through the amplification ledger, an adapted action's need run has a fixed id, and the summary
mail is recorded once per day.

Where the agenda comes from, first found wins:
1. ``CVP_RED_AGENDA``: a CSV or JSON file (a path the workers can read);
2. ``CVP_RED_AGENDA_HOJA``: a Google Sheet's id, read through the Google provider's ``GSheetsHook``
   (connection ``CVP_RED_AGENDA_SHEETS_CONN_ID``, default ``google_cloud_default``), range
   ``CVP_RED_AGENDA_RANGO`` (default ``A1:H500`` of the first tab), the header on the first row;
3. the HTTP connection ``red_distrital_agenda`` (``CVP_RED_AGENDA_CONN_ID``): JSON with ``acciones``,
   or the answer of the Google Sheets API ``values.get`` (host ``sheets.googleapis.com``, schema
   ``/v4/spreadsheets/<id>/values/<rango>``, the API key in ``key`` of the extra, or an OAuth token as
   the password);
4. the sample agenda shipped in ``include/ejemplos/red_distrital_agenda.csv``, dated with the run's day.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cvp_airflow.hooks import RecordsHook

log = logging.getLogger(__name__)

AGENDA_FILE_SETTING = "CVP_RED_AGENDA"
AGENDA_CONN_SETTING = "CVP_RED_AGENDA_CONN_ID"
SHEET_SETTING, RANGE_SETTING, SHEETS_CONN_SETTING = (
    "CVP_RED_AGENDA_HOJA",
    "CVP_RED_AGENDA_RANGO",
    "CVP_RED_AGENDA_SHEETS_CONN_ID",
)
NEED_DAG_ID = "necesidad_comunicacion"


def run_day(context: dict[str, Any]) -> date:
    """The Bogotá day a run works on: its data interval's end, its logical date, or today."""
    from cvp.config import bogota_date

    moment = context.get("data_interval_end") or context.get("logical_date") or datetime.now(UTC)
    return bogota_date(moment)


def sample_agenda() -> Path:
    """The sample shipped beside the templates (include/ejemplos), wherever the deployment put include/."""
    from cvp.config import settings

    return settings().templates_dir.parent / "ejemplos" / "red_distrital_agenda.csv"


def _office():
    return RecordsHook().office()


def sheet_agenda(spreadsheet_id: str, range_: str, hook=None):
    """The agenda from a Google Sheet (``spreadsheets.values.get``), validated like any other source."""
    from airflow.sdk.exceptions import AirflowException

    from cvp import joint_actions as J

    if hook is None:
        from airflow.providers.google.suite.hooks.sheets import GSheetsHook

        hook = GSheetsHook(gcp_conn_id=os.environ.get(SHEETS_CONN_SETTING) or "google_cloud_default")
    try:
        values = hook.get_values(spreadsheet_id, range_, major_dimension="ROWS")
    except Exception as exc:  # noqa: BLE001 - googleapiclient's HttpError, transport errors: Airflow retries
        raise AirflowException(
            f"No se pudo leer la hoja de cálculo de la agenda ({spreadsheet_id}, {range_}): {exc}. Se reintentará."
        ) from exc
    return J.parse_sheet_values({"values": values})


def _agenda(day: date, sheets_hook=None):
    """(agenda, source) from the first configured source (see the module's docstring)."""
    from cvp import joint_actions as J
    from cvp_airflow.channels import connection_extra, lookup_connection

    path = (os.environ.get(AGENDA_FILE_SETTING) or "").strip()
    if path:
        return J.read_file(Path(path)), path
    sheet = (os.environ.get(SHEET_SETTING) or "").strip()
    if sheet:
        range_ = (os.environ.get(RANGE_SETTING) or "").strip() or "A1:H500"
        return sheet_agenda(sheet, range_, sheets_hook), f"hoja de cálculo {sheet} ({range_})"
    conn = lookup_connection(os.environ.get(AGENDA_CONN_SETTING, "red_distrital_agenda"))
    if conn is not None:
        from cvp import red_distrital

        host = conn.host if conn.host.startswith("http") else f"https://{conn.host}"
        url = host.rstrip("/") + ("/" + conn.schema.lstrip("/") if conn.schema else "")
        extra = connection_extra(conn)
        if extra.get("key"):
            url += ("&" if "?" in url else "?") + "key=" + str(extra["key"])
        payload = red_distrital.fetch_feed(url, token=conn.password or "")
        source = url.split("?", 1)[0]
        if isinstance(payload, dict) and ("values" in payload or "range" in payload):
            return J.parse_sheet_values(payload), source
        return J.parse_json(payload), source
    return J.read_sample(sample_agenda(), day), "agenda de ejemplo (include/ejemplos/red_distrital_agenda.csv)"


def read_agenda(context: dict[str, Any], *, sheets_hook=None) -> dict:
    """Record the day's joint actions once; every refused row is logged with its line and reason."""
    from cvp import joint_actions as J

    day = run_day(context)
    agenda, source = _agenda(day, sheets_hook)
    result = J.record_agenda(_office(), agenda, day, source)
    for problem in result.problems:
        log.warning("Agenda de la Red Distrital (%s): %s", source, problem)
    log.info(
        "Agenda de la Red Distrital (%s): %s acciones nuevas, %s ya registradas, %s filas rechazadas",
        source,
        len(result.created),
        result.existing,
        len(result.problems),
    )
    return {
        "fuente": source,
        "creadas": len(result.created),
        "ya_registradas": result.existing,
        "filas_rechazadas": [str(p) for p in result.problems],
    }


def amplify(context: dict[str, Any], *, publisher_for=None) -> dict:
    """Post every joined action of the day once per channel; failures are reported after trying the rest."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from cvp import joint_amplification as A
    from cvp.publishers.amplify import amplifier_for
    from cvp_airflow.storage import outbox

    if publisher_for is None:
        from cvp_airflow.channels import publisher_for
    publishers: dict[str, object] = {}

    def amplifier(action_id: int, channel: str):
        if channel not in publishers:
            publishers[channel] = publisher_for(channel)
        return amplifier_for(publishers[channel], channel, action_id, outbox())

    out = A.amplify_day(_office(), amplifier, run_day(context))
    done = [{"accion": p.action_id, "canal": p.channel, "estado": p.state, "url": p.url} for p in out.posted]
    if out.errors:
        message = "No se publicaron todas las acciones conjuntas: " + " | ".join(
            getattr(e, "message", str(e)) for e in out.errors
        )
        if out.retryable:
            raise AirflowException(message + " Se reintentará (lo ya publicado no se repite).")
        raise AirflowFailException(message)
    return {"publicadas": done}


def adapted_runs(context: dict[str, Any]) -> list[dict]:
    """The one-off need run of each adapted action: its fixed run id and its trigger form, filled in."""
    from cvp import joint_actions as J

    office = _office()
    runs = []
    for view in J.actions_of_day(office, run_day(context)):
        if view.status != J.ADAPT:
            continue
        run_id = J.need_run_id(view.action)
        J.record_need_run(office, view.action.id, run_id)
        runs.append({"trigger_run_id": run_id, "conf": J.need_conf(view.action)})
    log.info("Acciones conjuntas adaptadas: %s necesidades por abrir", len(runs))
    return runs


def open_need(run: dict) -> None:
    """Open the adapted action's need run, once: Airflow refuses a second run with the same id (task skipped).

    Raised as the signal TriggerDagRunOperator itself raises, so that the DAG file needs no operator import.
    """
    from airflow.sdk.exceptions import DagRunTriggerException

    log.info("Abriendo la necesidad de la acción adaptada: ejecución %s", run["trigger_run_id"])
    raise DagRunTriggerException(
        trigger_dag_id=NEED_DAG_ID,
        dag_run_id=run["trigger_run_id"],
        conf=run["conf"],
        logical_date=None,
        run_after=datetime.now(UTC),
        reset_dag_run=False,
        skip_when_already_exists=True,
        wait_for_completion=False,
        allowed_states=["success"],
        failed_states=["failed"],
        poke_interval=60,
        deferrable=False,
        note="Acción conjunta de la Red Distrital adaptada por la Jefe OAC",
    )


def summary(context: dict[str, Any]) -> dict:
    from cvp import joint_summary

    office = _office()
    day = run_day(context)
    sent = joint_summary.send_summary(office, office.mailer, day)
    r = joint_summary.day_summary(office, day)
    return {
        "dia": day.isoformat(),
        "unidas": len(r.joined),
        "adaptadas": len(r.adapted),
        "declinadas": len(r.declined),
        "sin_decision": len(r.waiting),
        "correo_enviado": sent,
    }
