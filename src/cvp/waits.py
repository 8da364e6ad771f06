"""What the human steps wait for, answered for many waits at once, and what changed since a cursor.

A triggerer may hold thousands of waits. Asking each one alone costs queries in proportion to how
many wait; here one set of queries answers a whole batch, and the append-only trail (``events``,
whose ids only grow) says which needs changed since the last look. Every act that can satisfy a
wait (meeting record, content plan, text, decision, design, cancellation) appends its event in the
same transaction, so a need without a new event has nothing new to answer.
Which of these conditions holds a run at each moment is cvp.state's ``Standing.wait``: the wait of
the need's current step is never met here, and the waits before it always are (tests/unit/test_state.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cvp import procedure as P
from cvp.records.models import Decision, Document, Event, Need, Revision
from cvp.state import CANCELLED as CANCELLED_STATUS

CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits
DOCUMENT_KINDS = {P.WAIT_MEETING: "registro_reunion", P.WAIT_CONTENT_PLAN: "plan_contenidos"}
REVISION_KINDS = {
    P.WAIT_TEXT_SUBMITTED: P.TEXT,
    P.WAIT_TEXT_APPROVED: P.TEXT,
    P.WAIT_DESIGN_SUBMITTED: P.DESIGN,
    P.WAIT_DESIGN_APPROVED: P.DESIGN,
}
NEEDS_APPROVAL = (P.WAIT_TEXT_APPROVED, P.WAIT_DESIGN_APPROVED)
CANCELLED = {"cancelled": True}
MAX_GAP = 1000  # ids tracked below one jump of the sequence (a jump that large is not in-flight writes)

Key = tuple[int, str]


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def conditions_met(s: Session, keys: Iterable[Key]) -> dict[Key, dict]:
    """The summary of every (need, condition) already met; absent keys still wait.

    Same answers as asking one at a time: a cancelled need answers ``{"cancelled": True}`` (nothing
    will ever come); a document condition answers the record and its author; a revision condition
    answers the current revision (approved, for the approval waits) and the rounds of decisions.
    At most four queries per 500 needs, whatever the number of waits.
    """
    keys = set(keys)
    unknown = {c for _, c in keys} - set(P.WAIT_CONDITIONS)
    if unknown:
        raise ValueError(f"Condición de espera desconocida: {', '.join(sorted(unknown))}")
    met: dict[Key, dict] = {}
    need_ids = sorted({n for n, _ in keys})
    for ids in _chunks(need_ids):
        chunk = set(ids)
        mine = {k for k in keys if k[0] in chunk}
        status = dict(s.execute(select(Need.id, Need.status).where(Need.id.in_(ids))).all())
        cancelled = {n for n, st in status.items() if st == CANCELLED_STATUS}
        met.update({k: dict(CANCELLED) for k in mine if k[0] in cancelled})
        mine = {k for k in mine if k[0] not in cancelled and k[0] in status}
        doc_keys = {k for k in mine if k[1] in DOCUMENT_KINDS}
        rev_keys = {k for k in mine if k[1] in REVISION_KINDS}
        if doc_keys:
            kinds = sorted({DOCUMENT_KINDS[c] for _, c in doc_keys})
            first: dict[tuple[int, str], dict] = {}
            rows = s.execute(
                select(Document.id, Document.need_id, Document.kind, Document.author)
                .where(Document.need_id.in_(sorted({n for n, _ in doc_keys})), Document.kind.in_(kinds))
                .order_by(Document.id)
            )
            for doc_id, need_id, kind, author in rows:
                first.setdefault((need_id, kind), {"document_id": doc_id, "author": author})
            for need_id, condition in doc_keys:
                found = first.get((need_id, DOCUMENT_KINDS[condition]))
                if found:
                    met[(need_id, condition)] = dict(found)
        if rev_keys:
            rev_needs = sorted({n for n, _ in rev_keys})
            kinds = sorted({REVISION_KINDS[c] for _, c in rev_keys})
            current: dict[tuple[int, str], tuple] = {}
            rows = s.execute(
                select(
                    Revision.need_id, Revision.kind, Revision.number, Revision.id, Revision.state, Revision.author
                ).where(Revision.need_id.in_(rev_needs), Revision.kind.in_(kinds))
            )
            for need_id, kind, number, rev_id, state, author in rows:
                if (need_id, kind) not in current or number > current[(need_id, kind)][0]:
                    current[(need_id, kind)] = (number, rev_id, state, author)
            rounds = {
                (n, k): c
                for n, k, c in s.execute(
                    select(Revision.need_id, Revision.kind, func.count(Decision.id))
                    .join(Decision, Decision.revision_id == Revision.id)
                    .where(Revision.need_id.in_(rev_needs), Revision.kind.in_(kinds))
                    .group_by(Revision.need_id, Revision.kind)
                )
            }
            for need_id, condition in rev_keys:
                kind = REVISION_KINDS[condition]
                rev = current.get((need_id, kind))
                if rev is None or (condition in NEEDS_APPROVAL and rev[2] != P.APPROVED):
                    continue
                number, rev_id, _, author = rev
                met[(need_id, condition)] = {
                    "revision_id": rev_id,
                    "number": number,
                    "author": author,
                    "rounds": rounds.get((need_id, kind), 0),
                }
    return met


def condition_met(s: Session, need_id: int, condition: str) -> dict | None:
    """One wait's answer (the sensor's first check), by the same rules as the batch."""
    return conditions_met(s, [(need_id, condition)]).get((need_id, condition))


def latest_event_id(s: Session) -> int:
    return s.scalar(select(func.max(Event.id))) or 0


@dataclass
class Changes:
    """What a look at the trail found: the needs touched, the new cursor, and ids still missing below it."""

    needs: set[int]
    cursor: int
    gaps: dict[int, float] = field(default_factory=dict)


def changes_since(
    s: Session, cursor: int, gaps: dict[int, float], now: float, *, gap_ttl: float = 120.0, limit: int = 5000
) -> Changes:
    """Needs with events after ``cursor`` (one query on the primary key), keeping track of gaps.

    On PostgreSQL an id is taken when a row is inserted, not when its transaction commits: a slow
    transaction may commit id 41 after id 42 was seen. Missing ids below the cursor are looked for
    again on each read, for ``gap_ttl`` seconds (an id whose transaction rolled back never comes).
    """
    query = select(Event.id, Event.need_id)
    waiting_gaps = sorted(g for g, since in gaps.items() if now - since < gap_ttl)
    if waiting_gaps:
        query = query.where(or_(Event.id > cursor, Event.id.in_(waiting_gaps[-CHUNK:])))
    else:
        query = query.where(Event.id > cursor)
    rows = s.execute(query.order_by(Event.id).limit(limit)).all()
    needs = {need_id for _, need_id in rows}
    kept = {g: gaps[g] for g in waiting_gaps}
    new_cursor = cursor
    for event_id, _ in rows:
        kept.pop(event_id, None)
        if event_id > new_cursor:
            for missing in range(max(new_cursor + 1, event_id - MAX_GAP), event_id):
                kept[missing] = now
            new_cursor = event_id
    return Changes(needs=needs, cursor=new_cursor, gaps=kept)
