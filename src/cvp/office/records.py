"""The records session and the audit trail: the transaction every act writes in, and what it looks up there.

An act opens one transaction (``session``), finds and if need be locks its need, checks where the need
stands, and appends its event to the need's trail, all in that transaction. The office's acts, the
publication ledger, the metrics and the pages share these methods, so a need is found, locked and
written about the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cvp import state as S
from cvp.errors import NotFound
from cvp.records.db import engine_for
from cvp.records.models import Event, Need, Revision, keep_engagement_days, utcnow


def no_such_need(need_id: int) -> NotFound:
    return NotFound(f"No existe la necesidad de comunicación n.º {need_id}.")


class Records:
    """One records database: its transactions, its needs and revisions, and the audit trail of each need."""

    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        S.keep_current(self.sessions)  # where each need stands is stored with every act (cvp.state)
        keep_engagement_days(self.sessions)  # the Tablero's engagement by day, kept with each snapshot

    def now(self) -> datetime:
        """The instant the records are written at (one clock for every act of the office)."""
        return utcnow()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.sessions() as s, s.begin():
            yield s

    def need(self, s: Session, need_id: int, *, for_update: bool = False) -> Need:
        """The need, or NotFound; ``for_update`` locks its row until the transaction ends (acts that change it)."""
        q = select(Need).where(Need.id == need_id)
        if for_update:
            q = q.with_for_update()
        need = s.scalar(q)
        if need is None:
            raise no_such_need(need_id)
        return need

    def need_of_run(self, s: Session, run_id: str, *, for_update: bool = False) -> Need | None:
        """The need an Airflow run registered at activity 1, if any."""
        q = select(Need).where(Need.run_id == run_id)
        if for_update:
            q = q.with_for_update()
        return s.scalar(q)

    def current(self, s: Session, need_id: int, kind: str) -> Revision | None:
        """The need's latest revision of ``kind`` (text or design): the one under review or decided last."""
        return s.scalar(
            select(Revision)
            .where(Revision.need_id == need_id, Revision.kind == kind)
            .order_by(Revision.number.desc())
            .limit(1)
        )

    def standing(self, s: Session, need_id: int) -> S.Standing:
        """Where the need stands now (cvp.state), or NotFound."""
        found = S.standing(s, need_id)
        if found is None:
            raise no_such_need(need_id)
        return found

    def event(self, s: Session, need_id: int, activity: int, action: str, actor: str, summary: str, **detail) -> Event:
        """Append one event to the need's audit trail, in the act's own transaction."""
        ev = Event(
            need_id=need_id,
            activity=activity,
            action=action,
            actor=actor,
            summary=summary,
            detail=detail,
            at=self.now(),
        )
        s.add(ev)
        return ev

    def has_event(self, s: Session, need_id: int, activity: int, action: str) -> bool:
        """Whether the trail already holds this act (what makes a retried act write nothing twice)."""
        return (
            s.scalar(
                select(Event.id)
                .where(Event.need_id == need_id, Event.activity == activity, Event.action == action)
                .limit(1)
            )
            is not None
        )
