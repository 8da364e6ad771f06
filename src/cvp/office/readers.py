"""What the records say of a need, each read in a transaction of its own: its trail, revisions, documents,
mails, publications, where it stands, and whether what a sensor waits for has come."""

from __future__ import annotations

from sqlalchemy import func, select

from cvp import procedure as P
from cvp import state as S
from cvp.errors import NotFound
from cvp.office.base import Desk
from cvp.records.models import Decision, Document, Event, Need, Notification, Publication, RefusedNeed, Revision


class Readers(Desk):
    def need_by_run(self, run_id: str) -> Need:
        with self.session() as s:
            need = self.records.need_of_run(s, run_id)
        if need is None:
            raise NotFound(f"La ejecución {run_id} no tiene necesidad registrada (actividad 1).")
        return need

    def standing(self, need_id: int) -> S.Standing:
        """Where the need stands now: its step and the actions the procedure allows next (cvp.state)."""
        with self.session() as s:
            return self.records.standing(s, need_id)

    def current_revision(self, need_id: int, kind: str) -> Revision | None:
        with self.session() as s:
            return self.records.current(s, need_id, kind)

    def events(self, need_id: int) -> list[Event]:
        with self.session() as s:
            return list(s.scalars(select(Event).where(Event.need_id == need_id).order_by(Event.id)))

    def revisions(self, need_id: int, kind: str | None = None) -> list[Revision]:
        with self.session() as s:
            q = select(Revision).where(Revision.need_id == need_id).order_by(Revision.kind, Revision.number)
            if kind:
                q = q.where(Revision.kind == kind)
            revs = list(s.scalars(q))
            for r in revs:
                _ = r.decision  # load while the session is open
            return revs

    def documents(self, need_id: int) -> list[Document]:
        with self.session() as s:
            return list(s.scalars(select(Document).where(Document.need_id == need_id).order_by(Document.id)))

    def notifications(self, need_id: int) -> list[Notification]:
        with self.session() as s:
            return list(
                s.scalars(select(Notification).where(Notification.need_id == need_id).order_by(Notification.id))
            )

    def publications(self, need_id: int) -> list[Publication]:
        with self.session() as s:
            return list(s.scalars(select(Publication).where(Publication.need_id == need_id).order_by(Publication.id)))

    def refused_needs(self, limit: int = 20) -> list[RefusedNeed]:
        """The most recent refused requests to open a need, newest first."""
        with self.session() as s:
            return list(
                s.scalars(select(RefusedNeed).order_by(RefusedNeed.at.desc(), RefusedNeed.id.desc()).limit(limit))
            )

    def condition_met(self, need_id: int, condition: str) -> dict | None:
        """What the sensors wait for: a small summary when the waited-for record exists, else None (one cheap query).

        A cancelled need answers ``{"cancelled": True}``: nothing will ever come, the wait ends.
        """
        with self.session() as s:
            if s.scalar(select(Need.status).where(Need.id == need_id)) == "cancelada":
                return {"cancelled": True}
            if condition in (P.WAIT_MEETING, P.WAIT_CONTENT_PLAN):
                kind = "registro_reunion" if condition == P.WAIT_MEETING else "plan_contenidos"
                doc = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == kind))
                return {"document_id": doc.id, "author": doc.author} if doc else None
            kind = P.TEXT if condition in (P.WAIT_TEXT_SUBMITTED, P.WAIT_TEXT_APPROVED) else P.DESIGN
            rev = self.records.current(s, need_id, kind)
            if rev is None:
                return None
            if condition in (P.WAIT_TEXT_APPROVED, P.WAIT_DESIGN_APPROVED) and rev.state != P.APPROVED:
                return None
            rounds = s.scalar(
                select(func.count(Decision.id))
                .join(Revision, Revision.id == Decision.revision_id)
                .where(Revision.need_id == need_id, Revision.kind == kind)
            )
            return {"revision_id": rev.id, "number": rev.number, "author": rev.author, "rounds": rounds}
