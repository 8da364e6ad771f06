"""What waits on whom, read from the records: the inbox, a need's timeline and the calendar (no Airflow).

The DAG's sensors wait on records (meeting, content plan, text submitted and approved, design
submitted and approved); the same records say which person the run waits on now. Reading them here,
rather than asking Airflow, keeps the forms fast and gives the same answer the sensors will.
A publication whose outcome is unknown (ledger state 'sin_confirmar', see cvp.publishing) waits on
a person too: the professional checks the account and confirms it or authorizes the resend, and the
head, who may do the same, sees it in her inbox as well.
The lists (inbox, other needs in course, all needs) read where each need stands from the columns
cvp.state keeps on ``needs``: one indexed range per page and one count, whatever the number of needs;
a single need's step is read from its records by the same rules.
All functions take an open SQLAlchemy session (``Office.session()``) and only read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, TypeVar

from sqlalchemy import Integer, Text, and_, cast, func, literal, literal_column, not_, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import Function

from cvp import procedure as P
from cvp import state
from cvp.config import TIMEZONE
from cvp.errors import InvalidInput
from cvp.records.models import Decision, Event, Need, Publication

IN_COURSE, MEETING_DOC, PLAN_DOC, UNCONFIRMED = state.IN_COURSE, state.MEETING_DOC, state.PLAN_DOC, state.UNCONFIRMED
PUBLISHED = P.PublicationState.PUBLISHED
PUBLISH_ACTIVITY = state.PUBLISH_ACTIVITY
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
NEED_STATUSES = tuple(P.NeedStatus)  # every status a need has
NEED_STATES = (*NEED_STATUSES, "todas")

Step = state.Step  # the step a need waits on: who must act, on which activity, since when


def today_bogota(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(TIMEZONE).date()


def next_step(s: Session, need: Need) -> Step | None:
    """The step ``need`` waits on now, read from its records; None when it is no longer in course."""
    found = state.standing(s, need.id)
    return found.step if found is not None else None


# --- lists: read from the columns cvp.state keeps on needs -------------------------------------

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list, oldest (or soonest) first: its items, how many in all, and the next page's key."""

    items: list[T]
    total: int | None  # None where the caller counts apart (the calendar's counts by day)
    next: str | None = None
    limit: int = PAGE_SIZE


def page_size(limit: int | None) -> int:
    return PAGE_SIZE if limit is None else max(1, min(int(limit), MAX_PAGE_SIZE))


def _micros(value: datetime) -> int:
    return int((value - EPOCH) / timedelta(microseconds=1))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY = re.compile(r"(-?\d{1,20})\.(\d{1,19})")


def _key(token: str | None) -> tuple[int, int] | None:
    """A page key «N.ID» (opaque to clients); a malformed one is a Spanish 422."""
    if token is None or token == "":
        return None
    m = _KEY.fullmatch(token)
    if m is None or int(m.group(2)) >= 2**63 or abs(int(m.group(1))) >= 2**62:
        raise InvalidInput("La clave de página («desde») no es válida: use el enlace de la página siguiente.")
    return int(m.group(1)), int(m.group(2))


_STEP_COLUMNS = (
    Need.id,
    Need.title,
    Need.step_role,
    Need.step_activity,
    Need.step_label,
    Need.step_since,
    Need.deadline,
    Need.step_revision_id,
    Need.step_revision_number,
    Need.step_author,
)


def _with_comment(q):
    """The head's comment when the step follows a return: the decision on the step's revision."""
    return q.add_columns(Decision.comment).outerjoin(Decision, Decision.revision_id == Need.step_revision_id)


def step_from(row) -> Step | None:
    """The stored step of a row of _STEP_COLUMNS (+ comment), or of a Need (+ comment)."""
    if isinstance(row[0], Need):
        n, comment = row[0], row[1]
        values = (
            n.id,
            n.title,
            n.step_role,
            n.step_activity,
            n.step_label,
            n.step_since,
            n.deadline,
            n.step_revision_id,
            n.step_revision_number,
            n.step_author,
        )
    else:
        values, comment = tuple(row[:10]), row[10]
    nid, title, role, activity, label, since, deadline, rev_id, rev_number, author = values
    if role is None or activity is None or since is None:
        return None
    return Step(nid, title, role, activity, label, since, deadline, rev_id, rev_number, author, comment or "")


def _waiting_key(token: str | None):
    key = _key(token)
    if key is None:
        return None
    since = EPOCH + timedelta(microseconds=key[0])
    return or_(Need.step_since > since, and_(Need.step_since == since, Need.id > key[1]))


def _not_own(username: str):
    """Never a decision on one's own work (the author of the revision awaiting a decision is not its judge)."""
    return or_(
        Need.step_activity.not_in(tuple(P.CONTROL_POINTS)), Need.step_author.is_(None), Need.step_author != username
    )


def _mine(username: str, role: str | None) -> list:
    """What waits on ``username``, as index ranges: the steps of their role, minus decisions on their own work.

    The head also sees the unconfirmed publications (they wait on the professional, but she may
    resolve them too): a second range, so that each range is read in order from its index.
    """
    if role not in (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN):
        return []
    ranges = [and_(Need.status == IN_COURSE, Need.step_role == role, _not_own(username))]
    if role == P.HEAD:
        ranges.append(
            and_(Need.status == IN_COURSE, Need.step_role == P.PROFESSIONAL, Need.step_activity == PUBLISH_ACTIVITY)
        )
    return ranges


def _steps_page(
    s: Session,
    ranges: list,
    lead,
    *,
    after: str | None,
    limit: int | None,
    activity: int | None,
    total: int | None = None,
) -> Page[Step]:
    """One page of steps, oldest wait first, from one or more index ranges (two statements).

    ``lead`` is the column every range fixes by equality: ordering by it first (a no-op for the
    result) makes the database read the range from the index that starts with it, in order,
    instead of filtering another index (PostgreSQL otherwise may walk 100,000 closed needs).
    """
    n = page_size(limit)
    if not ranges:
        return Page([], 0, None, n)
    if activity is not None:
        ranges, lead = [and_(r, Need.step_activity == activity) for r in ranges], Need.step_activity
    if total is None:
        total = s.scalar(select(func.count()).select_from(Need).where(or_(*ranges) if len(ranges) > 1 else ranges[0]))
    keyset = _waiting_key(after)
    parts = [
        select(*_STEP_COLUMNS)
        .where(r, *([keyset] if keyset is not None else []))
        .order_by(lead, Need.step_since, Need.id)
        .limit(n + 1)
        for r in ranges
    ]
    if len(parts) == 1:
        q = _with_comment(parts[0])
    else:
        u = union_all(*[select(p.subquery()) for p in parts]).subquery()
        q = (
            select(*[u.c[c.key] for c in _STEP_COLUMNS], Decision.comment)
            .outerjoin(Decision, Decision.revision_id == u.c.step_revision_id)
            .order_by(u.c.step_since, u.c.id)
            .limit(n + 1)
        )
    rows = s.execute(q).all()
    items = [st for st in (step_from(r) for r in rows[:n]) if st is not None]
    nxt = f"{_micros(items[-1].since)}.{items[-1].need_id}" if len(rows) > n and items else None
    return Page(items, total or 0, nxt, n)


def inbox_page(
    s: Session,
    username: str,
    role: str | None,
    *,
    after: str | None = None,
    limit: int | None = None,
    activity: int | None = None,
) -> Page[Step]:
    """One page of what waits on ``username``, oldest wait first (two statements, whatever the volume)."""
    return _steps_page(s, _mine(username, role), Need.step_role, after=after, limit=limit, activity=activity)


def others_page(
    s: Session,
    username: str,
    role: str | None,
    *,
    after: str | None = None,
    limit: int | None = None,
    activity: int | None = None,
    mine_total: int | None = None,
) -> Page[Step]:
    """The other needs in course (the system's steps included), oldest wait first.

    ``mine_total``: how many wait on ``username`` with the same filter, when the caller already
    counted them; the others are then counted from the status index alone (all in course minus those).
    """
    mine = _mine(username, role)
    others = and_(Need.status == IN_COURSE, *([not_(or_(*mine))] if mine else []))
    total = None
    if mine_total is not None:
        in_course = [Need.status == IN_COURSE, *([Need.step_activity == activity] if activity is not None else [])]
        total = (s.scalar(select(func.count()).select_from(Need).where(*in_course)) or 0) - mine_total
    return _steps_page(s, [others], Need.status, after=after, limit=limit, activity=activity, total=total)


def steps(s: Session, *, role: str | None = None, include_system: bool = False) -> list[Step]:
    """Every need in course with its step, oldest wait first; only ``role``'s steps when given."""
    q = _with_comment(select(*_STEP_COLUMNS)).where(Need.status == IN_COURSE)
    if role is not None:
        q = q.where(Need.step_role == role)
    elif not include_system:
        q = q.where(Need.step_role != P.SYSTEM)
    rows = s.execute(q.order_by(Need.step_since, Need.id)).all()
    return [st for st in (step_from(r) for r in rows) if st is not None]


def inbox(s: Session, username: str, role: str | None) -> list[Step]:
    """Everything that waits on ``username`` (see inbox_page for one page of it), oldest first."""
    mine = _mine(username, role)
    if not mine:
        return []
    rows = s.execute(_with_comment(select(*_STEP_COLUMNS)).where(or_(*mine)).order_by(Need.step_since, Need.id)).all()
    return [st for st in (step_from(r) for r in rows) if st is not None]


def needs_page(
    s: Session,
    *,
    status: str = IN_COURSE,
    role: str | None = None,
    activity: int | None = None,
    run_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> Page[tuple[Need, Step | None]]:
    """One page of the needs, soonest deadline first, each with its stored step (two statements).

    Each status is one range of the (status, deadline, id) index, read in order and merged: there is
    deliberately no index on the deadline alone, which PostgreSQL would otherwise walk through every
    closed need (their deadlines come first) to find the first in course.
    """
    n = page_size(limit)
    conds = []
    if role is not None:
        conds.append(Need.step_role == role)
    if activity is not None:
        conds.append(Need.step_activity == activity)
    if run_id is not None:
        conds.append(Need.run_id == run_id)
    statuses = NEED_STATUSES if status == "todas" else (status,)
    counted = conds + ([Need.status == status] if status != "todas" else [])
    total = s.scalar(select(func.count()).select_from(Need).where(*counted)) or 0
    key = _key(after)
    if key is not None:
        day = date.fromordinal(max(1, min(key[0], date.max.toordinal())))
        conds.append(or_(Need.deadline > day, and_(Need.deadline == day, Need.id > key[1])))
    parts = [
        select(Need.id, Need.deadline)
        .where(Need.status == st, *conds)
        .order_by(Need.status, Need.deadline, Need.id)
        .limit(n + 1)
        for st in statuses
    ]
    u = (union_all(*[select(p.subquery()) for p in parts]) if len(parts) > 1 else parts[0]).subquery()
    rows = s.execute(
        _with_comment(select(Need)).join(u, u.c.id == Need.id).order_by(u.c.deadline, u.c.id).limit(n + 1)
    ).all()
    items = [(r[0], step_from(r)) for r in rows[:n]]
    last = items[-1][0] if items else None
    nxt = f"{last.deadline.toordinal()}.{last.id}" if len(rows) > n and last is not None else None
    return Page(items, total, nxt, n)


# --- a need's timeline ---------------------------------------------------------------------------

DONE, CURRENT, PENDING, SKIPPED, NOT_NEEDED = "realizada", "en_curso", "pendiente", "omitida", "no_requerida"
STATUS_NAMES = {
    DONE: "Realizada",
    CURRENT: "En curso",
    PENDING: "Pendiente",
    SKIPPED: "No aplica (acción puntual)",
    NOT_NEEDED: "No requerida",
}


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


def timeline(s: Session, need: Need, current: Step | None = None) -> list[TimelineEntry]:
    """Every activity of the procedure for ``need``, with what was done, by whom and when.

    ``current``: the need's step when the caller already has it (else it is read from the records).
    """
    events = list(s.scalars(select(Event).where(Event.need_id == need.id).order_by(Event.id)))
    by_activity: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        by_activity[e.activity].append(e)
    if current is None:
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
    start = datetime.combine(first, time.min, TIMEZONE).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, TIMEZONE).astimezone(UTC)
    return start, end


def calendar(s: Session, first: date, last: date, channel: str | None = None) -> list[CalendarEntry]:
    """Every piece between ``first`` and ``last`` (inclusive), by Bogotá day (see calendar_page)."""
    entries: list[CalendarEntry] = []
    after = None
    while True:
        page = calendar_page(s, first, last, channel=channel, after=after, limit=MAX_PAGE_SIZE)
        entries += page.items
        if page.next is None:
            return entries
        after = page.next


def _has_channel(channel: str):
    """Needs whose channel list names ``channel`` (the JSON text holds it quoted; keys are plain words)."""
    return cast(Need.channels, Text).like(f'%"{channel}"%')


def _local_day(s: Session, column, sample: date):
    """The Bogotá date of a stored UTC instant, computed by the database (for counting by day).

    Bogotá keeps one offset all year (UTC−5, no daylight saving since 1993): the offset of the
    shown month is added to the stored UTC instant on both databases.
    """
    offset = datetime.combine(sample, time(12), TIMEZONE).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if s.get_bind().dialect.name == "postgresql":
        return func.date(column + literal_column(f"interval '{minutes} minutes'"))
    return func.date(column, f"{minutes:+d} minutes")


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _json_length(column):
    """``json_array_length`` as a plain SQL function: the name ``func.json_array_length`` resolves to a class
    that sqlalchemy_utils (imported by Airflow) registers without statement caching."""
    return Function("json_array_length", column, type_=Integer)


def calendar_counts(s: Session, first: date, last: date, channel: str | None = None) -> dict[date, dict[str, int]]:
    """How many pieces of each kind fall on each Bogotá day between ``first`` and ``last`` (three statements).

    Published: ledger rows published that day. Scheduled and due: the channels of needs in course not
    yet published, on their publication time if the head set one, else on their deadline.
    """
    start, end = _utc_bounds(first, last)
    counts: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KIND_NAMES, 0))
    pub_day = _local_day(s, Publication.published_at, first)
    q = (
        select(pub_day, func.count())
        .where(Publication.state == PUBLISHED, Publication.published_at >= start, Publication.published_at < end)
        .group_by(pub_day)
    )
    if channel:
        q = q.where(Publication.channel == channel)
    for day, n in s.execute(q):
        counts[_as_date(day)][PUBLISHED_KIND] += n
    sched_day = _local_day(s, Need.publish_at, first)
    # Channels of a need already published are no longer due: counted per need, from the ledger's index.
    published = (
        select(func.count(Publication.id))
        .where(
            Publication.need_id == Need.id,
            Publication.state == PUBLISHED,
            *([Publication.channel == channel] if channel else []),
        )
        .correlate(Need)
        .scalar_subquery()
    )
    per_need = (literal(1) if channel else _json_length(Need.channels)) - published
    scheduled = and_(
        Need.status == IN_COURSE,
        Need.publish_at >= start,
        Need.publish_at < end,
        *([_has_channel(channel)] if channel else []),
    )
    due = and_(
        Need.status == IN_COURSE,
        Need.publish_at.is_(None),
        Need.deadline >= first,
        Need.deadline <= last,
        *([_has_channel(channel)] if channel else []),
    )
    for kind, day_of, where in ((SCHEDULED_KIND, sched_day, scheduled), (DEADLINE_KIND, Need.deadline, due)):
        for day, n in s.execute(select(day_of, func.sum(per_need)).where(where).group_by(day_of)):
            counts[_as_date(day)][kind] += int(n or 0)
    return {d: c for d, c in counts.items() if any(c.values())}


_CAL_KEY = re.compile(r"(-|\d{1,20}\.\d{1,19})_(-|\d{1,20}\.\d{1,19})_(-|\d{1,20}\.\d{1,19})")


def _calendar_key(token: str | None) -> list[tuple[int, int] | None]:
    if not token:
        return [None, None, None]
    m = _CAL_KEY.fullmatch(token)
    if m is None:
        raise InvalidInput("La clave de página («desde») no es válida: use el enlace de la página siguiente.")
    return [None if g == "-" else _key(g) for g in m.groups()]


def calendar_page(
    s: Session,
    first: date,
    last: date,
    *,
    channel: str | None = None,
    kind: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> Page[CalendarEntry]:
    """One page of pieces between ``first`` and ``last`` by Bogotá day and time (a constant number of statements).

    Three ordered streams (published ledger rows, scheduled needs, needs due on their deadline) are
    read from their indexes after the page key and merged; ``limit`` counts rows (a need pending on
    several channels brings all of them).
    """
    n = page_size(limit)
    start, end = _utc_bounds(first, last)
    keys = _calendar_key(after)
    kinds = [kind] if kind in KIND_NAMES else list(KIND_NAMES)
    streams: list[list[tuple]] = [[], [], []]
    if PUBLISHED_KIND in kinds:
        q = (
            select(
                Publication.published_at,
                Publication.id,
                Publication.need_id,
                Publication.channel,
                Publication.url,
                Need.title,
            )
            .join(Need, Need.id == Publication.need_id)
            .where(Publication.state == PUBLISHED, Publication.published_at >= start, Publication.published_at < end)
        )
        if channel:
            q = q.where(Publication.channel == channel)
        if keys[0] is not None:
            at = EPOCH + timedelta(microseconds=keys[0][0])
            q = q.where(
                or_(Publication.published_at > at, and_(Publication.published_at == at, Publication.id > keys[0][1]))
            )
        streams[0] = s.execute(q.order_by(Publication.published_at, Publication.id).limit(n + 1)).all()
    if SCHEDULED_KIND in kinds:
        q = select(Need.publish_at, Need.id, Need.title, Need.channels).where(
            Need.status == IN_COURSE, Need.publish_at >= start, Need.publish_at < end
        )
        if channel:
            q = q.where(_has_channel(channel))
        if keys[1] is not None:
            at = EPOCH + timedelta(microseconds=keys[1][0])
            q = q.where(or_(Need.publish_at > at, and_(Need.publish_at == at, Need.id > keys[1][1])))
        streams[1] = s.execute(q.order_by(Need.publish_at, Need.id).limit(n + 1)).all()
    if DEADLINE_KIND in kinds:
        q = select(Need.deadline, Need.id, Need.title, Need.channels).where(
            Need.status == IN_COURSE, Need.publish_at.is_(None), Need.deadline >= first, Need.deadline <= last
        )
        if channel:
            q = q.where(_has_channel(channel))
        if keys[2] is not None:
            day = date.fromordinal(max(1, min(keys[2][0], date.max.toordinal())))
            q = q.where(or_(Need.deadline > day, and_(Need.deadline == day, Need.id > keys[2][1])))
        streams[2] = s.execute(q.order_by(Need.deadline, Need.id).limit(n + 1)).all()

    latest = datetime.max.replace(tzinfo=UTC)
    rows = [((r[0].astimezone(TIMEZONE).date(), r[0], 0, r[1]), 0, r) for r in streams[0]]
    rows += [((r[0].astimezone(TIMEZONE).date(), r[0], 1, r[1]), 1, r) for r in streams[1]]
    rows += [((r[0], latest, 2, r[1]), 2, r) for r in streams[2]]
    rows.sort(key=lambda x: x[0])
    taken = rows[:n]
    need_ids = [r[1] for _, src, r in taken if src > 0]
    published: dict[int, set[str]] = defaultdict(set)
    if need_ids:
        for nid, ch in s.execute(
            select(Publication.need_id, Publication.channel).where(
                Publication.need_id.in_(need_ids), Publication.state == PUBLISHED
            )
        ):
            published[nid].add(ch)
    order = list(P.CHANNELS)
    entries: list[CalendarEntry] = []
    for (day, _at, _, _), src, r in taken:
        if src == 0:
            entries.append(CalendarEntry(day, r[0], r[3], PUBLISHED_KIND, r[2], r[5], r[4]))
            continue
        pending = [c for c in (r[3] or []) if c not in published[r[1]] and (channel is None or c == channel)]
        pending.sort(key=lambda c: order.index(c) if c in order else 99)
        entries += [
            CalendarEntry(day, r[0] if src == 1 else None, c, SCHEDULED_KIND if src == 1 else DEADLINE_KIND, r[1], r[2])
            for c in pending
        ]
    for src in range(3):  # each stream's key moves to the last row this page took from it
        mine = [r for _, s_, r in taken if s_ == src]
        if mine:
            last_row = mine[-1]
            keys[src] = ((last_row[0].toordinal() if src == 2 else _micros(last_row[0])), last_row[1])
    token = "_".join("-" if k is None else f"{k[0]}.{k[1]}" for k in keys) if len(rows) > n else None
    return Page(entries, None, token, n)  # the totals by day: calendar_counts
