"""Where a need stands: its current activity, who it waits for and since when, and what may be done next.

The procedure's order (208-COM-Pr-04 and the DAG's branches: a planned need goes 1 → 2 → 3 → 4 → 5,
a one-off need 1 → 5; then 6 → 7 (↺ 8) → 9 → 10 → 11 → 12 (↺ 10) → 13 → 14) is read from the records
here and nowhere else. ``stand`` is a pure function of a need's facts (its status, its meeting record
and content plan, its revisions with their decisions, its publications); the office's guards ask it
before every action, the forms show its step, and ``keep_current`` writes its answer into columns of
``needs`` in the same transaction as every act, so the inbox and the lists are single indexed reads
instead of replaying each need's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import bindparam, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from cvp import procedure as P
from cvp.errors import Conflict
from cvp.records.models import Decision, Document, Need, Publication, Revision

IN_COURSE, CANCELLED, PUBLISHED_NEED = P.NeedStatus.IN_COURSE, P.NeedStatus.CANCELLED, P.NeedStatus.PUBLISHED
SUBMITTED = P.SUBMITTED
MEETING_DOC, PLAN_DOC = P.DocumentKind.MEETING, P.DocumentKind.CONTENT_PLAN
UNCONFIRMED = P.PublicationState.UNCONFIRMED
# A piece on its way or out: the need can no longer be withdrawn.
GOING_OUT = (P.PublicationState.SENDING, P.PublicationState.PUBLISHED)
PUBLISH_ACTIVITY = 14
CHUNK = 500  # needs per IN (...) list

# What a person may do on a need: the guards' vocabulary.
MEETING = "registro_reunion"  # activity 2
PLAN = "plan_contenidos"  # activity 3
TEXT = "texto"  # activity 5, or 8 after a return
TEXT_DECISION = "decision_contenidos"  # control point 7
DESIGN = "diseno"  # activity 10 (design or redesign)
DESIGN_DECISION = "decision_diseno"  # control point 12
CANCEL = "cancelar"
ACTIONS = (MEETING, PLAN, TEXT, TEXT_DECISION, DESIGN, DESIGN_DECISION, CANCEL)
DECISION_ACTION = {7: TEXT_DECISION, 12: DESIGN_DECISION}
# Which of the DAG's waits holds a run while its need is at this activity (the return loops 8 and
# redesign 10 stay inside the wait of their control point, as the DAG's sensors do).
WAIT_AT = {
    2: P.WAIT_MEETING,
    3: P.WAIT_CONTENT_PLAN,
    5: P.WAIT_TEXT_SUBMITTED,
    7: P.WAIT_TEXT_APPROVED,
    8: P.WAIT_TEXT_APPROVED,
    12: P.WAIT_DESIGN_APPROVED,
}
SUBMIT_ACTION = {P.TEXT: TEXT, P.DESIGN: DESIGN}


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


@dataclass(frozen=True)
class Rev:
    """What the order needs of a revision (no texts, no checks: nothing heavy is decoded)."""

    id: int
    kind: str
    number: int
    state: str
    author: str
    created_at: datetime
    decided_at: datetime | None = None
    comment: str = ""


@dataclass(frozen=True)
class Pub:
    id: int
    channel: str
    state: str
    updated_at: datetime


@dataclass
class Facts:
    """A need's records as far as its place in the procedure goes."""

    need_id: int
    title: str
    deadline: date
    one_off: bool
    status: str
    created_at: datetime
    meeting_at: datetime | None = None
    plan_at: datetime | None = None
    texts: list[Rev] = field(default_factory=list)  # by number
    designs: list[Rev] = field(default_factory=list)
    publications: list[Pub] = field(default_factory=list)


@dataclass(frozen=True)
class Standing:
    """Where a need stands: its step (None once closed) and, for each action refused now, why (Spanish)."""

    need_id: int
    status: str
    step: Step | None
    refusals: Mapping[str, str]

    @property
    def wait(self) -> str | None:
        """The condition the run's current sensor waits for (None: no person is awaited)."""
        step = self.step
        if step is None or step.role == P.SYSTEM or step.activity == PUBLISH_ACTIVITY:
            return None
        if step.activity == 10:
            return P.WAIT_DESIGN_SUBMITTED if step.revision_id is None else P.WAIT_DESIGN_APPROVED
        return WAIT_AT[step.activity]

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(a for a in ACTIONS if a not in self.refusals)

    def allows(self, action: str) -> bool:
        return action not in self.refusals

    def require(self, action: str) -> None:
        """Raise the Spanish 409 that says why ``action`` does not fit the procedure now."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if action in self.refusals:
            raise Conflict(self.refusals[action])


# --- the rules -----------------------------------------------------------------------------------


def _channel_list(channels: list[str]) -> str:
    names = [P.CHANNELS.get(c, c) for c in channels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " y " + names[-1]


def _step(f: Facts) -> Step:
    def make(role: str, activity: int, label: str, since: datetime, rev: Rev | None = None, comment: str = "") -> Step:
        return Step(
            f.need_id,
            f.title,
            role,
            activity,
            label,
            since,
            f.deadline,
            rev.id if rev else None,
            rev.number if rev else None,
            rev.author if rev else None,
            comment,
        )

    unconfirmed = sorted((p for p in f.publications if p.state == UNCONFIRMED), key=lambda p: p.id)
    if unconfirmed:
        # Nothing is resent until a person checks the account: this comes before anything else.
        channels = list(dict.fromkeys(p.channel for p in unconfirmed))
        return make(
            P.PROFESSIONAL,
            PUBLISH_ACTIVITY,
            f"Verificar la publicación sin confirmar en {_channel_list(channels)}: confirmarla o autorizar el reenvío",
            min(p.updated_at for p in unconfirmed),
        )
    if not f.one_off:
        if f.meeting_at is None:
            return make(P.HEAD, 2, f"Registrar la reunión del equipo ({P.MEETING_FORM_CODE})", f.created_at)
        if f.plan_at is None:
            return make(P.HEAD, 3, "Definir contenidos y acciones con las dependencias", f.meeting_at)
    # Activity 4 (the Red Distrital request) is the system's and waits on nobody: the text follows the plan.
    text = f.texts[-1] if f.texts else None
    if text is None:
        return make(
            P.PROFESSIONAL, 5, "Producir los contenidos (texto por canal)", f.created_at if f.one_off else f.plan_at
        )
    if text.state == P.REJECTED:
        return make(
            P.PROFESSIONAL,
            8,
            f"Ajustar los contenidos devueltos (revisión {text.number})",
            text.decided_at or text.created_at,
            text,
            text.comment,
        )
    if text.state != P.APPROVED:
        return make(P.HEAD, 7, f"Revisar los contenidos (revisión {text.number})", text.created_at, text)
    design = f.designs[-1] if f.designs else None
    if design is None:
        return make(P.TECHNICIAN, 10, "Elaborar el diseño de la pieza", text.decided_at or text.created_at)
    if design.state == P.REJECTED:
        return make(
            P.TECHNICIAN,
            10,
            f"Rediseñar la pieza devuelta (revisión {design.number})",
            design.decided_at or design.created_at,
            design,
            design.comment,
        )
    if design.state != P.APPROVED:
        return make(P.HEAD, 12, f"Revisar y aprobar el diseño (revisión {design.number})", design.created_at, design)
    return make(
        P.SYSTEM,
        13,
        "Entrega de la pieza definitiva y publicación (automático)",
        design.decided_at or design.created_at,
    )


def _pending(rev: Rev) -> str:
    return (
        f"La revisión {rev.number} está pendiente de decisión de la Jefe OAC: "
        "espere su revisión antes de presentar otra."
    )


def _approved(rev: Rev) -> str:
    return f"La revisión {rev.number} ya fue aprobada: no se presentan más versiones."


def _refusals(f: Facts, step: Step | None) -> dict[str, str]:
    n = f.need_id
    if f.status != IN_COURSE:
        return dict.fromkeys(ACTIONS, f"La necesidad n.º {n} ya no está en curso ({f.status}).")
    out: dict[str, str] = {}
    where = f"la necesidad n.º {n} está en la actividad {step.activity} ({step.label})." if step else ""
    if f.one_off:
        out[MEETING] = out[PLAN] = (
            f"La necesidad n.º {n} es una acción puntual: no lleva reunión del equipo ni "
            "plan de contenidos (pasa directo a producir contenidos, actividad 5)."
        )
    else:
        if f.meeting_at is not None:
            out[MEETING] = f"La necesidad n.º {n} ya tiene su registro de reunión (actividad 2)."
            if f.plan_at is not None:
                out[PLAN] = f"La necesidad n.º {n} ya tiene su plan de contenidos (actividad 3)."
        else:
            out[PLAN] = (
                "El plan de contenidos (actividad 3) se define después de la reunión del equipo: registre "
                f"primero la reunión (actividad 2, {P.MEETING_FORM_CODE})."
            )
    if not f.one_off and f.plan_at is None:
        waits = (
            "el registro de reunión (actividad 2)" if f.meeting_at is None else "el plan de contenidos (actividad 3)"
        )
        early = (
            f"La necesidad n.º {n} requiere planeación y todavía espera {waits}: los contenidos se producen y "
            "se revisan después (actividades 5 a 7), y el diseño, con el texto aprobado."
        )
        out[TEXT] = out[TEXT_DECISION] = out[DESIGN] = out[DESIGN_DECISION] = early
    else:
        text = f.texts[-1] if f.texts else None
        design = f.designs[-1] if f.designs else None
        if text is not None and text.state == SUBMITTED:
            out[TEXT] = _pending(text)
        elif text is not None and text.state == P.APPROVED:
            out[TEXT] = _approved(text)
        if text is None or text.state != SUBMITTED:
            out[TEXT_DECISION] = "No hay contenidos pendientes de revisión (punto de control 7): " + where
        text_ok = text is not None and text.state == P.APPROVED
        if not text_ok:
            out[DESIGN] = "El diseño solo se puede cargar cuando el texto está aprobado (actividad 7)."
        elif design is not None and design.state == SUBMITTED:
            out[DESIGN] = _pending(design)
        elif design is not None and design.state == P.APPROVED:
            out[DESIGN] = _approved(design)
        if not (text_ok and design is not None and design.state == SUBMITTED):
            out[DESIGN_DECISION] = "No hay diseño pendiente de revisión (punto de control 12): " + where
    if any(p.state in GOING_OUT for p in f.publications):
        out[CANCEL] = "La pieza ya se está publicando o se publicó: no se puede cancelar la necesidad."
    return out


def stand(f: Facts) -> Standing:
    """Where the need with these facts stands (a pure function: the one statement of the order)."""
    step = _step(f) if f.status == IN_COURSE else None
    return Standing(f.need_id, f.status, step, _refusals(f, step))


# --- reading the facts ---------------------------------------------------------------------------


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def facts(s, need_ids: Iterable[int]) -> dict[int, Facts]:
    """The facts of many needs: four narrow queries per 500 needs (``s``: a Session or a Connection)."""
    out: dict[int, Facts] = {}
    for ids in _chunks(sorted(set(need_ids))):
        for nid, title, deadline, one_off, status, created_at in s.execute(
            select(Need.id, Need.title, Need.deadline, Need.one_off, Need.status, Need.created_at).where(
                Need.id.in_(ids)
            )
        ):
            out[nid] = Facts(nid, title, deadline, bool(one_off), status, created_at)
        for nid, kind, created_at in s.execute(
            select(Document.need_id, Document.kind, Document.created_at)
            .where(Document.need_id.in_(ids), Document.kind.in_((MEETING_DOC, PLAN_DOC)))
            .order_by(Document.id)
        ):
            f = out.get(nid)
            if f is None:
                continue
            if kind == MEETING_DOC and f.meeting_at is None:
                f.meeting_at = created_at
            elif kind == PLAN_DOC and f.plan_at is None:
                f.plan_at = created_at
        for row in s.execute(
            select(
                Revision.need_id,
                Revision.id,
                Revision.kind,
                Revision.number,
                Revision.state,
                Revision.author,
                Revision.created_at,
                Decision.decided_at,
                Decision.comment,
            )
            .outerjoin(Decision, Decision.revision_id == Revision.id)
            .where(Revision.need_id.in_(ids))
            .order_by(Revision.need_id, Revision.kind, Revision.number)
        ):
            f = out.get(row[0])
            if f is None:
                continue
            rev = Rev(row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8] or "")
            (f.texts if rev.kind == P.TEXT else f.designs).append(rev)
        for nid, pid, channel, state, updated_at in s.execute(
            select(
                Publication.need_id, Publication.id, Publication.channel, Publication.state, Publication.updated_at
            ).where(Publication.need_id.in_(ids))
        ):
            if nid in out:
                out[nid].publications.append(Pub(pid, channel, state, updated_at))
    return out


def standings(s, need_ids: Iterable[int]) -> dict[int, Standing]:
    return {nid: stand(f) for nid, f in facts(s, need_ids).items()}


def standing(s, need_id: int) -> Standing | None:
    """Where one need stands now (None if there is no such need)."""
    return standings(s, [need_id]).get(need_id)


# --- kept as columns of needs --------------------------------------------------------------------


def columns(st: Standing) -> dict:
    """The columns of ``needs`` that say where the need stands (all empty once it is closed)."""
    step = st.step
    if step is None:
        return dict(
            step_activity=None,
            step_role=None,
            step_since=None,
            step_label="",
            step_revision_id=None,
            step_revision_number=None,
            step_author=None,
        )
    return dict(
        step_activity=step.activity,
        step_role=step.role,
        step_since=step.since,
        step_label=step.label[:300],
        step_revision_id=step.revision_id,
        step_revision_number=step.revision_number,
        step_author=step.author,
    )


def refresh(s, need_ids: Iterable[int]) -> int:
    """Recompute and store where these needs stand (one UPDATE statement per 500 needs).

    On PostgreSQL the needs' rows are locked first (in id order): a concurrent act on the same need
    (a decision while a publication's state changes) then commits before these facts are read, so
    the last writer never stores an answer computed without the other's records.
    """
    ids = sorted(set(need_ids))
    if ids and _dialect(s) == "postgresql":
        for chunk in _chunks(ids):
            s.execute(select(Need.id).where(Need.id.in_(chunk)).order_by(Need.id).with_for_update())
    found = standings(s, ids)
    if not found:
        return 0
    table = Need.__table__
    names = list(columns(next(iter(found.values()))))
    stmt = update(table).where(table.c.id == bindparam("b_id")).values({n: bindparam(f"b_{n}") for n in names})
    rows = [{"b_id": nid, **{f"b_{k}": v for k, v in columns(st).items()}} for nid, st in found.items()]
    for i in range(0, len(rows), CHUNK):
        s.execute(stmt, rows[i : i + CHUNK])
    if isinstance(s, Session):  # objects already loaded in this session see the new values
        for nid, st in found.items():
            obj = s.identity_map.get(identity_key(Need, nid))
            if obj is not None:
                for k, v in columns(st).items():
                    set_committed_value(obj, k, v)
    return len(found)


def _dialect(s) -> str:
    bind = s.get_bind() if isinstance(s, Session) else s
    return bind.dialect.name


def backfill(s) -> int:
    """Fill the columns of every need in course (migration 0007; closed needs stay empty)."""
    ids = list(s.scalars(select(Need.id).where(Need.status == IN_COURSE)))
    return refresh(s, ids)


_TRACKED = (Document, Revision, Decision, Publication)
_TOUCHED = "cvp_state_touched"
_KEPT = "_cvp_keeps_standing"


def _after_flush(session: Session, _context) -> None:
    touched: set[int] = session.info.setdefault(_TOUCHED, set())
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Need):
            state = inspect(obj)
            if obj in session.new or state.attrs.status.history.has_changes():
                touched.add(obj.id)
        elif isinstance(obj, _TRACKED) and getattr(obj, "need_id", None) is not None:
            touched.add(obj.need_id)


def _before_commit(session: Session) -> None:
    session.flush()
    touched = session.info.pop(_TOUCHED, None)
    if touched:
        refresh(session, touched)


def keep_current(sessions) -> None:
    """Make every transaction of ``sessions`` (a sessionmaker) store where the needs it touched now stand.

    Any act that can move a need (a record, a revision, a decision, a publication's state, the need's
    status) is a row written through the office's sessions; recomputing at commit, inside the same
    transaction, means the columns never disagree with the records, whoever wrote them.
    """
    # Marked on the sessionmaker itself: SQLAlchemy's ``event.contains`` keys on ``id(target)``, and a
    # new sessionmaker may reuse the id of a freed one whose listeners are still registered (until the
    # cyclic GC collects its session class), which skipped the registration now and then.
    if getattr(sessions, _KEPT, False):
        return
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "before_commit", _before_commit)
    setattr(sessions, _KEPT, True)
