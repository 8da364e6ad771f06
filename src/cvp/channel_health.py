"""Where each platform connection stands: valid, expiring, or broken and why; and the head's notices.

A token found expired at activity 14 stops a piece on the day it is due. The daily check (DAG
``conexiones_canales``) asks every platform whether its token works, until when, and with which
permissions; this module records the answer (``channel_checks``), tells the head 7 days and 1 day
before an expiry and at once when a channel breaks (``channel_notices``, each notice once), and gives
the forms each channel's state. The platform calls live on the Airflow side (the hooks); this module
never imports Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cvp import procedure as P
from cvp.mail import Mailer, OutgoingMail, send_reporting
from cvp.records.models import ChannelCheck, ChannelNotice, utcnow
from cvp.rendering import fecha

log = logging.getLogger(__name__)


class ChannelState(StrEnum):
    OK = "ok"
    EXPIRING = "vence"  # valid, but expires within WARN_DAYS[0] days
    BROKEN = "roto"  # cannot publish or read metrics: bad token, missing permission


#: Days before an expiry when the head is told, each once.
WARN_DAYS = (7, 1)


@dataclass(frozen=True)
class Health:
    """A platform's answer about one connection, as a hook read it."""

    valid: bool
    reason: str = ""  # Spanish: why it is broken, or a remark (how it was renewed)
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()  # granted, when the platform says
    missing: tuple[str, ...] = ()  # needed for publishing or metrics and not granted
    account: str = ""  # who the token speaks for, as the platform names it
    renewed: bool = False

    def state(self, now: datetime) -> ChannelState:
        if not self.valid or self.missing:
            return ChannelState.BROKEN
        if self.expires_at is not None and self.expires_at - now <= timedelta(days=WARN_DAYS[0]):
            return ChannelState.EXPIRING
        return ChannelState.OK

    def message(self, now: datetime) -> str:
        """What the connection form's test button says."""
        state = self.state(now)
        if state is ChannelState.BROKEN:
            if self.missing and self.valid:
                return f"El token funciona pero le faltan permisos: {', '.join(self.missing)}. {self.reason}".strip()
            return self.reason or "La plataforma rechazó la conexión."
        who = f" como «{self.account}»" if self.account else ""
        until = f"; vence el {fecha(self.expires_at)}" if self.expires_at else ""
        extra = f" {self.reason}" if self.reason else ""
        return f"Conexión correcta{who}{until}.{extra}"


def record(office, channel: str, conn_id: str, health: Health, now: datetime | None = None) -> ChannelCheck:
    """Keep one check's answer; the newest row per channel is the channel's state."""
    now = now or utcnow()
    row = ChannelCheck(
        channel=channel,
        conn_id=conn_id,
        checked_at=now,
        state=str(health.state(now)),
        expires_at=health.expires_at,
        reason=health.message(now) if health.state(now) is ChannelState.BROKEN else health.reason,
        scopes=list(health.scopes),
        missing_scopes=list(health.missing),
    )
    with office.session() as s:
        s.add(row)
        s.flush()
        s.expunge(row)
    return row


def latest(session) -> dict[str, ChannelCheck]:
    """The last check of each channel (channels never checked are absent)."""
    newest = (
        select(ChannelCheck.channel, func.max(ChannelCheck.id).label("id")).group_by(ChannelCheck.channel).subquery()
    )
    rows = session.scalars(select(ChannelCheck).join(newest, ChannelCheck.id == newest.c.id))
    return {r.channel: r for r in rows}


def describe(check: ChannelCheck | None) -> str:
    """How the forms say a channel's state: «ok», «vence el …», «roto: por qué»."""
    if check is None:
        return "sin verificar"
    if check.state == ChannelState.BROKEN:
        return f"roto: {check.reason}" if check.reason else "roto"
    if check.expires_at is not None and check.state == ChannelState.EXPIRING:
        return f"vence el {fecha(check.expires_at)}"
    if check.expires_at is not None:
        return f"ok (vence el {fecha(check.expires_at)})"
    return "ok"


@dataclass(frozen=True)
class ChannelView:
    channel: str
    name: str
    state: str  # ok | vence | roto | "" (never checked)
    text: str
    checked_at: datetime | None


def board(session, channels: Iterable[str] = P.PLATFORM_CHANNELS) -> list[ChannelView]:
    """Each platform channel's state for the head's inbox."""
    last = latest(session)
    return [
        ChannelView(
            c,
            P.CHANNELS[c],
            last[c].state if c in last else "",
            describe(last.get(c)),
            last[c].checked_at if c in last else None,
        )
        for c in channels
    ]


def broken_among(session, channels: Iterable[str]) -> dict[str, str]:
    """Of ``channels``, those whose last check found them broken, with why (the warning of activity 1)."""
    last = latest(session)
    return {c: describe(last[c]) for c in channels if c in last and last[c].state == ChannelState.BROKEN}


# --- notices to the head ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    check: ChannelCheck
    kind: str  # vence_7d | vence_1d | roto
    key: str


def due_notices(session, now: datetime) -> list[Due]:
    """The notices the channels' last checks call for; a key already in ``channel_notices`` went out."""
    found = []
    for channel, check in sorted(latest(session).items()):
        if check.state == ChannelState.BROKEN:
            # One notice per broken spell: keyed by the spell's first check.
            first = session.scalar(
                select(func.min(ChannelCheck.id)).where(
                    ChannelCheck.channel == channel,
                    ChannelCheck.id
                    > func.coalesce(
                        select(func.max(ChannelCheck.id))
                        .where(ChannelCheck.channel == channel, ChannelCheck.state != ChannelState.BROKEN)
                        .scalar_subquery(),
                        0,
                    ),
                )
            )
            found.append(Due(check, "roto", f"{channel}:roto:{first}"))
            continue
        if check.expires_at is None:
            continue
        left = check.expires_at - now
        for days in sorted(WARN_DAYS):  # the nearest threshold reached wins: one mail, not two at once
            if timedelta(0) < left <= timedelta(days=days):
                stamp = check.expires_at.strftime("%Y-%m-%dT%H:%M")
                found.append(Due(check, f"vence_{days}d", f"{channel}:vence_{days}d:{stamp}"))
                break
    return found


def send_notices(office, mailer: Mailer, now: datetime | None = None) -> list[str]:
    """Mail the head what the last checks call for, each notice once; returns the keys sent.

    The notice row is the claim: written before the mail goes, marked sent after the transport took
    it. A notice whose send failed is tried again on the next run.
    """
    now = now or utcnow()
    recipients = office.team.emails_for(P.HEAD)
    with office.session() as s:
        due = due_notices(s, now)
        sent_keys = set(
            s.scalars(
                select(ChannelNotice.dedupe_key).where(
                    ChannelNotice.dedupe_key.in_([d.key for d in due]), ChannelNotice.sent_at.is_not(None)
                )
            )
        )
    sent = []
    for d in due:
        if d.key in sent_keys:
            continue
        if not recipients:
            log.warning("Aviso de conexión %s sin destinatario: no hay correo de la Jefe OAC en el equipo", d.key)
            continue
        c = d.check
        template = "canal_roto" if d.kind == "roto" else "canal_vence"
        mail = office.renderer.mail(
            template,
            canal=P.CHANNELS.get(c.channel, c.channel),
            conexion=c.conn_id,
            vence=c.expires_at,
            dias=(c.expires_at - now).days if c.expires_at else None,
            umbral=d.kind,
            motivo=c.reason,
            permisos=list(c.missing_scopes or []),
            enlace=f"{office.cfg.base_url}/cvp/",
        )
        notice_id = _claim(office, d, recipients, mail.subject, mail.body)

        def accepted(notice_id=notice_id):
            with office.session() as s:
                s.get(ChannelNotice, notice_id).sent_at = utcnow()

        try:
            send_reporting(
                mailer,
                OutgoingMail(tuple(recipients), mail.subject, mail.body, office.cfg.mail_from, f"canal-{d.key}"),
                accepted,
            )
        except Exception as exc:  # noqa: BLE001 - kept for the next run; the other notices still go
            with office.session() as s:
                s.get(ChannelNotice, notice_id).error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("Aviso %s no enviado (%s): se reintenta en la próxima verificación", d.key, type(exc).__name__)
            continue
        sent.append(d.key)
        log.info("Aviso de conexión %s enviado a %s", d.key, ", ".join(recipients))
    return sent


def _claim(office, d: Due, recipients: list[str], subject: str, body: str) -> int:
    try:
        with office.session() as s:
            row = ChannelNotice(
                channel=d.check.channel,
                conn_id=d.check.conn_id,
                kind=d.kind,
                dedupe_key=d.key,
                expires_at=d.check.expires_at,
                recipients=list(recipients),
                subject=subject,
                body=body,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:  # an unsent claim of an earlier run: send it now
        with office.session() as s:
            return s.scalar(select(ChannelNotice.id).where(ChannelNotice.dedupe_key == d.key))
