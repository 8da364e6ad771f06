"""Every action the forms can take, shared by the pages and the JSON API.

Each one checks the actor's role in the team file first (read again if the office changed it), then
calls the domain with the logged-in Airflow username, so the audit trail names the person. The
domain enforces the procedure's own rules: order of activities, current revision only, nobody
approves their own work, one decision per revision. Everything here blocks (database, files): the
routes call it from the threadpool.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.exc import IntegrityError

from cvp import procedure as P
from cvp.checks import MediaInfo, check_text
from cvp.checks.limits import FACEBOOK_MAX_CHARS, INSTAGRAM_MAX_CHARS, YOUTUBE_DESCRIPTION_MAX_BYTES, \
    YOUTUBE_TITLE_MAX_CHARS
from cvp.checks.textutil import publishable
from cvp.checks.xlength import X_MAX_WEIGHTED_LENGTH
from cvp.errors import Conflict, InvalidInput, NotFound
from cvp.office import DecisionOutcome, Office
from cvp.records.models import Document, Need, Publication, Revision
from cvp_airflow.web.security import Viewer

log = logging.getLogger(__name__)

MEETING_FIELDS = {"temas": "Temas a tratar", "fuentes": "Fuentes a consultar", "productos": "Productos a realizar",
                  "canales": "Medios de difusión", "asistentes": "Asistentes"}
PLAN_FIELDS = {"contenidos": "Contenidos y acciones", "enlaces": "Enlaces de las dependencias"}
MEETING_ROLES = (P.HEAD, P.PROFESSIONAL)
PLAN_ROLES = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN)
ANY_ROLE = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN, P.READER)
PUBLICATION_ROLES = (P.PROFESSIONAL, P.HEAD)  # as `python -m cvp publicacion` (cvp.__main__.cmd_publication)
CANCEL_ROLES = (P.HEAD,)  # as `python -m cvp cancelar` (cvp.__main__.cmd_cancel)
CANCEL_REASON_MAX = 5000
UNCONFIRMED, FAILED = "sin_confirmar", "fallido"
URL_MAX, REMOTE_ID_MAX = 500, 200  # the ledger's columns


def record_meeting(office: Office, viewer: Viewer, need_id: int, data: dict) -> Document:
    """Activity 2: the team meeting (208-SADM-Ft-54)."""
    office.team.require(viewer.username, *MEETING_ROLES)
    doc = office.record_meeting(need_id, viewer.username, data)
    log.info("Forms: meeting of need %s recorded by %s", need_id, viewer.username)
    return doc


def record_plan(office: Office, viewer: Viewer, need_id: int, data: dict) -> Document:
    """Activity 3: contents and actions agreed with the departments' liaisons."""
    office.team.require(viewer.username, *PLAN_ROLES)
    doc = office.record_content_plan(need_id, viewer.username, data)
    log.info("Forms: content plan of need %s recorded by %s", need_id, viewer.username)
    return doc


def submit_text(office: Office, viewer: Viewer, need_id: int, texts: dict[str, str], title: str = "",
                note: str = "") -> Revision:
    """Activities 5 and 8: the professional's text per channel (blocking check errors refuse it)."""
    office.team.require(viewer.username, P.PROFESSIONAL)
    too_long = x_too_long(texts.get("x"))
    if too_long:
        raise InvalidInput("El texto tiene errores que impiden presentarlo a la Jefe OAC:",
                           details=[f"{P.CHANNELS['x']}: {too_long['message']}"])
    with _concurrent_submission("texto"):
        rev = office.submit_text(need_id, viewer.username, texts, title=title, note=note)
    log.info("Forms: text revision %s of need %s submitted by %s", rev.number, need_id, viewer.username)
    return rev


@contextmanager
def _concurrent_submission(what: str):
    """A double click that raced another submission to the same revision number: 409, as for decisions.

    On SQLite both requests read the same last number before either writes (the row lock that
    serialises them on PostgreSQL does not exist there); the unique (need, kind, number) refuses the
    second one, which changed nothing.
    """
    try:
        yield
    except IntegrityError:
        raise Conflict(f"Otra presentación de este {what} se registró al mismo tiempo (¿doble clic?): no se "
                       "registró otra. Recargue la página para ver la revisión vigente.") from None


def decide(office: Office, viewer: Viewer, need_id: int, revision_id: int, control_point: int, decision: str,
           comment: str = "", publish_at: datetime | None = None) -> DecisionOutcome:
    """Control points 7 and 12: only the head decides, on exactly the revision she saw."""
    office.team.require(viewer.username, P.HEAD)
    out = office.decide(need_id, revision_id, control_point, decision, viewer.username, comment,
                        publish_at=publish_at)
    log.info("Forms: decision %s on revision %s of need %s by %s%s", decision, revision_id, need_id,
             viewer.username, " (already recorded)" if out.already_recorded else "")
    return out


def submit_design(office: Office, viewer: Viewer, need_id: int, path: Path, filename: str, alt_text: str = "",
                  note: str = "") -> Revision:
    """Activity 10: the technician's design, stored by the domain under a generated name."""
    office.team.require(viewer.username, P.TECHNICIAN)
    with _concurrent_submission("diseño"):
        rev = office.submit_design(need_id, viewer.username, path, filename or "diseno", alt_text=alt_text,
                                   note=note)
    log.info("Forms: design revision %s of need %s uploaded by %s (%s bytes)", rev.number, need_id,
             viewer.username, rev.size)
    return rev


def cancel_need(office: Office, viewer: Viewer, need_id: int, reason: str) -> Need:
    """The head withdraws a need still in course: its waiting steps end (skipped), nothing is published."""
    office.team.require(viewer.username, *CANCEL_ROLES)
    if len((reason or "").strip()) > CANCEL_REASON_MAX:
        raise InvalidInput(f"El motivo de la cancelación es demasiado largo (máximo {CANCEL_REASON_MAX} caracteres).")
    need = office.cancel_need(need_id, viewer.username, reason)
    log.info("Forms: need %s cancelled by %s", need_id, viewer.username)
    return need


# --- activity 14: publications whose outcome is unknown --------------------------------------------

def publication(office: Office, publication_id: int, need_id: int | None = None) -> Publication:
    """The ledger row, refused (404) if it does not exist or belongs to another need."""
    with office.session() as s:
        row = s.get(Publication, publication_id)
    if row is None or (need_id is not None and row.need_id != need_id):
        where = f" de la necesidad n.º {need_id}" if need_id is not None else ""
        raise NotFound(f"No existe el registro de publicación n.º {publication_id}{where}.")
    return row


def _require_unconfirmed(row: Publication, what: str) -> None:
    """Only a 'sin_confirmar' row is resolved here (an 'enviando' one may still be in flight)."""
    if row.state == UNCONFIRMED:
        return
    channel = P.CHANNELS.get(row.channel, row.channel)
    why = {
        "publicado": "ya está registrada como publicada",
        "pendiente": "ya está autorizada para enviarse y espera a que Airflow la publique",
        "enviando": "se está enviando en este momento: espere a que la tarea de Airflow termine",
        FAILED: "falló sin publicarse: se reintenta limpiando la tarea en Airflow, no desde aquí",
    }.get(row.state, f"está en estado «{row.state}»")
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
        raise InvalidInput("El enlace de la publicación debe ser una dirección web completa que empiece por "
                           "https://, copiada de la publicación en la plataforma (por ejemplo "
                           "https://x.com/CVPBogota/status/1234567890).")
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


def confirm_publication(office: Office, viewer: Viewer, publication_id: int, url: str, remote_id: str = "",
                        need_id: int | None = None) -> Publication:
    """A person found the post on the platform: the ledger marks it published, with its address."""
    from cvp import publishing

    office.team.require(viewer.username, *PUBLICATION_ROLES)
    row = publication(office, publication_id, need_id)
    _require_unconfirmed(row, "confirmar")
    url = check_publication_url(url)
    remote_id = (remote_id or "").strip()
    if len(remote_id) > REMOTE_ID_MAX:
        raise InvalidInput(f"El identificador de la publicación es demasiado largo (máximo {REMOTE_ID_MAX} "
                           "caracteres): déjelo vacío si no lo conoce.")
    done = publishing.confirm(office, row.id, url, remote_id or remote_id_from_url(row.channel, url),
                              viewer.username)
    log.info("Forms: publication %s (need %s, %s) confirmed by %s", row.id, row.need_id, row.channel,
             viewer.username)
    return done


def allow_publication_retry(office: Office, viewer: Viewer, publication_id: int, reviewed: bool,
                            need_id: int | None = None) -> Publication:
    """A person checked the account and the post is not there: the next attempt may send it."""
    from cvp import publishing

    office.team.require(viewer.username, *PUBLICATION_ROLES)
    row = publication(office, publication_id, need_id)
    _require_unconfirmed(row, "autorizar el reenvío de")
    if not reviewed:
        raise InvalidInput("Antes de autorizar el reenvío, revise la cuenta y marque «Revisé la cuenta y la "
                           "publicación no existe»: si la publicación existe, reenviarla la duplicaría.")
    done = publishing.allow_retry(office, row.id, viewer.username)
    log.info("Forms: resend of publication %s (need %s, %s) authorized by %s", row.id, row.need_id, row.channel,
             viewer.username)
    return done


# --- checks as the person types ------------------------------------------------------------------

# X's parser (twitter-text) is quadratic on runs like "a.a.a.": about 0.5 s for 600 characters, hours for
# 100,000, holding the GIL of the whole api-server. X admits 280 weighted characters and a link weighs 23
# however long it is, so a publishable post is well under this many characters: longer ones are refused
# before the parser sees them.
X_TEXT_MAX_CHARS = 600

LENGTH_LIMITS = {
    "x": (X_MAX_WEIGHTED_LENGTH, "caracteres ponderados"),
    "facebook": (FACEBOOK_MAX_CHARS, "caracteres"),
    "instagram": (INSTAGRAM_MAX_CHARS, "caracteres"),
    "youtube": (YOUTUBE_DESCRIPTION_MAX_BYTES, "bytes"),
    "sitio_web": (None, "caracteres"),
}


def length_of(channel: str, text: str, weighted: int | None = None) -> dict:
    """How the platform counts ``text``: X weighs it, YouTube counts bytes, the rest characters."""
    limit, unit = LENGTH_LIMITS[channel]
    if channel == "x":
        value = weighted if weighted is not None else _x_length(text)
    elif channel == "youtube":
        value = len(publishable(text).encode("utf-8"))
    else:
        value = len(text)
    return {"value": value, "limit": limit, "unit": unit}


def _x_length(text: str) -> int:
    from cvp.checks import x_weighted_length

    return x_weighted_length(text)


def x_too_long(text) -> dict | None:
    """The blocking finding for an X text too long to weigh, or None."""
    if not isinstance(text, str) or len(text) <= X_TEXT_MAX_CHARS:
        return None
    return {"code": "x.length", "severity": "error", "channel": "x", "start": None, "end": None, "field": "text",
            "message": f"El texto para X es demasiado largo: tiene {len(text):,} caracteres".replace(",", ".")
                       + f" y X admite {X_MAX_WEIGHTED_LENGTH} caracteres ponderados (no se revisan textos de más "
                         f"de {X_TEXT_MAX_CHARS} caracteres).",
            "suggestion": "Acorte el texto: cada enlace cuenta 23 caracteres ponderados, sea cual sea su largo."}


def check(channel: str, text: str, title: str = "", media: list[dict] | None = None) -> dict:
    """The pre-review checks of one channel's text, as the editor shows them beside the text.

    Without media, the media findings are left out (the design is checked when it is uploaded,
    activity 10), exactly as ``Office.check_texts`` does at submission.
    """
    if channel not in P.CHANNELS:
        raise InvalidInput(f"Canal desconocido: {channel!r}. Use uno de {', '.join(P.CHANNELS)}.")
    too_long = x_too_long(text) if channel == "x" else None
    if too_long:
        limit, unit = LENGTH_LIMITS["x"]
        return {"channel": "x", "blocking": True, "x_weighted_length": None,
                "counts": {"error": 1, "warning": 0, "info": 0}, "findings": [too_long],
                "length": {"value": len(text), "limit": limit, "unit": unit}, "title_length": None}
    infos = tuple(MediaInfo(**m) for m in (media or ()))
    report = check_text(channel, text or "", title=title or "", media=infos)
    if not infos:
        report.findings[:] = [f for f in report.findings if not f.code.startswith("media.")]
    data = report.to_dict()
    data["channel"] = channel
    data["length"] = length_of(channel, text or "", report.x_weighted_length)
    data["title_length"] = ({"value": len(title or ""), "limit": YOUTUBE_TITLE_MAX_CHARS, "unit": "caracteres"}
                            if channel == "youtube" else None)
    return data
