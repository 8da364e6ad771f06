"""Needs that could not start or cannot move: the cap on needs in flight, and a broker that does not answer.

A run over the DAG's ``max_active_runs`` (``CVP_MAX_ACTIVE_NEEDS``) waits in Airflow's queue before
activity 1 has created any record, so the forms would not know it exists. The api-server holds
Airflow's metadata database, so the forms ask it directly: three statements, whatever the number
of runs. Where the database cannot be read (or the DAG is not registered yet) the line is *unknown*
and said so in Spanish, rather than an error page or a bare null; the broker is checked all the same.

With the CeleryExecutor, a lost broker (Redis) stops every task from reaching a worker while Airflow
itself keeps answering; the forms ping it (bounded, cached a few seconds) and say so in Spanish.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends

from cvp.office import Office
from cvp_airflow.web.schemas import RefusedNeedOut, WaitingLineOut
from cvp_airflow.web.security import current_viewer
from cvp_airflow.web.services import get_office

log = logging.getLogger(__name__)
DAG_ID = "necesidad_comunicacion"


def _grace_seconds() -> int:
    """A run queued for less than this is just being scheduled, not held back."""
    return int(os.environ.get("CVP_QUEUE_GRACE_SECONDS", "30"))


@dataclass(frozen=True)
class WaitingLine:
    queued: int
    running: int
    limit: int
    oldest: datetime | None
    known = True

    @property
    def held_back(self) -> bool:
        """Runs are waiting because the office reached its cap, not merely on their way to start."""
        return self.queued > 0 and self.running >= self.limit

    @property
    def message(self) -> str:
        plural = "necesidad espera" if self.queued == 1 else "necesidades esperan"
        return (
            f"{self.queued} {plural} para empezar: hay {self.running} necesidades en curso y el máximo "
            f"configurado es {self.limit} (variable CVP_MAX_ACTIVE_NEEDS). Empezarán solas, en orden de "
            "llegada, a medida que otras terminen o se cancelen."
        )


UNREADABLE = (
    "No se pudo leer la base de datos de Airflow, así que no se sabe si hay necesidades esperando para "
    "empezar. Las necesidades ya registradas no se pierden. Si persiste, avise a soporte TIC."
)
UNREGISTERED = (
    "Airflow aún no ha registrado el flujo de las necesidades (necesidad_comunicacion), así que no se sabe "
    "cuántas pueden estar en curso. Suele resolverse solo en unos minutos; si persiste, avise a soporte TIC."
)


@dataclass(frozen=True)
class UnknownLine:
    """The line could not be read: nothing is known of it but why."""

    message: str
    known = False
    held_back = False
    queued = running = limit = oldest = None


def waiting_line(grace_seconds: int | None = None) -> WaitingLine | UnknownLine:
    """The queue in front of the communication-need DAG, or why it is unknown (three statements)."""
    try:
        from datetime import timedelta

        from airflow.models.dag import DagModel
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState
        from sqlalchemy import func, select

        grace = _grace_seconds() if grace_seconds is None else grace_seconds
        cutoff = datetime.now(UTC) - timedelta(seconds=grace)
        with create_session() as session:
            limit = session.scalar(select(DagModel.max_active_runs).where(DagModel.dag_id == DAG_ID))
            counts = dict(
                session.execute(
                    select(DagRun.state, func.count())
                    .where(DagRun.dag_id == DAG_ID, DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
                    .group_by(DagRun.state)
                ).all()
            )
            queued, oldest = session.execute(
                select(func.count(), func.min(DagRun.queued_at)).where(
                    DagRun.dag_id == DAG_ID, DagRun.state == DagRunState.QUEUED, DagRun.queued_at < cutoff
                )
            ).one()
    except Exception:  # noqa: BLE001 - the forms keep working without this notice
        log.warning("No se pudo leer la cola de necesidades en la base de Airflow", exc_info=True)
        return UnknownLine(UNREADABLE)
    if limit is None:
        return UnknownLine(UNREGISTERED)
    return WaitingLine(queued=queued or 0, running=counts.get(DagRunState.RUNNING, 0), limit=limit, oldest=oldest)


BROKER_TTL = 5.0
_broker_cache: dict[str, tuple[float, str | None]] = {}


def broker_problem(timeout: float = 1.0) -> str | None:
    """A Spanish sentence when the Celery broker does not answer; None when it does or there is none."""
    try:
        from airflow.configuration import conf

        if "celery" not in (conf.get("core", "executor", fallback="") or "").lower():
            return None
        url = conf.get("celery", "broker_url", fallback="") or ""
    except Exception:  # noqa: BLE001 - no Airflow configuration: nothing to say
        return None
    cached = _broker_cache.get(url)
    if cached and time.monotonic() - cached[0] < BROKER_TTL:
        return cached[1]
    problem = None
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else "sin dirección"
    try:
        if parts.scheme.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the same news for a person
        log.warning("El intermediario de tareas %s no responde: %s", where, type(exc).__name__)
        problem = (
            f"El intermediario de tareas (Redis, {where}) no responde: ninguna tarea llega a los "
            "trabajadores, así que las necesidades no avanzan ni se publican. Nada se pierde: las "
            "decisiones quedan registradas y todo sigue cuando vuelva. Avise a soporte TIC."
        )
    _broker_cache[url] = (time.monotonic(), problem)
    return problem


router = APIRouter(prefix="/api", tags=["Formularios CVP"], dependencies=[Depends(current_viewer)])


@router.get(
    "/solicitudes-rechazadas",
    response_model=list[RefusedNeedOut],
    summary="Necesidades que no se abrieron: quién las pidió, cuándo y por qué (las 20 más recientes)",
)
def refused_needs_api(office: Office = Depends(get_office)):
    return [
        RefusedNeedOut(ejecucion=r.run_id, solicitado_por=r.requested_by, titulo=r.title, motivo=r.reason, fecha=r.at)
        for r in office.refused_needs(20)
    ]


@router.get(
    "/cola",
    response_model=WaitingLineOut,
    summary="Necesidades que esperan para empezar por el máximo de necesidades en curso",
)
def waiting_line_api():
    line = waiting_line()
    return WaitingLineOut(
        conocida=line.known,
        en_cola=line.queued,
        en_curso=line.running,
        maximo=line.limit,
        desde=line.oldest,
        retenidas=line.held_back,
        mensaje=line.message if line.held_back or not line.known else None,
        intermediario=broker_problem(),
    )
