"""Bodies of the DAG's tasks: each one calls the domain and delivers the mails it queued.

Every step is idempotent, because Airflow may run a task more than once.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from cvp_airflow.hooks import RecordsHook

log = logging.getLogger(__name__)


def _office():
    return RecordsHook().office()


def _need(office, context: dict[str, Any]):
    return office.need_by_run(context["run_id"])


def identify_need(context: dict[str, Any]) -> str:
    """Activity 1: record the need; branch on whether it is a one-off action (→ 5) or not (→ 2)."""
    from airflow.sdk.exceptions import AirflowFailException

    from cvp import channel_health
    from cvp import procedure as P
    from cvp.errors import InvalidInput, PermissionDenied
    from cvp.needs import parse_need
    from cvp_airflow.channels import connection_status

    office = _office()
    dag_run = context["dag_run"]
    actor = getattr(dag_run, "triggering_user_name", None) or "sistema"
    try:
        # Who asks is checked before what is asked; a refusal is recorded and is final (no retry helps).
        office.check_opener(actor, context["run_id"], dict(context["params"]))
        data = parse_need(dict(context["params"]))
    except (PermissionDenied, InvalidInput) as exc:
        raise AirflowFailException(str(exc)) from None
    status = connection_status(data.channels)
    missing = [c for c, conn in status.items() if conn is None and c not in P.OUTBOX_CHANNELS]
    if missing and os.environ.get("CVP_REQUIRE_CONNECTIONS", "0") == "1":
        raise AirflowFailException(
            "Faltan las conexiones de Airflow de: "
            + ", ".join(P.CHANNELS[c] for c in missing)
            + ". Créelas (Administración → Conexiones) o quite esos canales, y vuelva a disparar la necesidad."
        )
    need = office.register_need(data, actor, run_id=context["run_id"])
    with office.session() as s:  # the daily check's last answer: a broken channel is said today, not at 14
        broken = channel_health.broken_among(s, [c for c, conn in status.items() if conn])
    routes = "; ".join(
        f"{P.CHANNELS[c]}: "
        + (f"conexión «{conn}»" if conn else "bandeja de salida local")
        + (f" — AVISO: la conexión no funciona ({broken[c].removeprefix('roto: ').rstrip('.')})" if c in broken else "")
        for c, conn in status.items()
    )
    office.record_event(
        need.id,
        1,
        "canales_verificados",
        P.SYSTEM,
        f"Canales verificados al disparar. {routes}.",
        conexiones=status,
        conexiones_rotas=broken,
    )
    if broken:
        log.warning("Need %s: broken connections for %s", need.id, sorted(broken))
    if missing:
        log.warning("Need %s: no connection for %s; those pieces go to the local outbox", need.id, missing)
    log.info("Need %s registered for run %s (one-off: %s)", need.id, context["run_id"], need.one_off)
    return "producir_contenidos" if need.one_off else "reunion_equipo"


def request_red_distrital(context: dict[str, Any]) -> None:
    office = _office()
    need = _need(office, context)
    office.request_red_distrital(need.id)
    office.deliver_pending(need_id=need.id)


def present(context: dict[str, Any], kind: str) -> int:
    """Activities 6 and 11: the first revision goes to the head by institutional e-mail."""
    office = _office()
    need = _need(office, context)
    rev = office.present_first(need.id, kind)
    office.deliver_pending(need_id=need.id)
    return rev.number


def hand_off_to_technician(context: dict[str, Any]) -> None:
    office = _office()
    need = _need(office, context)
    office.hand_off_to_technician(need.id)
    office.deliver_pending(need_id=need.id)


def deliver_final(context: dict[str, Any]) -> list[str]:
    """Activity 13; returns the channels to publish on (one mapped task each)."""
    office = _office()
    need = _need(office, context)
    final = office.deliver_final(need.id)
    office.deliver_pending(need_id=need.id)
    log.info("Pieza definitiva de la necesidad %s: %s", need.id, office.storage.uri(final))
    return list(need.channels)


RATE_LIMIT_MAX_WAIT = float(os.environ.get("CVP_RATE_LIMIT_MAX_WAIT", "300"))


def publish(channel: str, context: dict[str, Any], *, sleep=time.sleep) -> dict:
    """Activity 14 on one channel, through the ledger: never twice.

    A rate limit whose reset is near is waited for in the task; a later one, or a transient
    failure, goes back to Airflow's retries (nothing was posted, so resending is safe).
    """
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from cvp import publishing
    from cvp.errors import Conflict
    from cvp.publishers.base import AuthError, MediaRejected, RateLimited
    from cvp_airflow.channels import publisher_for

    office = _office()
    need = _need(office, context)
    for attempt in (1, 2):
        try:
            row = publishing.publish_once(office, publisher_for(channel), need.id, channel)
            break
        except (publishing.Unconfirmed, AuthError, MediaRejected) as exc:
            # A person must act: retrying would not help (or could post twice).
            raise AirflowFailException(exc.message) from None
        except Conflict as exc:  # e.g. the need was cancelled while the media were uploading
            raise AirflowFailException(str(exc)) from None
        except RateLimited as exc:
            wait = (exc.reset_at - datetime.now(UTC)).total_seconds() if exc.reset_at else None
            if attempt == 1 and wait is not None and 0 <= wait <= RATE_LIMIT_MAX_WAIT:
                log.warning("Rate limited on %s: waiting %.0f s for the announced reset", channel, wait)
                sleep(wait + 1)
                continue
            when = f" hasta {exc.reset_at.isoformat()}" if exc.reset_at else ""
            raise AirflowException(f"{exc.message} Límite de la plataforma{when}: se reintentará.") from None
    office.deliver_pending(need_id=need.id)
    return {"canal": channel, "estado": row.state, "url": row.url}


def log_metrics(context: dict[str, Any]) -> dict:
    """Activity 14's last step; it runs whatever happened before, so a run refused at activity 1 reaches it."""
    from airflow.sdk.exceptions import AirflowFailException

    from cvp import metrics
    from cvp.errors import NotFound

    office = _office()
    try:
        need = _need(office, context)
    except NotFound:
        # Refused at activity 1 (or it never ran): no need, so nothing to measure. Failed at once, without
        # retries (they cannot find a need either); not skipped, which would let the run end "success".
        raise AirflowFailException(
            "Esta ejecución no abrió ninguna necesidad (actividad 1): no hay publicaciones cuyas métricas registrar."
        ) from None
    data = metrics.log_metrics(office, need.id)
    office.deliver_pending(need_id=need.id)
    return data


def red_receive(context: dict[str, Any]) -> int:
    """Daily: what the Red Distrital asks to replicate (HTTP connection `red_distrital_feed`, optional)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from cvp import red_distrital

    try:
        conn = BaseHook.get_connection(os.environ.get("CVP_RED_FEED_CONN_ID", "red_distrital_feed"))
    except AirflowNotFoundException:
        log.info("No Red Distrital feed connection: nothing to receive today")
        return 0
    url = conn.host if conn.host.startswith("http") else f"https://{conn.host}"
    url = url.rstrip("/") + ("/" + conn.schema.lstrip("/") if conn.schema else "")
    payload = red_distrital.fetch_feed(url, token=conn.password or "")
    items, problems = red_distrital.parse_feed(payload)
    for problem in problems:
        log.warning("Red Distrital feed: %s", problem)
    office = _office()
    new = red_distrital.receive(office, items, office.mailer, _day(context))
    return len(new)


def red_send(context: dict[str, Any]) -> int:
    from cvp import red_distrital

    office = _office()
    return red_distrital.send_digest(office, office.mailer, _day(context))


def _day(context: dict[str, Any]):
    from cvp.config import bogota_date

    moment = context.get("data_interval_end") or context.get("logical_date") or datetime.now(UTC)
    return bogota_date(moment)
