"""The head's dashboard (Tablero): how the pieces did and how the procedure runs, as pandas frames.

Everything is read for a period of whole Bogotá days and optional filters (channel, source document,
público de interés, requesting department) in a handful of set-based statements: one per table, never
one per need. Engagement comes from the pieces' readings by Bogotá day (``engagement_days``, plain
numbers kept with each snapshot as it is collected); a metric a platform never gave stays missing
(NaN), never zero. The frames feed the forms' page, its CSV and XLSX downloads, the charts
(:mod:`cvp.charts`) and the weekly and monthly reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING

from sqlalchemy import String, and_, cast, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from cvp import procedure as P
from cvp.config import TIMEZONE, bogota_date, bogota_day_start
from cvp.engagement import METRIC_KEYS
from cvp.errors import InvalidInput
from cvp.records.models import ENGAGEMENT_COLUMNS, Decision, EngagementDay, Event, Need, Publication, Revision

if TYPE_CHECKING:
    import pandas as pd

PUBLISHED = P.PublicationState.PUBLISHED
#: What the dashboard calls interactions: what people did with a piece (not what they were shown).
INTERACTIONS = ("reacciones", "comentarios", "compartidos")
TOP = 10
#: Ages (days) of what waits now: the buckets' lower bounds and their names.
AGE_BUCKETS = ((0, "0 a 2 días"), (3, "3 a 7 días"), (8, "8 a 14 días"), (15, "15 días o más"))
CANCEL_ACTION = "necesidad_cancelada"

THIS_WEEK, THIS_MONTH, RANGE = "semana", "mes", "rango"
PRESETS = {THIS_WEEK: "Esta semana", THIS_MONTH: "Este mes", RANGE: "Rango de fechas"}
MAX_DAYS = 731
WEEKLY_AFTER_DAYS = 62


# --- period and filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole Bogotá days, ``start`` to ``end`` inclusive."""

    start: date
    end: date
    preset: str = RANGE

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """The period as a half-open UTC interval."""
        return bogota_day_start(self.start), bogota_day_start(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def step(self) -> int:
        """Days per point of the series: a day, or a week (from Monday) when the period is over two months."""
        return 7 if self.days > WEEKLY_AFTER_DAYS else 1

    @property
    def origin(self) -> date:
        """The first point's day: the start, or the Monday of its week."""
        return self.start - timedelta(days=self.start.weekday()) if self.step == 7 else self.start

    @property
    def points(self) -> list[date]:
        """Each point's first day, the period's days or weeks."""
        out, day = [], self.origin
        while day <= self.end:
            out.append(day)
            day += timedelta(days=self.step)
        return out


def period_for(preset: str, today: date, start: date | None = None, end: date | None = None) -> Period:
    """This week (Monday to today), this month (1st to today) or a custom range (refused in Spanish if absurd)."""
    if preset == THIS_WEEK:
        return Period(today - timedelta(days=today.weekday()), today, THIS_WEEK)
    if preset == THIS_MONTH:
        return Period(today.replace(day=1), today, THIS_MONTH)
    if preset != RANGE:
        raise InvalidInput(f"Periodo desconocido: {preset!r}. Use «semana», «mes» o «rango».")
    if start is None or end is None:
        raise InvalidInput("Para un rango de fechas indique la fecha inicial y la final.")
    if end < start:
        raise InvalidInput(f"El periodo termina ({end.isoformat()}) antes de empezar ({start.isoformat()}).")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"El periodo es demasiado largo: como máximo {MAX_DAYS} días.")
    return Period(start, end, RANGE)


@dataclass(frozen=True)
class Filters:
    """Optional filters; each value is a key of the procedure's vocabulary (checked here)."""

    channel: str | None = None
    source: str | None = None
    audience: str | None = None
    department: str | None = None

    def __post_init__(self):
        for value, vocabulary, name in (
            (self.channel, P.CHANNELS, "canal"),
            (self.source, P.SOURCES, "fuente"),
            (self.audience, P.AUDIENCES, "público de interés"),
            (self.department, P.DEPARTMENTS, "dependencia"),
        ):
            if value is not None and value not in vocabulary:
                raise InvalidInput(f"Valor desconocido para el filtro {name}: {value!r}.")

    def need_conditions(self) -> list:
        """SQL conditions on ``needs`` (the JSON lists are matched on their text: portable and exact for keys)."""
        conds = []
        if self.channel:
            conds.append(_json_list_has(Need.channels, self.channel))
        if self.source:
            conds.append(Need.source == self.source)
        if self.audience:
            conds.append(_json_list_has(Need.audiences, self.audience))
        if self.department:
            conds.append(Need.department == self.department)
        return conds

    def describe(self) -> list[str]:
        """The filters in words, for headings and the downloads."""
        out = []
        if self.channel:
            out.append(f"Canal: {P.CHANNELS[self.channel]}")
        if self.source:
            out.append(f"Fuente: {P.SOURCES[self.source]}")
        if self.audience:
            out.append(f"Público de interés: {P.AUDIENCES[self.audience]}")
        if self.department:
            out.append(f"Dependencia: {P.DEPARTMENTS[self.department]}")
        return out


def _json_list_has(column, key: str):
    return cast(column, String).like(f'%"{key}"%')


# --- the result ------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    """The frames of one period and filters; column names are Spanish, as the downloads show them."""

    period: Period
    filters: Filters
    now: datetime
    engagement_daily: pd.DataFrame  # dia, canal, impresiones, interacciones (accumulated to that day)
    engagement_channels: pd.DataFrame  # canal, publicaciones, con_metricas, impresiones, interacciones, ...
    top: pd.DataFrame  # the period's pieces with most interactions
    flow: pd.DataFrame  # dia, abiertas, publicadas, canceladas
    summary: dict = field(default_factory=dict)
    durations: pd.DataFrame | None = None  # tramo, necesidades, mediana_horas, p90_horas
    rounds: pd.DataFrame | None = None  # punto_control, revisiones, aprobadas, devueltas, necesidades_con_devolucion
    returns: pd.DataFrame | None = None  # the comments of the returns (why texts and designs came back)
    timeliness: pd.DataFrame | None = None  # necesidad, titulo, fecha_limite, publicada_el, a_tiempo
    waiting: pd.DataFrame | None = None  # rol, one column per age bucket, total

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table with Spanish headers, in the page's order (one CSV each, one XLSX sheet each)."""
        from cvp.dashboard_tables import tables

        return tables(self)


def build(session: Session, period: Period, filters: Filters | None = None, now: datetime | None = None) -> Dashboard:
    """Read the period's records (a fixed number of statements, whatever the volume) into frames."""
    filters = filters or Filters()
    now = now or datetime.now(UTC)
    pubs = _publications(session, period, filters)
    latest = _latest(pubs, _last_readings(session, period, filters))
    needs = _needs(session, period, filters)
    published = _published_in(needs, period)
    d = Dashboard(
        period=period,
        filters=filters,
        now=now,
        engagement_daily=_daily(_increments(session, period, filters), period),
        engagement_channels=_per_channel(latest),
        top=_top(latest),
        flow=_flow(needs, period),
    )
    d.timeliness = _timeliness(published)
    d.durations = _durations(session, period, filters, published)
    d.rounds, d.returns = _rounds(session, period, filters)
    d.waiting = _waiting(session, filters, now)
    d.summary = _summary(d, needs, period)
    return d


# --- engagement ------------------------------------------------------------------------------------


def _pub_conditions(period: Period, filters: Filters) -> list:
    lo, hi = period.bounds
    conds = [Publication.state == PUBLISHED, Publication.published_at >= lo, Publication.published_at < hi]
    if filters.channel:
        conds.append(Publication.channel == filters.channel)
    return conds + filters.need_conditions()


def _publications(session: Session, period: Period, filters: Filters) -> pd.DataFrame:

    return _read(
        session,
        select(
            Publication.id,
            Publication.need_id,
            Need.title,
            Publication.channel,
            _raw(Publication.published_at),
            Publication.url,
            Publication.design_revision_id,
            Revision.media_type,
            Revision.alt_text,
        )
        .join(Need, Need.id == Publication.need_id)
        .outerjoin(Revision, Revision.id == Publication.design_revision_id)
        .where(*_pub_conditions(period, filters))
        .order_by(Publication.published_at, Publication.id),
        ["publicacion", "necesidad", "titulo", "canal", "publicado_en", "url", "diseno", "tipo", "texto_alt"],
        times=("publicado_en",),
    )


def _pub_ids(period: Period, filters: Filters):
    return select(Publication.id).join(Need, Need.id == Publication.need_id).where(*_pub_conditions(period, filters))


def _last_readings(session: Session, period: Period, filters: Filters) -> pd.DataFrame:
    """The last reading, up to the period's end, of each piece published in the period (all its metrics).

    Read from ``engagement_days`` (plain numbers kept as readings are collected): the row of each
    piece's last day up to the period's end, found by one index lookup per piece; no JSON is read.
    """
    D = EngagementDay
    last_day = (
        select(func.max(D.day))
        .where(D.publication_id == Publication.id, D.day <= period.end)
        .correlate(Publication)
        .scalar_subquery()
    )
    frame = _read(
        session,
        select(Publication.id, _raw(D.taken_at), *(getattr(D, ENGAGEMENT_COLUMNS[k]) for k in METRIC_KEYS))
        .join(Need, Need.id == Publication.need_id)
        .join(D, and_(D.publication_id == Publication.id, D.day == last_day))
        .where(*_pub_conditions(period, filters)),
        ["publicacion", "tomado_en", *METRIC_KEYS],
        times=("tomado_en",),
        floats=METRIC_KEYS,
    )
    frame["interacciones"] = frame[list(INTERACTIONS)].sum(axis=1, min_count=1)
    return frame


def _increments(session: Session, period: Period, filters: Filters) -> pd.DataFrame:
    """What the period's pieces added each day (or week), per channel: the series' points.

    Each day's increment over the last known figure is kept as readings are collected
    (``engagement_days``), so the database sums them per day and channel and Python sees a few rows a
    day, whatever the number of pieces. A sum of only missing increments stays missing.
    """
    import pandas as pd

    D = EngagementDay
    rows = session.execute(
        select(D.day, D.channel, func.sum(D.new_impressions), func.sum(D.new_interactions))
        .where(
            D.publication_id.in_(_pub_ids(period, filters)),
            D.day >= period.start,  # always true (read after publication); bounds each piece's key range
            D.day <= period.end,
        )
        .group_by(D.day, D.channel)
    ).all()
    frame = pd.DataFrame(rows, columns=["dia", "canal", "d_impresiones", "d_interacciones"])
    for c in ("d_impresiones", "d_interacciones"):
        frame[c] = frame[c].astype("float64")
    if period.step != 1:
        origin, step = period.origin, period.step
        frame["dia"] = [origin + timedelta(days=(d - origin).days // step * step) for d in frame["dia"]]
        frame = frame.groupby(["dia", "canal"], as_index=False).sum(min_count=1)
    return frame


def _latest(pubs: pd.DataFrame, last: pd.DataFrame) -> pd.DataFrame:
    """Each publication with its last reading in the period (NaN metrics when never read)."""
    return pubs.merge(last, on="publicacion", how="left")


def _daily(increments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Impressions and interactions accumulated per channel at the end of each day (or week) of the period.

    Each piece's reading is cumulative; per piece a day's increment is its last reading that day minus
    the last known before (a missing value keeps the last known one); the increments, summed per channel
    and point, are accumulated. A channel with no reading yet is missing at that point, not zero.
    """
    import pandas as pd

    days = pd.Index(period.points, name="dia")
    columns = ["dia", "canal", "impresiones", "interacciones"]
    if increments.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for metric in ("impresiones", "interacciones"):
        table = increments.set_index(["dia", "canal"])[f"d_{metric}"].unstack("canal")
        # A point without readings keeps the total so far; NaN stays NaN until the channel's first figure.
        table = table.reindex(days).cumsum().ffill()
        out.append(table.stack(future_stack=True).rename(metric))
    frame = pd.concat(out, axis=1).reset_index()
    frame.columns = columns
    first_seen = increments.groupby("canal")["dia"].min()
    frame = frame[frame["dia"] >= frame["canal"].map(first_seen)]
    frame = frame.sort_values(["dia", "canal"], key=_channel_order_key).reset_index(drop=True)
    return frame


def _channel_order_key(series):
    if series.name == "canal":
        order = {c: i for i, c in enumerate(P.CHANNELS)}
        return series.map(lambda c: order.get(c, len(order)))
    return series


def _per_channel(latest: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    metrics = [*METRIC_KEYS, "interacciones"]
    columns = ["canal", "publicaciones", "con_metricas", *metrics]
    if latest.empty:
        return pd.DataFrame(columns=columns)
    grouped = latest.groupby("canal", sort=False)
    frame = pd.DataFrame(
        {
            "publicaciones": grouped.size(),
            "con_metricas": grouped["tomado_en"].count(),
            **{m: grouped[m].sum(min_count=1) for m in metrics},
        }
    ).reset_index()
    frame = frame[columns].sort_values("canal", key=_channel_order_key).reset_index(drop=True)
    return frame


def _top(latest: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "publicacion",
        "necesidad",
        "titulo",
        "canal",
        "publicado_en",
        "url",
        "diseno",
        "tipo",
        "texto_alt",
        "impresiones",
        "interacciones",
        "tomado_en",
    ]
    frame = latest[columns].sort_values(
        ["interacciones", "impresiones", "publicado_en"], ascending=[False, False, True], na_position="last"
    )
    return frame.head(TOP).reset_index(drop=True)


# --- the procedure ---------------------------------------------------------------------------------


def _needs(session: Session, period: Period, filters: Filters) -> pd.DataFrame:
    """The needs opened, published or cancelled in the period, with when each of those happened."""
    import pandas as pd

    lo, hi = period.bounds
    last_pub = (
        select(Publication.need_id, func.max(Publication.published_at).label("publicada_el"))
        # Earlier publications cannot make a need published in the period (nor one opened in it).
        .where(Publication.state == PUBLISHED, Publication.published_at >= lo)
        .group_by(Publication.need_id)
        .subquery()
    )
    cancelled = (
        select(Event.need_id, func.min(Event.at).label("cancelada_el"))
        .where(Event.action == CANCEL_ACTION)
        .group_by(Event.need_id)
        .subquery()
    )
    published_at = last_pub.c.publicada_el
    frame = _read(
        session,
        select(
            Need.id,
            Need.title,
            Need.status,
            _raw(Need.created_at),
            Need.deadline,
            _raw(last_pub.c.publicada_el),
            _raw(cancelled.c.cancelada_el),
        )
        .outerjoin(last_pub, last_pub.c.need_id == Need.id)
        .outerjoin(cancelled, cancelled.c.need_id == Need.id)
        .where(
            *filters.need_conditions(),
            or_(
                and_(Need.created_at >= lo, Need.created_at < hi),
                and_(Need.status == P.NeedStatus.PUBLISHED, published_at >= lo, published_at < hi),
                and_(cancelled.c.cancelada_el >= lo, cancelled.c.cancelada_el < hi),
            ),
        )
        .order_by(Need.id),
        ["necesidad", "titulo", "estado", "creada_el", "fecha_limite", "publicada_el", "cancelada_el"],
        times=("creada_el", "publicada_el", "cancelada_el"),
    )
    frame.loc[frame["estado"] != P.NeedStatus.PUBLISHED, "publicada_el"] = pd.NaT
    return frame


def _in_period(series: pd.Series, period: Period) -> pd.Series:
    lo, hi = period.bounds
    return series.notna() & (series >= lo) & (series < hi)


def _published_in(needs: pd.DataFrame, period: Period) -> pd.DataFrame:
    return needs[_in_period(needs["publicada_el"], period)].reset_index(drop=True)


def _flow(needs: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Needs opened, published and cancelled per day (per week when the period is longer than two months)."""
    import pandas as pd

    weekly = period.step == 7
    index = period.points
    counts = {}
    for name, column in (("abiertas", "creada_el"), ("publicadas", "publicada_el"), ("canceladas", "cancelada_el")):
        values = needs.loc[_in_period(needs[column], period), column]
        days = pd.Series(_bogota_days(values), dtype="object")
        if weekly:
            days = days.map(lambda d: d - timedelta(days=d.weekday()))
        counts[name] = days.value_counts().reindex(index, fill_value=0).astype("int64")
    frame = pd.DataFrame(counts, index=pd.Index(index, name="semana" if weekly else "dia")).reset_index()
    return frame


def _timeliness(published: pd.DataFrame) -> pd.DataFrame:
    frame = published[["necesidad", "titulo", "fecha_limite", "creada_el", "publicada_el"]].copy()
    frame["a_tiempo"] = [
        bogota_date(p.to_pydatetime()) <= d for p, d in zip(frame["publicada_el"], frame["fecha_limite"], strict=True)
    ]
    frame["horas_hasta_publicar"] = (frame["publicada_el"] - frame["creada_el"]).dt.total_seconds() / 3600
    return frame.reset_index(drop=True)


def _durations(session: Session, period: Period, filters: Filters, published: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile, in hours, of trigger → publication and of each activity.

    An activity's time is the time from the previous act to each of its own acts, summed per need (as
    :func:`cvp.metrics.compute` counts it); the previous act comes from a window over the audit trail.
    """
    import pandas as pd

    columns = ["tramo", "actividad", "necesidades", "mediana_horas", "p90_horas"]
    rows = []
    total = published["publicada_el"] - published["creada_el"]
    hours = total.dt.total_seconds() / 3600
    rows.append(["Desde la solicitud hasta la publicación", None, *_stats(hours)])
    if not published.empty:
        lo, hi = period.bounds
        last_pub = (
            select(Publication.need_id, func.max(Publication.published_at).label("at"))
            .where(Publication.state == PUBLISHED, Publication.published_at >= lo)
            .group_by(Publication.need_id)
            .subquery()
        )
        ids = (
            select(Need.id)
            .join(last_pub, last_pub.c.need_id == Need.id)
            .where(
                Need.status == P.NeedStatus.PUBLISHED,
                last_pub.c.at >= lo,
                last_pub.c.at < hi,
                *filters.need_conditions(),
            )
        )
        previous = func.lag(Event.at).over(partition_by=Event.need_id, order_by=Event.id)
        trail = select(Event.need_id, Event.activity, _raw(Event.at), _raw(previous)).where(Event.need_id.in_(ids))
        events = _read(session, trail, ["necesidad", "actividad", "at", "antes"], times=("at", "antes"))
        events = events.dropna(subset=["antes"])
        if not events.empty:
            events["horas"] = (events["at"] - events["antes"]).dt.total_seconds() / 3600
            per_need = events.groupby(["actividad", "necesidad"])["horas"].sum()
            for activity, values in per_need.groupby(level=0):
                rows.append([f"{activity}. {P.ACTIVITY[int(activity)].name}", int(activity), *_stats(values)])
    frame = pd.DataFrame(rows, columns=columns)
    frame["actividad"] = frame["actividad"].astype("Int64")
    return frame


def _stats(hours: pd.Series) -> list:
    hours = hours.dropna()
    if hours.empty:
        return [0, float("nan"), float("nan")]
    return [int(len(hours)), float(hours.median()), float(hours.quantile(0.9))]


def _rounds(session: Session, period: Period, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decisions at control points 7 and 12 taken in the period, and the comments of the returns."""
    import pandas as pd

    lo, hi = period.bounds
    decisions = _read(
        session,
        select(
            Decision.need_id,
            Need.title,
            Decision.control_point,
            Revision.number,
            Decision.decision,
            Decision.comment,
            _raw(Decision.decided_at),
        )
        .join(Need, Need.id == Decision.need_id)
        .join(Revision, Revision.id == Decision.revision_id)
        .where(Decision.decided_at >= lo, Decision.decided_at < hi, *filters.need_conditions())
        .order_by(Decision.decided_at, Decision.id),
        ["necesidad", "titulo", "punto_control", "revision", "decision", "comentario", "decidida_el"],
        times=("decidida_el",),
    )
    out = []
    for cp, review in P.REVIEW_AT.items():
        at = decisions[decisions["punto_control"] == cp]
        returned = at[at["decision"] == P.REJECTED]
        out.append(
            {
                "punto_control": cp,
                "que_se_revisa": review.name,
                "revisiones": len(at),
                "aprobadas": int((at["decision"] == P.APPROVED).sum()),
                "devueltas": len(returned),
                "necesidades_con_devolucion": int(returned["necesidad"].nunique()),
            }
        )
    returns = decisions[decisions["decision"] == P.REJECTED].drop(columns=["decision"]).reset_index(drop=True)
    return pd.DataFrame(out), returns


def _waiting(session: Session, filters: Filters, now: datetime) -> pd.DataFrame:
    """The needs in course now, by whom they wait for and for how long (one read of the step columns)."""
    import pandas as pd

    rows = session.execute(
        select(Need.step_role, Need.step_since).where(
            Need.status == P.NeedStatus.IN_COURSE, Need.step_role.is_not(None), *filters.need_conditions()
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["rol", "desde"])
    names = [name for _, name in AGE_BUCKETS]
    roles = [r for r in (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN, P.SYSTEM)]
    if frame.empty:
        table = pd.DataFrame(0, index=pd.Index(roles, name="rol"), columns=names)
    else:
        age = (pd.Timestamp(now) - _utc(frame["desde"])).dt.days.clip(lower=0)
        bounds = [b for b, _ in AGE_BUCKETS] + [10**9]
        frame["antiguedad"] = pd.cut(age, bins=bounds, right=False, labels=names)
        table = pd.crosstab(frame["rol"], frame["antiguedad"], dropna=False).reindex(
            index=roles + sorted(set(frame["rol"]) - set(roles)), columns=names, fill_value=0
        )
        table.index.name = "rol"
    table = table.fillna(0).astype("int64")
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table.reset_index()


def _summary(d: Dashboard, needs: pd.DataFrame, period: Period) -> dict:
    on_time = d.timeliness["a_tiempo"]
    published = len(d.timeliness)
    return {
        "abiertas": int(_in_period(needs["creada_el"], period).sum()),
        "publicadas": published,
        "canceladas": int(_in_period(needs["cancelada_el"], period).sum()),
        "a_tiempo": int(on_time.sum()),
        "porcentaje_a_tiempo": round(100 * float(on_time.mean()), 1) if published else None,
        "publicaciones": int(d.engagement_channels["publicaciones"].sum()) if len(d.engagement_channels) else 0,
        "en_espera": int(d.waiting["total"].sum()),
    }


# --- helpers ---------------------------------------------------------------------------------------


def _raw(column):
    """A column read without its per-row conversion (``UTCDateTime``): :func:`_read` converts whole columns."""
    return type_coerce(column, NullType())


def _read(session: Session, stmt, columns: list[str], *, times=(), floats=()) -> pd.DataFrame:
    """A statement's rows as a frame, built column by column (much cheaper than row objects for 10⁵ rows).

    ``times`` are naive UTC instants (a string on SQLite, a datetime on PostgreSQL) → aware UTC;
    ``floats`` → float64 with NaN where the database gave NULL.
    """
    import numpy as np
    import pandas as pd

    rows = session.connection().execute(stmt).all()  # Core rows: no ORM loading step
    # One pass per column: ``zip(*rows)`` over 10⁵ rows costs ten times more.
    values = [list(map(itemgetter(i), rows)) for i in range(len(columns))]
    data = {}
    for name, column in zip(columns, values, strict=True):
        if name in times:
            data[name] = pd.to_datetime(pd.Series(column, dtype="object"), utc=True, format="ISO8601")
        elif name in floats:
            data[name] = pd.Series(np.array(column, dtype="float64"))
        else:
            data[name] = pd.Series(column, dtype="object" if not column else None)
    return pd.DataFrame(data, columns=columns)


def _utc(series: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(series, utc=True)


def _bogota_days(series: pd.Series) -> list[date]:
    import pandas as pd

    if series.empty:
        return []
    return list(pd.to_datetime(series, utc=True).dt.tz_convert(TIMEZONE).dt.date)
