"""The office's role-checked commands, shared by the forms and the command line.

Each command checks the actor's role in the team file first, then the rules of its input that hold
whatever the door, then calls the domain with the actor's username, so the audit trail names the
person and the forms and ``python -m cvp`` can never disagree on who may do what. The domain enforces
the procedure's own rules: order of activities, current revision only, nobody approves their own
work, one decision per revision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.exc import IntegrityError

from cvp import procedure as P
from cvp.errors import Conflict, InvalidInput, NotFound
from cvp.office import DecisionOutcome, Office
from cvp.records.models import Document, Need, Publication, Revision

# Who may do what: the procedure's roles for each command (section 8 of the procedure).
MEETING_ROLES = (P.HEAD, P.PROFESSIONAL)
PLAN_ROLES = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN)
TEXT_ROLES = (P.REVIEWS[P.TEXT].author_role,)
DESIGN_ROLES = (P.REVIEWS[P.DESIGN].author_role,)
DECISION_ROLES = (P.HEAD,)
CANCEL_ROLES = (P.HEAD,)
PUBLICATION_ROLES = (P.PROFESSIONAL, P.HEAD)
ANY_ROLE = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN, P.READER)

CANCEL_REASON_MAX = 5000
URL_MAX, REMOTE_ID_MAX = 500, 200  # the ledger's columns

# X's parser (twitter-text) is quadratic on runs like "a.a.a.": about 0.5 s for 600 characters, hours for
# 100,000, holding the GIL of the whole process. X admits 280 weighted characters and a link weighs 23
# however long it is, so a publishable post is well under this many characters: longer ones are refused
# before the parser sees them.
X_TEXT_MAX_CHARS = 600


# --- activities 2 and 3 ----------------------------------------------------------------------------


def record_meeting(office: Office, actor: str, need_id: int, data: dict) -> Document:
    """Activity 2: the team meeting (208-SADM-Ft-54)."""
    office.team.require(actor, *MEETING_ROLES)
    return office.record_meeting(need_id, actor, data)


def record_plan(office: Office, actor: str, need_id: int, data: dict) -> Document:
    """Activity 3: contents and actions agreed with the departments' liaisons."""
    office.team.require(actor, *PLAN_ROLES)
    return office.record_content_plan(need_id, actor, data)


# --- activities 5 to 12: revisions and decisions -----------------------------------------------------


def submit_text(
    office: Office, actor: str, need_id: int, texts: dict[str, str] | None, *, title: str = "", note: str = ""
) -> Revision:
    """Activities 5 and 8: the professional's text per channel (blocking check errors refuse it).

    Without ``texts``, the drafts the templates write for the need's channels are submitted.
    """
    office.team.require(actor, *TEXT_ROLES)
    if texts is None:
        texts = office.drafts(need_id)
    too_long = x_too_long(texts.get("x"))
    if too_long:
        raise InvalidInput(
            "El texto tiene errores que impiden presentarlo a la Jefe OAC:",
            details=[f"{P.CHANNELS['x']}: {too_long['message']}"],
        )
    with _concurrent_submission(P.REVIEWS[P.TEXT].noun):
        return office.submit_text(need_id, actor, texts, title=title, note=note)


def submit_design(
    office: Office, actor: str, need_id: int, path: Path, filename: str, *, alt_text: str = "", note: str = ""
) -> Revision:
    """Activity 10: the technician's design, stored by the domain under a generated name."""
    office.team.require(actor, *DESIGN_ROLES)
    with _concurrent_submission(P.REVIEWS[P.DESIGN].noun):
        return office.submit_design(need_id, actor, path, filename or P.DESIGN.value, alt_text=alt_text, note=note)


@contextmanager
def _concurrent_submission(what: str) -> Iterator[None]:
    """A double click that raced another submission to the same revision number: a conflict, as for decisions.

    On SQLite both requests read the same last number before either writes (the row lock that
    serialises them on PostgreSQL does not exist there); the unique (need, kind, number) refuses the
    second one, which changed nothing.
    """
    try:
        yield
    except IntegrityError:
        raise Conflict(
            f"Otra presentación de este {what} se registró al mismo tiempo (¿doble clic?): no se "
            "registró otra. Recargue la página para ver la revisión vigente."
        ) from None


def decide(
    office: Office,
    actor: str,
    need_id: int,
    revision_id: int | None,
    control_point: int,
    decision: str,
    comment: str = "",
    publish_at: datetime | None = None,
) -> DecisionOutcome:
    """Control points 7 and 12: only the head decides, on exactly the revision she saw.

    Without ``revision_id`` (the command line), the decision is on the current revision at that point.
    """
    office.team.require(actor, *DECISION_ROLES)
    review = P.REVIEW_AT.get(control_point)
    if revision_id is None and review is not None:
        current = office.current_revision(need_id, review.kind)
        if current is None:
            raise NotFound("No hay revisión presentada para decidir.")
        revision_id = current.id
    return office.decide(need_id, revision_id, control_point, decision, actor, comment, publish_at=publish_at)


def cancel_need(office: Office, actor: str, need_id: int, reason: str) -> Need:
    """The head withdraws a need still in course: its waiting steps end (skipped), nothing is published."""
    office.team.require(actor, *CANCEL_ROLES)
    if len((reason or "").strip()) > CANCEL_REASON_MAX:
        raise InvalidInput(f"El motivo de la cancelación es demasiado largo (máximo {CANCEL_REASON_MAX} caracteres).")
    return office.cancel_need(need_id, actor, reason)


# --- activity 14: publications whose outcome is unknown ----------------------------------------------


def publication(office: Office, publication_id: int, need_id: int | None = None) -> Publication:
    """The ledger row, refused (not found) if it does not exist or belongs to another need."""
    with office.session() as s:
        row = s.get(Publication, publication_id)
    if row is None or (need_id is not None and row.need_id != need_id):
        where = f" de la necesidad n.º {need_id}" if need_id is not None else ""
        raise NotFound(f"No existe el registro de publicación n.º {publication_id}{where}.")
    return row


_STATE = P.PublicationState
_NOT_UNCONFIRMED = {
    _STATE.PUBLISHED: "ya está registrada como publicada",
    _STATE.PENDING: "ya está autorizada para enviarse y espera a que Airflow la publique",
    _STATE.SENDING: "se está enviando en este momento: espere a que la tarea de Airflow termine",
    _STATE.FAILED: "falló sin publicarse: se reintenta limpiando la tarea en Airflow, no desde aquí",
}


def _require_unconfirmed(row: Publication, what: str) -> None:
    """Only a 'sin_confirmar' row is resolved by a person (an 'enviando' one may still be in flight)."""
    if row.state == _STATE.UNCONFIRMED:
        return
    channel = P.CHANNELS.get(row.channel, row.channel)
    why = _NOT_UNCONFIRMED.get(row.state, f"está en estado «{row.state}»")
    raise Conflict(f"No se puede {what} la publicación n.º {row.id} en {channel}: {why}.")


_URL_FORBIDDEN = re.compile(r"[\s<>\"`{}|\\^\x00-\x1f\x7f]")


def check_publication_url(url: str) -> str:
    """The address of the post as the person found it: an https URL with a host, nothing else."""
    url = (url or "").strip()
    if not url:
        raise InvalidInput("Escriba el enlace (URL) de la publicación que encontró en la cuenta.")
    try:
        parts = urlsplit(url) if not _URL_FORBIDDEN.search(url) else None
        host = parts.hostname if parts else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = host = None
    if parts is None or parts.scheme.lower() != "https" or not host or "." not in host:
        raise InvalidInput(
            "El enlace de la publicación debe ser una dirección web completa que empiece por "
            "https://, copiada de la publicación en la plataforma (por ejemplo "
            "https://x.com/CVPBogota/status/1234567890)."
        )
    if len(url) > URL_MAX:
        raise InvalidInput(f"El enlace de la publicación es demasiado largo (máximo {URL_MAX} caracteres).")
    return url


_X_STATUS = re.compile(r"^/[^/]+/status(?:es)?/(\d+)")


def remote_id_from_url(channel: str, url: str) -> str:
    """The platform's id of the post when the URL says it unambiguously (X and YouTube); else ''.

    Left empty, the engagement collector skips the post rather than asking the platform for a
    wrong id; Facebook and Instagram ids are not in their public links.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("mobile.").removeprefix("m.")
    if channel == "x" and host in ("x.com", "twitter.com"):
        m = _X_STATUS.match(parts.path)
        return m.group(1) if m else ""
    if channel == "youtube":
        if host == "youtu.be":
            return parts.path.strip("/").split("/")[0]
        if host == "youtube.com":
            if parts.path == "/watch":
                return (parse_qs(parts.query).get("v") or [""])[0]
            m = re.match(r"^/(?:shorts|live|embed)/([\w-]+)", parts.path)
            return m.group(1) if m else ""
    return ""


def confirm_publication(
    office: Office, actor: str, publication_id: int, url: str, remote_id: str = "", need_id: int | None = None
) -> Publication:
    """A person found the post on the platform: the ledger marks it published, with its address."""
    from cvp import publishing

    office.team.require(actor, *PUBLICATION_ROLES)
    row = publication(office, publication_id, need_id)
    _require_unconfirmed(row, "confirmar")
    url = check_publication_url(url)
    remote_id = (remote_id or "").strip()
    if len(remote_id) > REMOTE_ID_MAX:
        raise InvalidInput(
            f"El identificador de la publicación es demasiado largo (máximo {REMOTE_ID_MAX} "
            "caracteres): déjelo vacío si no lo conoce."
        )
    return publishing.confirm(office, row.id, url, remote_id or remote_id_from_url(row.channel, url), actor)


def allow_publication_retry(
    office: Office, actor: str, publication_id: int, reviewed: bool, need_id: int | None = None
) -> Publication:
    """A person checked the account and the post is not there: the next attempt may send it."""
    from cvp import publishing

    office.team.require(actor, *PUBLICATION_ROLES)
    row = publication(office, publication_id, need_id)
    _require_unconfirmed(row, "autorizar el reenvío de")
    if not reviewed:
        raise InvalidInput(
            "Antes de autorizar el reenvío, revise la cuenta y marque «Revisé la cuenta y la "
            "publicación no existe»: si la publicación existe, reenviarla la duplicaría."
        )
    return publishing.allow_retry(office, row.id, actor)


# --- checks on an X text before the parser sees it ---------------------------------------------------


def x_too_long(text) -> dict | None:
    """The blocking finding for an X text too long to weigh, or None."""
    if not isinstance(text, str) or len(text) <= X_TEXT_MAX_CHARS:
        return None
    limit = P.CHANNEL["x"].text.max_length
    return {
        "code": "x.length",
        "severity": "error",
        "channel": "x",
        "start": None,
        "end": None,
        "field": "text",
        "message": f"El texto para X es demasiado largo: tiene {len(text):,} caracteres".replace(",", ".")
        + f" y X admite {limit} caracteres ponderados (no se revisan textos de más "
        f"de {X_TEXT_MAX_CHARS} caracteres).",
        "suggestion": "Acorte el texto: cada enlace cuenta 23 caracteres ponderados, sea cual sea su largo.",
    }
