"""Needs that could not start: runs of ``necesidad_comunicacion`` queued behind the cap on needs in flight.

A run over the DAG's ``max_active_runs`` (``CVP_MAX_ACTIVE_NEEDS``) waits in Airflow's queue before
activity 1 has created any record, so the forms would not know it exists. The api-server holds
Airflow's metadata database, so the forms ask it directly: two aggregate queries, whatever the
number of runs, and no answer (rather than an error page) where the database cannot be read.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from cvp_airflow.web.security import current_viewer

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

    @property
    def held_back(self) -> bool:
        """Runs are waiting because the office reached its cap, not merely on their way to start."""
        return self.queued > 0 and self.running >= self.limit

    @property
    def message(self) -> str:
        plural = "necesidad espera" if self.queued == 1 else "necesidades esperan"
        return (f"{self.queued} {plural} para empezar: hay {self.running} necesidades en curso y el máximo "
                f"configurado es {self.limit} (variable CVP_MAX_ACTIVE_NEEDS). Empezarán solas, en orden de "
                "llegada, a medida que otras terminen o se cancelen.")


def waiting_line(grace_seconds: int | None = None) -> WaitingLine | None:
    """The queue in front of the communication-need DAG; None where Airflow's database is not at hand."""
    try:
        from datetime import timedelta, timezone

        from sqlalchemy import func, select

        from airflow.models.dag import DagModel
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState

        grace = _grace_seconds() if grace_seconds is None else grace_seconds
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=grace)
        with create_session() as session:
            limit = session.scalar(select(DagModel.max_active_runs).where(DagModel.dag_id == DAG_ID))
            counts = dict(session.execute(
                select(DagRun.state, func.count()).where(DagRun.dag_id == DAG_ID,
                                                         DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
                .group_by(DagRun.state)).all())
            queued, oldest = session.execute(
                select(func.count(), func.min(DagRun.queued_at)).where(
                    DagRun.dag_id == DAG_ID, DagRun.state == DagRunState.QUEUED, DagRun.queued_at < cutoff)).one()
    except Exception:  # noqa: BLE001 - the forms keep working without this notice
        log.warning("No se pudo leer la cola de necesidades en la base de Airflow", exc_info=True)
        return None
    if limit is None:
        return None
    return WaitingLine(queued=queued or 0, running=counts.get(DagRunState.RUNNING, 0), limit=limit, oldest=oldest)


class WaitingLineOut(BaseModel):
    en_cola: int = Field(description="Necesidades disparadas que aún no empiezan (en cola más de CVP_QUEUE_GRACE_SECONDS)")
    en_curso: int = Field(description="Ejecuciones de necesidades en curso en Airflow")
    maximo: int = Field(description="Máximo de necesidades en curso (CVP_MAX_ACTIVE_NEEDS)")
    desde: datetime | None = Field(description="Desde cuándo espera la más antigua")
    retenidas: bool = Field(description="Si esperan porque se alcanzó el máximo")
    mensaje: str | None = None


router = APIRouter(prefix="/api", tags=["Formularios CVP"], dependencies=[Depends(current_viewer)])


@router.get("/cola", response_model=WaitingLineOut | None,
            summary="Necesidades que esperan para empezar por el máximo de necesidades en curso")
def waiting_line_api():
    line = waiting_line()
    if line is None:
        return None
    return WaitingLineOut(en_cola=line.queued, en_curso=line.running, maximo=line.limit, desde=line.oldest,
                          retenidas=line.held_back, mensaje=line.message if line.held_back else None)
