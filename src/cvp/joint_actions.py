"""The Red Distrital's joint actions: what the district's entities are asked to join each day.

Every morning the Red circulates an agenda: for each action, the day, the entity that asks, the theme,
the day's hashtag, a suggested message, a link, the post to amplify and the channels. This module reads
that agenda (CSV, JSON, the HTTP bulletin or a Google Sheet's values), validates every row, and records
each action once: a bad row is reported with its line and a Spanish reason and does not stop the good
ones; a second reading of the same day creates nothing. The head then decides on each action (join,
decline with a reason, adapt); :mod:`cvp.joint_amplification` posts the joined ones exactly once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cvp import procedure as P
from cvp.config import bogota_date
from cvp.errors import Conflict, InvalidInput, NotFound
from cvp.office import Office
from cvp.records.models import JointAction, JointActionDecision, JointAgendaLoad, JointAmplification, utcnow

#: The agenda's columns, as the Red writes them, and what each is called in a message.
COLUMNS = {
    "fecha": "fecha",
    "entidad": "entidad",
    "tema": "tema",
    "hashtag": "hashtag",
    "mensaje_sugerido": "mensaje sugerido",
    "enlace": "enlace",
    "publicacion_a_amplificar": "publicación a amplificar",
    "canales": "canales",
}
#: Where a joint action can be amplified: a repost/quote on X, a share on Facebook.
JOINT_CHANNELS = ("x", "facebook")
_CHANNEL_ALIASES = {"twitter": "x", "x (twitter)": "x", "fb": "facebook"}

JOIN, DECLINE, ADAPT = "unirse", "declinar", "adaptar"
DECISIONS = {JOIN: "Unirse", DECLINE: "Declinar", ADAPT: "Adaptar"}
STATUS = {None: "Pendiente", JOIN: "Unida", DECLINE: "Declinada", ADAPT: "Adaptada"}
REASON_MAX = 2000
_HASHTAG = re.compile(r"#?[^\W\d_][\w]{0,138}")
_X_STATUS = re.compile(r"^https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/[^/]+/status(?:es)?/(\d+)")


@dataclass(frozen=True)
class Problem:
    """A row of the agenda that was not recorded, and why (shown to people: Spanish)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"Línea {self.line}: {self.reason}"

    def as_dict(self) -> dict:
        return {"linea": self.line, "motivo": self.reason}


@dataclass(frozen=True)
class AgendaRow:
    """One valid joint action of the agenda."""

    day: date
    entity: str
    theme: str
    hashtag: str
    message: str
    link: str
    post_url: str
    channels: tuple[str, ...]
    line: int = 0

    @property
    def key(self) -> str:
        """What makes two rows the same action (the line and the channels' order do not)."""
        parts = (self.day.isoformat(), self.entity.casefold(), self.theme.casefold(), self.post_url, self.message)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:64]


@dataclass
class Agenda:
    rows: list[AgendaRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------------


def parse_records(records: Iterable[tuple[int, object]]) -> Agenda:
    """Validate (line, row) pairs; a row repeated within the agenda is reported once, the first kept."""
    agenda, seen = Agenda(), {}
    for line, raw in records:
        if not isinstance(raw, Mapping):
            agenda.problems.append(Problem(line, "no es una fila con columnas (se esperaba un objeto)."))
            continue
        row, reasons = _validate(raw, line)
        if reasons:
            agenda.problems.append(Problem(line, " ".join(reasons)))
        elif row.key in seen:
            agenda.problems.append(Problem(line, f"repite la acción de la línea {seen[row.key]}; se registra una vez."))
        else:
            seen[row.key] = line
            agenda.rows.append(row)
    return agenda


def parse_csv(text: str) -> Agenda:
    """The agenda as CSV with a header row (comma or semicolon); line numbers are the file's."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return Agenda(problems=[Problem(1, "la agenda está vacía: no trae encabezado ni filas.")])
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    problem = _header_problem(reader.fieldnames or [])
    if problem:
        return Agenda(problems=[Problem(1, problem)])
    records = []
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # a blank line
        if None in row:  # more cells than columns
            records.append((reader.line_num, {"_extra": row.pop(None)}))
            continue
        records.append((reader.line_num, row))
    agenda = parse_records(records)
    if not records:
        agenda.problems.append(Problem(1, "la agenda no trae ninguna acción (solo el encabezado)."))
    return agenda


def parse_json(payload) -> Agenda:
    """The agenda as JSON: a list of objects, or ``{"acciones": [...]}``; 'line' is the element's number."""
    rows = payload.get("acciones") if isinstance(payload, dict) else payload
    if not isinstance(rows, list):
        return Agenda(problems=[Problem(1, "el JSON no trae una lista de acciones («acciones»).")])
    if not rows:
        return Agenda(problems=[Problem(1, "la agenda no trae ninguna acción.")])
    return parse_records(enumerate(rows, 1))


def parse_sheet_values(payload) -> Agenda:
    """The answer of the Sheets API's ``values.get`` (``{"values": [[encabezado...], [fila...]]}``)."""
    values = payload.get("values") if isinstance(payload, dict) else None
    if not values:
        return Agenda(problems=[Problem(1, "la hoja de cálculo está vacía: no trae encabezado ni filas.")])
    header = [str(h).strip() for h in values[0]]
    problem = _header_problem(header)
    if problem:
        return Agenda(problems=[Problem(1, problem)])
    records = [
        (i, dict(zip(header, [str(c) for c in row] + [""] * (len(header) - len(row)), strict=False)))
        for i, row in enumerate(values[1:], 2)
        if any(str(c).strip() for c in row)
    ]
    if not records:
        return Agenda(problems=[Problem(1, "la hoja de cálculo no trae ninguna acción (solo el encabezado).")])
    return parse_records(records)


def read_file(path: Path) -> Agenda:
    """A CSV or JSON agenda from a file (the sample shipped in ``include/ejemplos`` is the default)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return Agenda(problems=[Problem(0, f"no se encuentra el archivo de la agenda ({path}).")])
    except UnicodeDecodeError:
        return Agenda(problems=[Problem(0, f"el archivo de la agenda ({path.name}) no está en UTF-8.")])
    if path.suffix.lower() == ".json":
        try:
            return parse_json(json.loads(text))
        except json.JSONDecodeError as exc:
            return Agenda(problems=[Problem(exc.lineno, f"el JSON no es válido ({exc.msg}).")])
    return parse_csv(text)


def read_sample(path: Path, day: date) -> Agenda:
    """The sample agenda shipped with the product, dated with ``day`` so that a new user sees the day's flow."""
    agenda = read_file(path)
    agenda.rows = [replace(r, day=day) for r in agenda.rows]
    return agenda


def _header_problem(names: list[str]) -> str:
    present = {(n or "").strip().lower() for n in names}
    missing = [label for key, label in COLUMNS.items() if key not in present]
    if missing:
        return "al encabezado le faltan las columnas: " + ", ".join(missing) + "."
    return ""


def _validate(raw: Mapping, line: int) -> tuple[AgendaRow | None, list[str]]:
    if "_extra" in raw:
        return None, ["trae más celdas que columnas el encabezado (¿una coma sin comillas?)."]
    get = {str(k).strip().lower(): v for k, v in raw.items()}

    def text(key: str, limit: int) -> str:
        value = get.get(key)
        value = "" if value is None else str(value).strip()
        if len(value) > limit:
            reasons.append(f"«{COLUMNS[key]}» supera {limit} caracteres.")
        return value

    reasons: list[str] = []
    raw_day = text("fecha", 40)
    day = None
    if not raw_day:
        reasons.append("falta la fecha.")
    else:
        try:
            day = date.fromisoformat(raw_day[:10])
        except ValueError:
            reasons.append(f"la fecha «{raw_day}» no es válida (AAAA-MM-DD).")
    entity, theme = text("entidad", 200), text("tema", 300)
    if not entity:
        reasons.append("falta la entidad.")
    if not theme:
        reasons.append("falta el tema.")
    hashtag = text("hashtag", 140)
    if hashtag and not _HASHTAG.fullmatch(hashtag):
        reasons.append(f"el hashtag «{hashtag}» no es válido (una palabra sin espacios, p. ej. #BogotáCuidadora).")
    elif hashtag and not hashtag.startswith("#"):
        hashtag = "#" + hashtag
    message, link, post_url = text("mensaje_sugerido", 5000), text("enlace", 500), text("publicacion_a_amplificar", 500)
    for key, value in (("enlace", link), ("publicacion_a_amplificar", post_url)):
        if value and not value.startswith(("https://", "http://")):
            reasons.append(f"«{COLUMNS[key]}» no es una dirección web: «{value}».")
    if not message and not post_url:
        reasons.append("no trae ni mensaje sugerido ni publicación a amplificar: no hay nada que publicar.")
    channels: list[str] = []
    raw_channels = get.get("canales")
    items = raw_channels if isinstance(raw_channels, list) else re.split(r"[,;|/]", str(raw_channels or ""))
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        name = _CHANNEL_ALIASES.get(name, name)
        if name not in JOINT_CHANNELS:
            reasons.append(f"el canal «{item}» no admite acciones conjuntas (use x o facebook).")
        elif name not in channels:
            channels.append(name)
    if not channels and not any("canal" in r for r in reasons):
        reasons.append("no indica canales (x, facebook).")
    if reasons:
        return None, reasons
    row = AgendaRow(day, entity, theme, hashtag, message, link, post_url, tuple(channels), line)
    if "x" in row.channels:
        from cvp.checks.xlength import x_weighted_length

        limit = P.CHANNEL["x"].text.max_length
        length = x_weighted_length(plan(row, "x").text)
        if length > limit:
            return None, [f"el mensaje para X con el hashtag ocupa {length} caracteres ponderados y X admite {limit}."]
    return row, []


# --- recording -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    created: list[int]
    existing: int
    problems: list[Problem]
    load_id: int


def record_agenda(office: Office, agenda: Agenda, day: date, source: str) -> LoadResult:
    """Record the agenda's actions once each (unique key), and the reading with its refused rows."""
    created, existing = [], 0
    keys = [r.key for r in agenda.rows]
    with office.session() as s:
        known = (
            set(s.scalars(select(JointAction.dedupe_key).where(JointAction.dedupe_key.in_(keys)))) if keys else set()
        )
    for row in agenda.rows:
        if row.key in known:
            existing += 1
            continue
        try:
            with office.session() as s:
                action = JointAction(
                    dedupe_key=row.key,
                    day=row.day,
                    entity=row.entity,
                    theme=row.theme,
                    hashtag=row.hashtag,
                    message=row.message,
                    link=row.link,
                    post_url=row.post_url,
                    channels=list(row.channels),
                    source=source[:300],
                    line=row.line,
                    created_at=utcnow(),
                )
                s.add(action)
                s.flush()
                created.append(action.id)
        except IntegrityError:  # another reader recorded it first
            existing += 1
    with office.session() as s:
        load = JointAgendaLoad(
            day=day,
            source=source[:300],
            created=len(created),
            existing=existing,
            problems=[p.as_dict() for p in agenda.problems],
            loaded_at=utcnow(),
        )
        s.add(load)
        s.flush()
        load_id = load.id
    return LoadResult(created, existing, list(agenda.problems), load_id)


# --- reading the records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionView:
    """A joint action with its decision and its posts, as pages, mails and tasks show it."""

    action: JointAction
    decision: JointActionDecision | None
    posts: tuple[JointAmplification, ...] = ()

    @property
    def status(self) -> str | None:
        return self.decision.decision if self.decision else None

    @property
    def status_name(self) -> str:
        return STATUS[self.status]


def _views(s, actions: list[JointAction]) -> list[ActionView]:
    ids = [a.id for a in actions]
    if not ids:
        return []
    decisions = {
        d.action_id: d for d in s.scalars(select(JointActionDecision).where(JointActionDecision.action_id.in_(ids)))
    }
    posts: dict[int, list[JointAmplification]] = {}
    for p in s.scalars(
        select(JointAmplification).where(JointAmplification.action_id.in_(ids)).order_by(JointAmplification.id)
    ):
        posts.setdefault(p.action_id, []).append(p)
    return [ActionView(a, decisions.get(a.id), tuple(posts.get(a.id, ()))) for a in actions]


def actions_of_day(office: Office, day: date) -> list[ActionView]:
    with office.session() as s:
        return _views(s, list(s.scalars(select(JointAction).where(JointAction.day == day).order_by(JointAction.id))))


def action(office: Office, action_id: int) -> ActionView:
    with office.session() as s:
        found = s.get(JointAction, action_id)
        if found is None:
            raise NotFound(f"No existe la acción conjunta n.º {action_id}.")
        return _views(s, [found])[0]


def waiting(office: Office, today: date | None = None, limit: int = 50) -> list[ActionView]:
    """Actions of today and later still without the head's decision (an earlier day's are past joining)."""
    today = today or bogota_date()
    with office.session() as s:
        rows = s.scalars(
            select(JointAction)
            .outerjoin(JointActionDecision, JointActionDecision.action_id == JointAction.id)
            .where(JointAction.day >= today, JointActionDecision.id.is_(None))
            .order_by(JointAction.day, JointAction.id)
            .limit(limit)
        )
        return _views(s, list(rows))


def undecided_count(s, day: date) -> int:
    """How many of the day's actions still wait for the head (one query: the deferred wait asks it often)."""
    from sqlalchemy import func

    return s.scalar(
        select(func.count(JointAction.id))
        .outerjoin(JointActionDecision, JointActionDecision.action_id == JointAction.id)
        .where(JointAction.day == day, JointActionDecision.id.is_(None))
    )


def loads_of_day(office: Office, day: date) -> list[JointAgendaLoad]:
    with office.session() as s:
        return list(s.scalars(select(JointAgendaLoad).where(JointAgendaLoad.day == day).order_by(JointAgendaLoad.id)))


# --- what would be posted --------------------------------------------------------------------------

REPOST, QUOTE, SHARE, MESSAGE = "repost", "cita", "compartir", "mensaje"
MODE_NAMES = {
    REPOST: "Repost de la publicación",
    QUOTE: "Cita de la publicación con el mensaje",
    SHARE: "Compartir la publicación enlazada",
    MESSAGE: "Mensaje sugerido con el hashtag del día",
}


@dataclass(frozen=True)
class Plan:
    """What one channel would post for a joined action: how, which text, which post or link."""

    channel: str
    mode: str
    text: str
    target: str = ""  # the X post id (repost, quote) or the link shared (Facebook)

    @property
    def mode_name(self) -> str:
        return MODE_NAMES[self.mode]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\0".join((self.channel, self.mode, self.text.strip(), self.target)).encode()).hexdigest()


def x_post_id(url: str) -> str:
    """The id of an X post from its address (x.com or twitter.com), '' for anything else."""
    m = _X_STATUS.match(url or "")
    return m.group(1) if m else ""


def with_hashtag(message: str, hashtag: str, link: str = "") -> str:
    text = message.strip()
    if hashtag and hashtag.casefold() not in text.casefold():
        text = f"{text} {hashtag}".strip()
    if link and link not in text:
        text = f"{text} {link}".strip()
    return text


def plan(a: JointAction | AgendaRow, channel: str) -> Plan:
    """X: a repost (no message) or a quote of an X post; Facebook: a share of the post's link; elsewhere,
    or without a post to amplify, the suggested message with the day's hashtag (and the link)."""
    if channel == "x":
        post_id = x_post_id(a.post_url)
        if post_id and not a.message:
            return Plan(channel, REPOST, "", post_id)
        if post_id:
            return Plan(channel, QUOTE, with_hashtag(a.message, a.hashtag), post_id)
        return Plan(channel, MESSAGE, with_hashtag(a.message, a.hashtag, a.link or a.post_url))
    if channel == "facebook" and a.post_url:
        return Plan(channel, SHARE, with_hashtag(a.message, a.hashtag), a.post_url)
    return Plan(channel, MESSAGE, with_hashtag(a.message, a.hashtag), a.link)


def plans(a: JointAction | AgendaRow) -> list[Plan]:
    return [plan(a, c) for c in a.channels]


# --- the head's decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionResult:
    decision: JointActionDecision
    already_recorded: bool = False


def decide(office: Office, actor: str, action_id: int, decision: str, reason: str = "") -> DecisionResult:
    """Record the head's decision on a joint action, once, with who and when (Ley 1712)."""
    office.team.require(actor, P.HEAD)
    if decision not in DECISIONS:
        raise InvalidInput(f"Decisión no reconocida: «{decision}». Opciones: unirse, declinar o adaptar.")
    reason = (reason or "").strip()
    if decision == DECLINE and not reason:
        raise InvalidInput("Para declinar una acción conjunta escriba el motivo: queda en el registro.")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"El motivo supera {REASON_MAX} caracteres.")
    current = action(office, action_id)
    if current.decision is not None:
        if current.decision.decision == decision:
            return DecisionResult(current.decision, already_recorded=True)
        raise Conflict(
            f"La acción conjunta n.º {action_id} ya tiene decisión: «{DECISIONS[current.decision.decision]}» de "
            f"{current.decision.decided_by}. Una decisión registrada no se cambia."
        )
    try:
        with office.session() as s:
            row = JointActionDecision(
                action_id=action_id, decision=decision, reason=reason, decided_by=actor, decided_at=utcnow()
            )
            s.add(row)
            s.flush()
            return DecisionResult(row)
    except IntegrityError:  # decided at the same moment elsewhere
        return decide(office, actor, action_id, decision, reason)


# --- adapting: the need it opens -------------------------------------------------------------------


def need_conf(a: JointAction, today: date | None = None) -> dict:
    """The trigger form of ``necesidad_comunicacion`` filled in from an adapted action (one-off)."""
    today = today or bogota_date()
    lines = [f"Acción conjunta de la Red Distrital pedida por {a.entity} para el {a.day:%d/%m/%Y}: {a.theme}."]
    if a.message:
        lines.append(f"Mensaje sugerido: {a.message}")
    if a.hashtag:
        lines.append(f"Hashtag del día: {a.hashtag}")
    for label, url in (("Enlace", a.link), ("Publicación a amplificar", a.post_url)):
        if url:
            lines.append(f"{label}: {url}")
    title = f"Red Distrital: {a.theme}"
    return {
        "titulo": title if len(title) <= 200 else title[:199] + "…",
        "necesidad": "\n".join(lines)[:5000],
        "fuente": "otra",
        "referencia_fuente": f"Red Distrital, acción conjunta n.º {a.id} ({a.entity})"[:250],
        "canales": list(a.channels),
        "publicos_interes": ["ciudadania", "entidades_distritales"],
        "dependencia": "comunicaciones",
        "fecha_limite": max(a.day, today).isoformat(),
        "accion_puntual": True,
    }


def need_run_id(a: JointAction) -> str:
    """One run per adapted action, whatever the retries (Airflow refuses a second run with the same id)."""
    return f"red_distrital_adaptar__{a.id}"


def record_need_run(office: Office, action_id: int, run_id: str) -> None:
    with office.session() as s:
        row = s.get(JointAction, action_id)
        if row is not None and not row.need_run_id:
            row.need_run_id = run_id
