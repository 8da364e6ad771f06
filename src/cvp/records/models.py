"""Tables of the records database (separate from Airflow's metadata).

What Ley 1712 of 2014 asks the office to keep: the need, every revision of every text and design,
every decision at a control point, every publication, every e-mail sent, and an append-only trail
of events (who, what, when). Nothing here is ever overwritten: a rejected revision stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from itertools import groupby

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Store naive UTC, return aware UTC: SQLite keeps no time zone, PostgreSQL would shift it."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the records database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Need(Base):
    """A communication need: one run of the procedure (activity 1)."""

    __tablename__ = "needs"
    __table_args__ = (
        # One index per list's filter and order (see cvp.inbox): each page is a range scan, whatever the volume.
        Index("ix_needs_step_role", "step_role", "step_since", "id"),
        Index("ix_needs_step_activity", "step_activity", "step_since", "id"),
        Index("ix_needs_status_step_since", "status", "step_since", "id"),
        Index("ix_needs_status_deadline", "status", "deadline", "id"),
        Index("ix_needs_status_publish_at", "status", "publish_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(250), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(40))
    source_reference: Mapped[str] = mapped_column(String(250), default="")
    audiences: Mapped[list] = mapped_column(JSON, default=list)
    channels: Mapped[list] = mapped_column(JSON, default=list)
    one_off: Mapped[bool] = mapped_column(Boolean)
    deadline: Mapped[date] = mapped_column(Date)
    department: Mapped[str] = mapped_column(String(60))
    requested_by: Mapped[str] = mapped_column(String(120))
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(30), default="en_curso")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where the need stands (cvp.state), written in the same transaction as every act; empty once closed.
    step_activity: Mapped[int | None] = mapped_column(Integer)
    step_role: Mapped[str | None] = mapped_column(String(20))
    step_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    step_label: Mapped[str] = mapped_column(String(300), default="")
    step_revision_id: Mapped[int | None] = mapped_column(Integer)
    step_revision_number: Mapped[int | None] = mapped_column(Integer)
    step_author: Mapped[str | None] = mapped_column(String(120))

    revisions: Mapped[list[Revision]] = relationship(back_populates="need", order_by="Revision.id")


class RefusedNeed(Base):
    """A need that was not opened (activity 1 refused): who asked, when and why; no need record exists.

    Ley 1712 asks for a record of every act, a refused one too; the head sees these in the forms.
    """

    __tablename__ = "refused_needs"
    __table_args__ = (Index("ix_refused_needs_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(250), unique=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Document(Base):
    """A record produced by an activity: meeting record (Ft-54), content plan, Red Distrital request, drafts, metrics."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    activity: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    rendered: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Revision(Base):
    """One submitted version of the text (kind 'texto') or of the design (kind 'diseno')."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("need_id", "kind", "number", name="uq_revision_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="presentado")
    author: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    texts: Mapped[dict] = mapped_column(JSON, default=dict)  # channel -> text (kind 'texto')
    title: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")  # what the author says changed
    checks: Mapped[list] = mapped_column(JSON, default=list)
    filename: Mapped[str] = mapped_column(String(255), default="")  # design: original name
    stored_path: Mapped[str] = mapped_column(String(500), default="")  # design: generated name
    media_type: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    alt_text: Mapped[str] = mapped_column(Text, default="")

    need: Mapped[Need] = relationship(back_populates="revisions")
    decision: Mapped[Decision | None] = relationship(back_populates="revision", uselist=False)


class Decision(Base):
    """The head's decision at a control point (7: text, 12: design). One per revision, never changed."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), unique=True)
    control_point: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(120))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    revision: Mapped[Revision] = relationship(back_populates="decision")


class Publication(Base):
    """Ledger of publications: one row per (need, approved text, approved design, channel).

    Written before and after each platform call so that a retried task never posts twice.
    """

    __tablename__ = "publications"
    __table_args__ = (
        UniqueConstraint("need_id", "text_revision_id", "design_revision_id", "channel", name="uq_publication"),
        Index("ix_publications_state_published_at", "state", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    text_revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    design_revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    channel: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), default="pendiente")
    fingerprint: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notification(Base):
    """Every institutional e-mail, kept as a record and delivered from here (never lost)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    activity: Mapped[int] = mapped_column(Integer)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipients: Mapped[list] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a sender took it (no double send)
    transport: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str] = mapped_column(Text, default="")


class Event(Base):
    """The append-only audit trail: one row per act of the procedure (the database refuses updates)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_need_at", "need_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"))
    activity: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class EngagementSnapshot(Base):
    """Engagement of one publication as the platform reported it at one moment (collected daily)."""

    __tablename__ = "engagement_snapshots"
    __table_args__ = (Index("ix_engagement_pub_taken", "publication_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id"))
    channel: Mapped[str] = mapped_column(String(30))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)  # impressions, reactions, comments, shares, views...


#: The snapshots' metric keys (the office's words, :data:`cvp.engagement.METRIC_KEYS`) → columns of ``engagement_days``.
ENGAGEMENT_COLUMNS = {
    "impresiones": "impressions",
    "alcance": "reach",
    "reacciones": "reactions",
    "comentarios": "comments",
    "compartidos": "shares",
    "reproducciones": "views",
}
_INTERACTIONS = ("reactions", "comments", "shares")


class EngagementDay(Base):
    """A publication's last engagement reading of each Bogotá day, in plain numbers (derived from the snapshots).

    Kept in the same transaction as each snapshot, so the Tablero sums a year of readings in the
    database instead of parsing their JSON. ``interactions`` is reactions + comments + shares (missing
    when none was given). ``new_*`` is what the day added to the last figure known before it (a missing
    figure keeps the last known one, so it adds 0; missing until the platform first gives one).
    """

    __tablename__ = "engagement_days"
    __table_args__ = {"sqlite_with_rowid": False}  # rows clustered by (publication, day): the Tablero's reads

    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    impressions: Mapped[float | None] = mapped_column(Float)
    reach: Mapped[float | None] = mapped_column(Float)
    reactions: Mapped[float | None] = mapped_column(Float)
    comments: Mapped[float | None] = mapped_column(Float)
    shares: Mapped[float | None] = mapped_column(Float)
    views: Mapped[float | None] = mapped_column(Float)
    interactions: Mapped[float | None] = mapped_column(Float)
    new_impressions: Mapped[float | None] = mapped_column(Float)
    new_interactions: Mapped[float | None] = mapped_column(Float)


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def engagement_days(snapshots: Iterable) -> list[dict]:
    """The ``engagement_days`` rows of snapshots given as (publication_id, channel, taken_at, metrics),
    ordered by publication, taken_at and id."""
    from cvp.config import bogota_date

    out = []
    for pub_id, readings in groupby(snapshots, key=lambda r: r[0]):
        last_of_day = {
            bogota_date(taken_at): (channel, taken_at, metrics or {}) for _, channel, taken_at, metrics in readings
        }
        known: dict[str, float | None] = {"impressions": None, "interactions": None}
        for day in sorted(last_of_day):
            channel, taken_at, metrics = last_of_day[day]
            row = {"publication_id": pub_id, "day": day, "channel": channel, "taken_at": taken_at}
            for key, column in ENGAGEMENT_COLUMNS.items():
                row[column] = _number(metrics.get(key))
            parts = [row[c] for c in _INTERACTIONS if row[c] is not None]
            row["interactions"] = sum(parts) if parts else None
            for level in ("impressions", "interactions"):
                value, before = row[level], known[level]
                if value is None:
                    row[f"new_{level}"] = None if before is None else 0.0
                else:
                    row[f"new_{level}"] = value - (before or 0.0)
                    known[level] = value
            out.append(row)
    return out


def refresh_engagement_days(conn, publication_ids: Iterable[int], chunk: int = 500) -> None:
    """Write again the ``engagement_days`` of these publications from all their snapshots (any order of arrival)."""
    snaps, days = EngagementSnapshot.__table__, EngagementDay.__table__
    ids = sorted(set(publication_ids))
    for i in range(0, len(ids), chunk):
        part = ids[i : i + chunk]
        rows = conn.execute(
            select(snaps.c.publication_id, snaps.c.channel, snaps.c.taken_at, snaps.c.metrics)
            .where(snaps.c.publication_id.in_(part))
            .order_by(snaps.c.publication_id, snaps.c.taken_at, snaps.c.id)
        ).all()
        conn.execute(delete(days).where(days.c.publication_id.in_(part)))
        values = engagement_days(rows)
        if values:
            conn.execute(insert(days), values)


def _keep_engagement_days(session: Session, _context) -> None:
    pubs = {o.publication_id for o in session.new if isinstance(o, EngagementSnapshot)}
    if pubs:
        refresh_engagement_days(session.connection(), pubs)


_KEEPS_DAYS = "_cvp_keeps_engagement_days"


def keep_engagement_days(sessions) -> None:
    """Make every flush of ``sessions`` (a sessionmaker) that adds snapshots rewrite their publications' days.

    Registered on the records' own sessionmaker, not on SQLAlchemy's ``Session`` class: that would hook
    every session of the process, Airflow's included. Marked on the sessionmaker (see cvp.state.keep_current).
    """
    if getattr(sessions, _KEEPS_DAYS, False):
        return
    event.listen(sessions, "after_flush", _keep_engagement_days)
    setattr(sessions, _KEEPS_DAYS, True)


class RedItem(Base):
    """What the daily sync exchanged with the Red Distrital: pieces sent, pieces received to replicate."""

    __tablename__ = "red_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    direction: Mapped[str] = mapped_column(String(10))  # "enviado" | "recibido"
    dedupe_key: Mapped[str] = mapped_column(String(250), unique=True)
    entity: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JointAgendaLoad(Base):
    """One reading of the Red Distrital's agenda of joint actions: where from, what it created, which rows it refused.

    A refused row is kept here with its line and reason, so that nothing of the agenda is dropped silently.
    """

    __tablename__ = "joint_agenda_loads"
    __table_args__ = (Index("ix_joint_agenda_loads_day", "day", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(300))
    created: Mapped[int] = mapped_column(Integer, default=0)
    existing: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list] = mapped_column(JSON, default=list)  # [{"linea": n, "motivo": "..."}]
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JointAction(Base):
    """A joint action the Red Distrital asks of its entities on one day (join a post, a hashtag, a message).

    The unique key (day, entity, theme, post, message) is what makes a second reading of the day create nothing.
    """

    __tablename__ = "joint_actions"
    __table_args__ = (Index("ix_joint_actions_day", "day", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    day: Mapped[date] = mapped_column(Date)
    entity: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(300))
    hashtag: Mapped[str] = mapped_column(String(140), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    post_url: Mapped[str] = mapped_column(String(500), default="")
    channels: Mapped[list] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(300), default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    need_run_id: Mapped[str] = mapped_column(String(250), default="")  # the need run an 'adaptar' opened


class JointActionDecision(Base):
    """The head's decision on a joint action (unirse / declinar / adaptar): one per action, never changed."""

    __tablename__ = "joint_action_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("joint_actions.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(120))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JointAmplification(Base):
    """Ledger of a joined action's posts: one row per (action, channel), written before and after the call."""

    __tablename__ = "joint_amplifications"
    __table_args__ = (UniqueConstraint("action_id", "channel", name="uq_joint_amplification"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("joint_actions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(30))
    mode: Mapped[str] = mapped_column(String(20))  # "repost" | "cita" | "compartir" | "mensaje"
    state: Mapped[str] = mapped_column(String(20), default="pendiente")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    remote_id: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Report(Base):
    """A report built from the records (engagement, procedure timeliness), kept with its data."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("kind", "period_start", "period_end", name="uq_report_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    files: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelCheck(Base):
    """One daily check of a platform connection: whether it can publish and read metrics, and until when.

    The newest row per channel is the channel's state the forms show (ok / vence / roto); the older ones
    say since when a channel has been broken.
    """

    __tablename__ = "channel_checks"
    __table_args__ = (Index("ix_channel_checks_channel_at", "channel", "checked_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    conn_id: Mapped[str] = mapped_column(String(250))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(10))  # "ok" | "vence" | "roto"
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    scopes: Mapped[list] = mapped_column(JSON, default=list)  # granted, as the platform reported them
    missing_scopes: Mapped[list] = mapped_column(JSON, default=list)


class ChannelNotice(Base):
    """A mail to the head about a channel's token (7 days / 1 day before expiry, a missing permission).

    The unique key (channel, threshold, expiry) is what makes each notice go out once, however many
    times the daily check runs.
    """

    __tablename__ = "channel_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    conn_id: Mapped[str] = mapped_column(String(250))
    kind: Mapped[str] = mapped_column(String(20))  # "vence_7d" | "vence_1d" | "permiso"
    dedupe_key: Mapped[str] = mapped_column(String(250), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
