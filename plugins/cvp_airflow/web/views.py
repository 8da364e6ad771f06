"""What the pages and the API show, computed from the records: a need's file, diffs, previews, the month.

Nothing here renders HTML: templates escape every value, and the diff and the preview highlighting
are lists of (kind, text) segments that the templates wrap in elements.
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from difflib import SequenceMatcher
from urllib.parse import quote

from cvp import inbox
from cvp import procedure as P
from cvp import state as S
from cvp.config import TIMEZONE
from cvp.office import Office
from cvp.records.models import Event, Need, Revision
from cvp.rendering import MONTHS

ORG_NAME = "Caja de la Vivienda Popular"
PREVIEW_CHANNELS = tuple(P.CHANNELS)
WEEKDAYS = ("Lunes", "Martes", "Miércoles", "Jueves", "Viernes", "Sábado", "Domingo")
# Display names come from the procedure's vocabulary (cvp.procedure) and the month names from cvp.rendering.
DECISION_NAMES = P.REVISION_STATE_NAMES
KIND_NAMES = {kind: review.name for kind, review in P.REVIEWS.items()}
SEVERITY_NAMES = {"error": "Error", "warning": "Advertencia", "info": "Información"}
STATUS_NAMES = P.NEED_STATUS_NAMES
IN_COURSE, CANCELLED, CANCELLED_EVENT = P.NeedStatus.IN_COURSE, P.NeedStatus.CANCELLED, "necesidad_cancelada"
PUBLISHING_STATES = S.GOING_OUT  # a need whose piece is already going out is no longer cancelled
PUBLICATION_STATE_NAMES = {
    "pendiente": "Pendiente",
    "enviando": "Enviando",
    "publicado": "Publicada",
    "sin_confirmar": "Sin confirmar",
    "fallido": "Fallida",
}
DAG_ID = "necesidad_comunicacion"
PUBLISH_TASK_NAME = P.display_name(14)
# Where a step is done, relative to the need's page (activity 14: the unconfirmed publications there).
STEP_PAGES = {
    2: "/reunion",
    3: "/plan",
    5: "/texto",
    8: "/texto",
    7: "/revision-texto",
    10: "/diseno",
    12: "/revision-diseno",
    14: "#sec-publicaciones",
}


# --- diff ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s+|[^\s]+")
# Token pairs one diff may compare. SequenceMatcher's work grows with the cube of repetitive texts (minutes
# for a few thousand words, on every view of the need and the review): within this budget it takes a
# fraction of a second whatever the texts.
DIFF_BUDGET = 100_000


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level changes from ``old`` to ``new`` as ("=", "+" or "-", text) segments.

    Texts too long to compare word by word within ``DIFF_BUDGET`` are compared line by line first,
    then the words of each changed passage; a passage still too long is shown removed and added whole.
    """
    budget = [DIFF_BUDGET]
    out: list[tuple[str, str]] = []
    for op, x, y in _blocks(_TOKEN.findall(old or ""), _TOKEN.findall(new or ""), budget):
        if op != "?":
            out += _segments(op, x, y)
            continue
        for op2, x2, y2 in _blocks(x.splitlines(keepends=True), y.splitlines(keepends=True), budget):
            if op2 == "~":
                for op3, x3, y3 in _blocks(_TOKEN.findall(x2), _TOKEN.findall(y2), budget):
                    out += _segments(op3, x3, y3)
            else:
                out += _segments(op2, x2, y2)
    return [s for s in out if s[1]]


def _segments(op: str, old: str, new: str) -> list[tuple[str, str]]:
    return [("=", old)] if op == "=" else [("-", old), ("+", new)]


def _blocks(a: list[str], b: list[str], budget: list[int]) -> list[tuple[str, str, str]]:
    """("=", same, same), ("~", old, new) or, when too long to compare within ``budget``, ("?", old, new)."""
    lo = hi = 0
    if len(a) * len(b) > budget[0]:  # only what lies between the common beginning and end is compared
        n = min(len(a), len(b))
        while lo < n and a[lo] == b[lo]:
            lo += 1
        while hi < n - lo and a[len(a) - 1 - hi] == b[len(b) - 1 - hi]:
            hi += 1
    head, tail = "".join(a[:lo]), "".join(a[len(a) - hi :])
    a, b = a[lo : len(a) - hi], b[lo : len(b) - hi]
    out = [("=", head, head)]
    if len(a) * len(b) > budget[0]:
        out.append(("?", "".join(a), "".join(b)))
    else:
        budget[0] -= len(a) * len(b)
        for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            out.append(("=" if op == "equal" else "~", "".join(a[i1:i2]), "".join(b[j1:j2])))
    out.append(("=", tail, tail))
    return out


@dataclass
class ChannelDiff:
    channel: str
    segments: list[tuple[str, str]]

    @property
    def changed(self) -> bool:
        return any(op != "=" for op, _ in self.segments)


def text_diff(previous: Revision | None, current: Revision) -> list[ChannelDiff]:
    if previous is None:
        return []
    channels = list(dict.fromkeys([*current.texts, *previous.texts]))
    return [ChannelDiff(c, word_diff(previous.texts.get(c, ""), current.texts.get(c, ""))) for c in channels]


# --- previews ------------------------------------------------------------------------------------

_HIGHLIGHT = re.compile(r"https?://\S+|www\.\S+|#[\wÁÉÍÓÚÜÑáéíóúüñ]+|@\w+")


def highlight(text: str) -> list[tuple[str, str]]:
    """Split a post into plain text and the parts platforms show as links (URLs, #tags, @mentions)."""
    out, pos = [], 0
    for m in _HIGHLIGHT.finditer(text or ""):
        if m.start() > pos:
            out.append(("texto", text[pos : m.start()]))
        out.append(("enlace", m.group()))
        pos = m.end()
    if pos < len(text or ""):
        out.append(("texto", text[pos:]))
    return out


@dataclass
class Preview:
    channel: str
    segments: list[tuple[str, str]]
    more: bool  # the platform folds the rest behind "ver más"
    title: str = ""


FOLD_AT = {"facebook": 480, "instagram": 125, "youtube": 160}


def preview(channel: str, text: str, title: str = "") -> Preview:
    text = text or ""
    fold = FOLD_AT.get(channel)
    shown, more = (text[:fold].rstrip() + "…", True) if fold and len(text) > fold else (text, False)
    return Preview(channel, highlight(shown), more, title)


@dataclass
class Media:
    """How a design is shown: image, video or a document link."""

    url: str
    kind: str  # imagen | video | pdf
    alt: str
    media_type: str


def media_of(rev: Revision | None, url: str) -> Media | None:
    if rev is None:
        return None
    kind = (
        "imagen" if rev.media_type.startswith("image/") else "video" if rev.media_type.startswith("video/") else "pdf"
    )
    return Media(url, kind, rev.alt_text, rev.media_type)


# --- a need's file -------------------------------------------------------------------------------


@dataclass
class NeedFile:
    need: Need
    step: inbox.Step | None
    timeline: list[inbox.TimelineEntry]
    texts: list[Revision]
    designs: list[Revision]
    decisions: list[dict] = field(default_factory=list)
    standing: S.Standing | None = None  # where the need stands and what may be done next

    @property
    def current_text(self) -> Revision | None:
        return self.texts[-1] if self.texts else None

    @property
    def previous_text(self) -> Revision | None:
        return self.texts[-2] if len(self.texts) > 1 else None

    @property
    def current_design(self) -> Revision | None:
        return self.designs[-1] if self.designs else None

    @property
    def previous_design(self) -> Revision | None:
        return self.designs[-2] if len(self.designs) > 1 else None

    @property
    def approved_text(self) -> Revision | None:
        return next((r for r in reversed(self.texts) if r.state == P.APPROVED), None)

    @property
    def last_returned_text(self) -> Revision | None:
        return next((r for r in reversed(self.texts) if r.state == P.REJECTED), None)

    @property
    def last_returned_design(self) -> Revision | None:
        return next((r for r in reversed(self.designs) if r.state == P.REJECTED), None)

    @property
    def cancellation(self) -> Event | None:
        """The audit event of the head's cancellation (its ``detail["motivo"]`` is the reason), if cancelled."""
        if self.need.status != CANCELLED:
            return None
        events = (e for t in self.timeline for e in t.events if e.action == CANCELLED_EVENT)
        return next(events, None)

    def text_by_id(self, revision_id: int) -> Revision | None:
        """The text revision a publication carries (what to look for on the platform)."""
        return next((r for r in self.texts if r.id == revision_id), None)


def need_file(office: Office, need_id: int) -> NeedFile:
    """Everything a need's page shows, read in one transaction."""
    with office.session() as s:
        need = office.records.need(s, need_id)
        standing = S.standing(s, need_id)
        step = standing.step if standing else None
        timeline = inbox.timeline(s, need, step)
    revisions = office.revisions(need_id)
    texts = sorted((r for r in revisions if r.kind == P.TEXT), key=lambda r: r.number)
    designs = sorted((r for r in revisions if r.kind == P.DESIGN), key=lambda r: r.number)
    decisions = [
        {"revision": r, "decision": r.decision}
        for r in sorted(revisions, key=lambda r: r.created_at)
        if r.decision is not None
    ]
    decisions.sort(key=lambda d: d["decision"].decided_at)
    return NeedFile(need, step, timeline, texts, designs, decisions, standing)


# --- Airflow -------------------------------------------------------------------------------------


def airflow_run_path(run_id: str | None) -> str:
    """Path, under Airflow's base URL, of the need's DAG run in Airflow 3's UI (the DAG without a run)."""
    if not run_id:
        return f"dags/{DAG_ID}"
    return f"dags/{DAG_ID}/runs/{quote(run_id, safe='')}"


def airflow_publish_task_path(run_id: str | None) -> str:
    """Path of the run's mapped task 'publicar_pieza' (one instance per channel), where it is cleared."""
    if not run_id:
        return f"dags/{DAG_ID}"
    return f"{airflow_run_path(run_id)}/tasks/publicar_pieza/mapped"


# --- ages ----------------------------------------------------------------------------------------


def age(since: datetime, now: datetime | None = None) -> str:
    """'hace 3 días', 'hace 5 horas', 'hace unos minutos'."""
    delta = (now or datetime.now(UTC)) - since
    days, hours = delta.days, delta.seconds // 3600
    if days >= 1:
        return f"hace {days} día{'s' if days != 1 else ''}"
    if hours >= 1:
        return f"hace {hours} hora{'s' if hours != 1 else ''}"
    return "hace unos minutos"


def deadline_note(deadline: date, today: date | None = None) -> tuple[str, str]:
    """(text, urgency) of a deadline against today in Bogotá; urgency: vencida | hoy | pronto | a_tiempo."""
    left = (deadline - (today or inbox.today_bogota())).days
    if left < 0:
        return f"vencida hace {-left} día{'s' if left != -1 else ''}", "vencida"
    if left == 0:
        return "vence hoy", "hoy"
    if left <= 2:
        return f"vence en {left} día{'s' if left != 1 else ''}", "pronto"
    return f"vence en {left} días", "a_tiempo"


# --- the month -----------------------------------------------------------------------------------


@dataclass
class Day:
    day: date
    in_month: bool
    entries: list[inbox.CalendarEntry]  # those of the list's current page
    today: bool = False
    count: int = 0  # every piece of the day (with the filters)


@dataclass
class Month:
    year: int
    month: int
    weeks: list[list[Day]]
    entries: list[inbox.CalendarEntry]  # one page of the list (the month, or the chosen day)
    total: int = 0
    next_key: str | None = None
    day: date | None = None
    next_url: str | None = None  # set by the page, which knows its own address
    first_url: str | None = None

    @property
    def name(self) -> str:
        return f"{MONTHS[self.month - 1]} de {self.year}"

    @property
    def previous(self) -> str:
        y, m = (self.year, self.month - 1) if self.month > 1 else (self.year - 1, 12)
        return f"{y:04d}-{m:02d}"

    @property
    def next(self) -> str:
        y, m = (self.year, self.month + 1) if self.month < 12 else (self.year + 1, 1)
        return f"{y:04d}-{m:02d}"

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(value: str | None) -> tuple[int, int]:
    if value:
        m = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if m and 1 <= int(m.group(2)) <= 12 and 2000 <= int(m.group(1)) <= 2200:
            return int(m.group(1)), int(m.group(2))
    today = inbox.today_bogota()
    return today.year, today.month


def parse_day(value: str | None, year: int, month_: int) -> date | None:
    """A day of the shown month's grid (AAAA-MM-DD), else None (the whole month)."""
    if not value or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    weeks = _calendar.Calendar(firstweekday=0).monthdatescalendar(year, month_)
    return day if weeks[0][0] <= day <= weeks[-1][-1] else None


def month(
    office: Office,
    year: int,
    month_: int,
    channel: str | None = None,
    *,
    kind: str | None = None,
    day: date | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> Month:
    """The month's grid with every day's count, and one page of its pieces (or of one day's) in order.

    A constant number of statements whatever the volume: counts by day from the database, one page
    of entries from the lists' indexes.
    """
    cal = _calendar.Calendar(firstweekday=0)
    weeks_dates = cal.monthdatescalendar(year, month_)
    first, last = weeks_dates[0][0], weeks_dates[-1][-1]
    lo = day or date(year, month_, 1)
    hi = day or date(year, month_, _calendar.monthrange(year, month_)[1])
    kind = kind if kind in inbox.KIND_NAMES else None
    with office.session() as s:
        counts = inbox.calendar_counts(s, first, last, channel)
        page = inbox.calendar_page(s, lo, hi, channel=channel, kind=kind, after=after, limit=limit)

    def count(d: date) -> int:
        c = counts.get(d, {})
        return c.get(kind, 0) if kind else sum(c.values())

    by_day: dict[date, list[inbox.CalendarEntry]] = {}
    for e in page.items:
        by_day.setdefault(e.day, []).append(e)
    today = inbox.today_bogota()
    weeks = [[Day(d, d.month == month_, by_day.get(d, []), d == today, count(d)) for d in week] for week in weeks_dates]
    total = sum(count(d) for d in counts if lo <= d <= hi)
    return Month(year, month_, weeks, page.items, total, page.next, day)


def local(value: datetime | None) -> datetime | None:
    return value.astimezone(TIMEZONE) if value else None
