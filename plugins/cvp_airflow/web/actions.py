"""Every action the forms can take, shared by the pages and the JSON API.

Each one is the office's role-checked command (:mod:`cvp.commands`, the same the command line runs)
called with the logged-in Airflow username, so the audit trail names the person and both doors check
the same roles in the team file (read again if the office changed it). Everything here blocks
(database, files): the routes call it from the threadpool.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from cvp import commands
from cvp import procedure as P
from cvp.checks import MediaInfo, check_text
from cvp.checks.textutil import publishable
from cvp.errors import InvalidInput
from cvp.office import DecisionOutcome, Office
from cvp.records.models import Document, Need, Publication, Revision
from cvp_airflow.web.security import Viewer

log = logging.getLogger(__name__)

MEETING_FIELDS = {
    "temas": "Temas a tratar",
    "fuentes": "Fuentes a consultar",
    "productos": "Productos a realizar",
    "canales": "Medios de difusión",
    "asistentes": "Asistentes",
}
PLAN_FIELDS = {"contenidos": "Contenidos y acciones", "enlaces": "Enlaces de las dependencias"}
# Who may do what: the commands' own role sets (the pages use them to show or hide each form).
MEETING_ROLES = commands.MEETING_ROLES
PLAN_ROLES = commands.PLAN_ROLES
ANY_ROLE = commands.ANY_ROLE
PUBLICATION_ROLES = commands.PUBLICATION_ROLES
CANCEL_ROLES = commands.CANCEL_ROLES
CANCEL_REASON_MAX = commands.CANCEL_REASON_MAX
URL_MAX, REMOTE_ID_MAX = commands.URL_MAX, commands.REMOTE_ID_MAX
publication = commands.publication
check_publication_url = commands.check_publication_url
remote_id_from_url = commands.remote_id_from_url
x_too_long = commands.x_too_long
X_TEXT_MAX_CHARS = commands.X_TEXT_MAX_CHARS


def record_meeting(office: Office, viewer: Viewer, need_id: int, data: dict) -> Document:
    """Activity 2: the team meeting (208-SADM-Ft-54)."""
    doc = commands.record_meeting(office, viewer.username, need_id, data)
    log.info("Forms: meeting of need %s recorded by %s", need_id, viewer.username)
    return doc


def record_plan(office: Office, viewer: Viewer, need_id: int, data: dict) -> Document:
    """Activity 3: contents and actions agreed with the departments' liaisons."""
    doc = commands.record_plan(office, viewer.username, need_id, data)
    log.info("Forms: content plan of need %s recorded by %s", need_id, viewer.username)
    return doc


def submit_text(
    office: Office, viewer: Viewer, need_id: int, texts: dict[str, str], title: str = "", note: str = ""
) -> Revision:
    """Activities 5 and 8: the professional's text per channel (blocking check errors refuse it)."""
    rev = commands.submit_text(office, viewer.username, need_id, texts, title=title, note=note)
    log.info("Forms: text revision %s of need %s submitted by %s", rev.number, need_id, viewer.username)
    return rev


def decide(
    office: Office,
    viewer: Viewer,
    need_id: int,
    revision_id: int,
    control_point: int,
    decision: str,
    comment: str = "",
    publish_at: datetime | None = None,
) -> DecisionOutcome:
    """Control points 7 and 12: only the head decides, on exactly the revision she saw."""
    out = commands.decide(
        office, viewer.username, need_id, revision_id, control_point, decision, comment, publish_at=publish_at
    )
    log.info(
        "Forms: decision %s on revision %s of need %s by %s%s",
        decision,
        revision_id,
        need_id,
        viewer.username,
        " (already recorded)" if out.already_recorded else "",
    )
    return out


def submit_design(
    office: Office, viewer: Viewer, need_id: int, path: Path, filename: str, alt_text: str = "", note: str = ""
) -> Revision:
    """Activity 10: the technician's design, stored by the domain under a generated name."""
    rev = commands.submit_design(office, viewer.username, need_id, path, filename, alt_text=alt_text, note=note)
    log.info(
        "Forms: design revision %s of need %s uploaded by %s (%s bytes)", rev.number, need_id, viewer.username, rev.size
    )
    return rev


def cancel_need(office: Office, viewer: Viewer, need_id: int, reason: str) -> Need:
    """The head withdraws a need still in course: its waiting steps end (skipped), nothing is published."""
    need = commands.cancel_need(office, viewer.username, need_id, reason)
    log.info("Forms: need %s cancelled by %s", need_id, viewer.username)
    return need


# --- activity 14: publications whose outcome is unknown --------------------------------------------


def confirm_publication(
    office: Office, viewer: Viewer, publication_id: int, url: str, remote_id: str = "", need_id: int | None = None
) -> Publication:
    """A person found the post on the platform: the ledger marks it published, with its address."""
    done = commands.confirm_publication(office, viewer.username, publication_id, url, remote_id, need_id=need_id)
    log.info(
        "Forms: publication %s (need %s, %s) confirmed by %s", done.id, done.need_id, done.channel, viewer.username
    )
    return done


def allow_publication_retry(
    office: Office, viewer: Viewer, publication_id: int, reviewed: bool, need_id: int | None = None
) -> Publication:
    """A person checked the account and the post is not there: the next attempt may send it."""
    done = commands.allow_publication_retry(office, viewer.username, publication_id, reviewed, need_id=need_id)
    log.info(
        "Forms: resend of publication %s (need %s, %s) authorized by %s",
        done.id,
        done.need_id,
        done.channel,
        viewer.username,
    )
    return done


# --- checks as the person types ------------------------------------------------------------------

#: How each platform counts a text and its limit (X weighs it, YouTube counts bytes, the rest characters).
LENGTH_LIMITS = {key: (c.text.max_length, c.text.unit) for key, c in P.CHANNEL.items()}


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
        return {
            "channel": "x",
            "blocking": True,
            "x_weighted_length": None,
            "counts": {"error": 1, "warning": 0, "info": 0},
            "findings": [too_long],
            "length": {"value": len(text), "limit": limit, "unit": unit},
            "title_length": None,
        }
    infos = tuple(MediaInfo(**m) for m in (media or ()))
    report = check_text(channel, text or "", title=title or "", media=infos)
    if not infos:
        report.findings[:] = [f for f in report.findings if not f.code.startswith("media.")]
    data = report.to_dict()
    data["channel"] = channel
    data["length"] = length_of(channel, text or "", report.x_weighted_length)
    title_max = P.CHANNEL[channel].text.title_max_chars
    data["title_length"] = (
        {"value": len(title or ""), "limit": title_max, "unit": "caracteres"} if title_max is not None else None
    )
    return data
