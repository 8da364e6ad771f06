"""Every action the forms can take, shared by the pages and the JSON API.

Each one checks the actor's role in the team file first (read again if the office changed it), then
calls the domain with the logged-in Airflow username, so the audit trail names the person. The
domain enforces the procedure's own rules: order of activities, current revision only, nobody
approves their own work, one decision per revision. Everything here blocks (database, files): the
routes call it from the threadpool.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from cvp import procedure as P
from cvp.checks import MediaInfo, check_text
from cvp.checks.limits import FACEBOOK_MAX_CHARS, INSTAGRAM_MAX_CHARS, YOUTUBE_DESCRIPTION_MAX_BYTES, \
    YOUTUBE_TITLE_MAX_CHARS
from cvp.checks.xlength import X_MAX_WEIGHTED_LENGTH
from cvp.errors import InvalidInput
from cvp.office import DecisionOutcome, Office
from cvp.records.models import Document, Revision
from cvp_airflow.web.security import Viewer

log = logging.getLogger(__name__)

MEETING_FIELDS = {"temas": "Temas a tratar", "fuentes": "Fuentes a consultar", "productos": "Productos a realizar",
                  "canales": "Medios de difusión", "asistentes": "Asistentes"}
PLAN_FIELDS = {"contenidos": "Contenidos y acciones", "enlaces": "Enlaces de las dependencias"}
MEETING_ROLES = (P.HEAD, P.PROFESSIONAL)
PLAN_ROLES = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN)
ANY_ROLE = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN, P.READER)


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
    rev = office.submit_text(need_id, viewer.username, texts, title=title, note=note)
    log.info("Forms: text revision %s of need %s submitted by %s", rev.number, need_id, viewer.username)
    return rev


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
    rev = office.submit_design(need_id, viewer.username, path, filename or "diseno", alt_text=alt_text, note=note)
    log.info("Forms: design revision %s of need %s uploaded by %s (%s bytes)", rev.number, need_id,
             viewer.username, rev.size)
    return rev


# --- checks as the person types ------------------------------------------------------------------

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
        value = len(text.encode("utf-8"))
    else:
        value = len(text)
    return {"value": value, "limit": limit, "unit": unit}


def _x_length(text: str) -> int:
    from cvp.checks import x_weighted_length

    return x_weighted_length(text)


def check(channel: str, text: str, title: str = "", media: list[dict] | None = None) -> dict:
    """The pre-review checks of one channel's text, as the editor shows them beside the text.

    Without media, the media findings are left out (the design is checked when it is uploaded,
    activity 10), exactly as ``Office.check_texts`` does at submission.
    """
    if channel not in P.CHANNELS:
        raise InvalidInput(f"Canal desconocido: {channel!r}. Use uno de {', '.join(P.CHANNELS)}.")
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
