"""What waits on whom, read from the records: the inbox, a need's timeline and the calendar (no Airflow).

The DAG's sensors wait on records (meeting, content plan, text submitted and approved, design
submitted and approved); the same records say which person the run waits on now. Reading them here,
rather than asking Airflow, keeps the forms fast and gives the same answer the sensors will.
A publication whose outcome is unknown (ledger state 'sin_confirmar', see cvp.publishing) waits on
a person too: the professional checks the account and confirms it or authorizes the resend, and the
head, who may do the same, sees it in her inbox as well.
All functions take an open SQLAlchemy session (``Office.session()``) and only read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cvp import procedure as P
from cvp.config import TIMEZONE
from cvp.records.models import Document, Event, Need, Publication, Revision

IN_COURSE = "en_curso"
MEETING_DOC = "registro_reunion"
PLAN_DOC = "plan_contenidos"
PUBLISHED = "publicado"
UNCONFIRMED = "sin_confirmar"
PUBLISH_ACTIVITY = 14


@dataclass(frozen=True)
class Step:
    """The step a need waits on: who must act, on which activity, since when."""

    need_id: int
    title: str
    role: str
    activity: int
    label: str
    since: datetime
    deadline: date
    revision_id: int | None = None
    revision_number: int | None = None
    author: str | None = None  # author of the revision awaiting a decision: never its judge
    comment: str = ""  # the head's comment when the step follows a return

    @property
    def is_decision(self) -> bool:
        return self.activity in P.CONTROL_POINTS

    @property
    def is_unconfirmed_publication(self) -> bool:
        """A person must say whether the piece is on the platform (the professional or the head)."""
        return self.activity == PUBLISH_ACTIVITY and self.role != P.SYSTEM

    def days_waiting(self, now: datetime) -> int:
        return max(0, (now - self.since).days)

    def days_left(self, today: date) -> int:
        """Days until the need's deadline (negative: overdue by that many days)."""
        return (self.deadline - today).days


def today_bogota(now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(TIMEZONE).date()


def _latest(revisions: list[Revision], kind: str) -> Revision | None:
    found = [r for r in revisions if r.kind == kind]
    return max(found, key=lambda r: r.number) if found else None


def _channel_list(channels: list[str]) -> str:
    names = [P.CHANNELS.get(c, c) for c in channels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " y " + names[-1]


def _step(need: Need, docs: dict[str, Document], revisions: list[Revision],
          unconfirmed: list[Publication] | None = None) -> Step:
    def make(role: str, activity: int, label: str, since: datetime, rev: Revision | None = None,
             comment: str = "") -> Step:
        return Step(need.id, need.title, role, activity, label, since, need.deadline,
                    rev.id if rev else None, rev.number if rev else None, rev.author if rev else None, comment)

    if unconfirmed:
        # Nothing is resent until a person checks the account: this comes before anything else.
        channels = list(dict.fromkeys(p.channel for p in sorted(unconfirmed, key=lambda p: p.id)))
        return make(P.PROFESSIONAL, PUBLISH_ACTIVITY,
                    f"Verificar la publicación sin confirmar en {_channel_list(channels)}: confirmarla o autorizar "
                    "el reenvío", min(p.updated_at for p in unconfirmed))
    if not need.one_off:
        if MEETING_DOC not in docs:
            return make(P.HEAD, 2, "Registrar la reunión del equipo (208-SADM-Ft-54)", need.created_at)
        if PLAN_DOC not in docs:
            return make(P.HEAD, 3, "Definir contenidos y acciones con las dependencias",
                        docs[MEETING_DOC].created_at)
    text = _latest(revisions, P.TEXT)
    if text is None:
        since = need.created_at if need.one_off else docs[PLAN_DOC].created_at
        return make(P.PROFESSIONAL, 5, "Producir los contenidos (texto por canal)", since)
    if text.state == P.REJECTED:
        dec = text.decision
        return make(P.PROFESSIONAL, 8, f"Ajustar los contenidos devueltos (revisión {text.number})",
                    dec.decided_at if dec else text.created_at, text, dec.comment if dec else "")
    if text.state != P.APPROVED:
        return make(P.HEAD, 7, f"Revisar los contenidos (revisión {text.number})", text.created_at, text)
    design = _latest(revisions, P.DESIGN)
    approved_at = text.decision.decided_at if text.decision else text.created_at
    if design is None:
        return make(P.TECHNICIAN, 10, "Elaborar el diseño de la pieza", approved_at)
    if design.state == P.REJECTED:
        dec = design.decision
        return make(P.TECHNICIAN, 10, f"Rediseñar la pieza devuelta (revisión {design.number})",
                    dec.decided_at if dec else design.created_at, design, dec.comment if dec else "")
    if design.state != P.APPROVED:
        return make(P.HEAD, 12, f"Revisar y aprobar el diseño (revisión {design.number})", design.created_at,
                    design)
    since = design.decision.decided_at if design.decision else design.created_at
    return make(P.SYSTEM, 13, "Entrega de la pieza definitiva y publicación (automático)", since)


def _load(s: Session, needs: list[Need]
          ) -> tuple[dict[int, dict[str, Document]], dict[int, list[Revision]], dict[int, list[Publication]]]:
    ids = [n.id for n in needs]
    docs: dict[int, dict[str, Document]] = defaultdict(dict)
    revs: dict[int, list[Revision]] = defaultdict(list)
    pubs: dict[int, list[Publication]] = defaultdict(list)
    if not ids:
        return docs, revs, pubs
    for d in s.scalars(select(Document).where(Document.need_id.in_(ids), Document.kind.in_((MEETING_DOC, PLAN_DOC)))
                       .order_by(Document.id)):
        docs[d.need_id].setdefault(d.kind, d)
    for r in s.scalars(select(Revision).where(Revision.need_id.in_(ids)).options(selectinload(Revision.decision))):
        revs[r.need_id].append(r)
    for p in s.scalars(select(Publication).where(Publication.need_id.in_(ids), Publication.state == UNCONFIRMED)):
        pubs[p.need_id].append(p)
    return docs, revs, pubs


def next_step(s: Session, need: Need) -> Step | None:
    """The step ``need`` waits on now; None when it is no longer in course."""
    if need.status != IN_COURSE:
        return None
    docs, revs, pubs = _load(s, [need])
    return _step(need, docs[need.id], revs[need.id], pubs[need.id])


def steps(s: Session, *, role: str | None = None, include_system: bool = False) -> list[Step]:
    """Every need in course with its step, oldest wait first; only ``role``'s steps when given."""
    needs = list(s.scalars(select(Need).where(Need.status == IN_COURSE)))
    docs, revs, pubs = _load(s, needs)
    found = [_step(n, docs[n.id], revs[n.id], pubs[n.id]) for n in needs]
    if role is not None:
        found = [st for st in found if st.role == role]
    elif not include_system:
        found = [st for st in found if st.role != P.SYSTEM]
    return sorted(found, key=lambda st: (st.since, st.need_id))


def inbox(s: Session, username: str, role: str | None) -> list[Step]:
    """What waits on ``username``: the steps of their role, minus decisions on their own work.

    The head also sees the unconfirmed publications (they wait on the professional, but she may
    resolve them too), in the same oldest-first order.
    """
    if role not in (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN):
        return []
    return [st for st in steps(s) if (st.role == role or (role == P.HEAD and st.is_unconfirmed_publication))
            and not (st.is_decision and st.author == username)]


# --- a need's timeline ---------------------------------------------------------------------------

DONE, CURRENT, PENDING, SKIPPED, NOT_NEEDED = "realizada", "en_curso", "pendiente", "omitida", "no_requerida"
STATUS_NAMES = {DONE: "Realizada", CURRENT: "En curso", PENDING: "Pendiente", SKIPPED: "No aplica (acción puntual)",
                NOT_NEEDED: "No requerida"}


@dataclass
class TimelineEntry:
    activity: int
    name: str
    role: str
    status: str
    events: list[Event] = field(default_factory=list)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


def timeline(s: Session, need: Need) -> list[TimelineEntry]:
    """Every activity of the procedure for ``need``, with what was done, by whom and when."""
    events = list(s.scalars(select(Event).where(Event.need_id == need.id).order_by(Event.id)))
    by_activity: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        by_activity[e.activity].append(e)
    current = next_step(s, need)
    text_approved = any(e.action == f"{P.TEXT}_{P.APPROVED}" for e in events)
    entries = []
    for act in P.ACTIVITIES:
        evs = by_activity.get(act.number, [])
        if current is not None and current.activity == act.number and current.role != P.SYSTEM:
            status = CURRENT
        elif evs:
            status = DONE
        elif need.one_off and act.number in (2, 3, 4):
            status = SKIPPED
        elif act.number == 8 and text_approved:
            status = NOT_NEEDED
        else:
            status = PENDING
        entries.append(TimelineEntry(act.number, act.name, act.role, status, evs))
    return entries


# --- the calendar --------------------------------------------------------------------------------

PUBLISHED_KIND, SCHEDULED_KIND, DEADLINE_KIND = "publicada", "programada", "fecha_limite"
KIND_NAMES = {PUBLISHED_KIND: "Publicada", SCHEDULED_KIND: "Programada", DEADLINE_KIND: "Fecha límite"}


@dataclass(frozen=True)
class CalendarEntry:
    day: date  # Bogotá date
    at: datetime | None  # exact time when known (publication or scheduled time)
    channel: str
    kind: str
    need_id: int
    title: str
    url: str = ""

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


def _utc_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time.min, TIMEZONE).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time.min, TIMEZONE).astimezone(timezone.utc)
    return start, end


def calendar(s: Session, first: date, last: date) -> list[CalendarEntry]:
    """Pieces by Bogotá day and channel between ``first`` and ``last`` (inclusive).

    Published: every ledger row published in the range. Scheduled: every channel of a need not yet
    published there, on its publication time if the head set one, else on its deadline.
    """
    start, end = _utc_bounds(first, last)
    entries: list[CalendarEntry] = []
    published: dict[int, set[str]] = defaultdict(set)
    rows = s.execute(select(Publication, Need.title).join(Need, Need.id == Publication.need_id)
                     .where(Publication.state == PUBLISHED))
    for pub, title in rows:
        published[pub.need_id].add(pub.channel)
        if pub.published_at is not None and start <= pub.published_at < end:
            entries.append(CalendarEntry(pub.published_at.astimezone(TIMEZONE).date(), pub.published_at, pub.channel,
                                         PUBLISHED_KIND, pub.need_id, title, pub.url))
    for need in s.scalars(select(Need).where(Need.status != "cancelada")):
        pending = [c for c in need.channels if c not in published[need.id]]
        if not pending:
            continue
        if need.publish_at is not None:
            if not start <= need.publish_at < end:
                continue
            day, at, kind = need.publish_at.astimezone(TIMEZONE).date(), need.publish_at, SCHEDULED_KIND
        else:
            if not first <= need.deadline <= last:
                continue
            day, at, kind = need.deadline, None, DEADLINE_KIND
        entries += [CalendarEntry(day, at, c, kind, need.id, need.title) for c in pending]
    order = list(P.CHANNELS)
    return sorted(entries, key=lambda e: (e.day, e.at or datetime.max.replace(tzinfo=timezone.utc),
                                          order.index(e.channel) if e.channel in order else 99, e.need_id))
