"""The daily exchange with the Red Distrital de Redes Sociales (activity 4, done every day).

Outgoing: the pieces the CVP published since the last sync and those scheduled for the coming week,
sent once each to the Red's press contacts so the district's entities can replicate them.
Incoming: what the Red asks its entities to replicate (a JSON feed of the Mayor's Office, when
configured), recorded once and passed on to the OAC team.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from cvp import procedure as P
from cvp.config import bogota_day_start
from cvp.mail import Mailer, OutgoingMail
from cvp.office import Office
from cvp.records.models import Need, Publication, RedItem, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedItem:
    entity: str
    message: str
    url: str
    day: date | None

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{self.entity}\0{self.message}\0{self.url}".encode()).hexdigest()[:40]
        return f"recibido:{digest}"


def parse_feed(payload) -> tuple[list[FeedItem], list[str]]:
    """Items of the Red's feed; malformed ones are skipped with a Spanish explanation each."""
    items, problems = [], []
    rows = payload.get("publicaciones", payload) if isinstance(payload, dict) else payload
    if not isinstance(rows, list):
        return [], ["El boletín de la Red Distrital no trae una lista de publicaciones."]
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append(f"Elemento {i}: no es un objeto.")
            continue
        entity, message, url = (str(row.get(k) or "").strip() for k in ("entidad", "mensaje", "enlace"))
        if not entity or not (message or url):
            problems.append(f"Elemento {i}: falta la entidad o el mensaje/enlace.")
            continue
        if url and not url.startswith(("https://", "http://")):
            problems.append(f"Elemento {i}: el enlace {url!r} no es una dirección web.")
            continue
        day = None
        if row.get("fecha"):
            try:
                day = date.fromisoformat(str(row["fecha"])[:10])
            except ValueError:
                problems.append(f"Elemento {i}: fecha no válida {row['fecha']!r}; se recibe sin fecha.")
        items.append(FeedItem(entity[:200], message, url[:500], day))
    return items, problems


def fetch_feed(url: str, *, token: str = "", timeout: float = 15.0, attempts: int = 3):
    """GET the Red's JSON feed with a timeout; a GET is safe to retry."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            response = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=True)
            if response.status_code >= 500:
                raise httpx.HTTPStatusError("server error", request=response.request, response=response)
            response.raise_for_status()
            return response.json()
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            last = exc
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                break
            if attempt + 1 < attempts:
                import time as _time

                _time.sleep(2**attempt)
    raise RuntimeError(f"No se pudo leer el boletín de la Red Distrital ({url}): {last}")


def team_recipients(office: Office) -> tuple[str, ...]:
    """Who hears from the Red Distrital: the team's address, else the professionals."""
    return tuple(office.team.team_emails or office.team.emails_for(P.PROFESSIONAL))


def send_mail(office: Office, mailer: Mailer, to: tuple[str, ...], template: str, key: str, **context) -> None:
    """One mail from a template of include/templates/correos ('Asunto: ...', a blank line, the body)."""
    mail = office.renderer.mail(template, **context)
    mailer.send(OutgoingMail(to, mail.subject, mail.body, office.cfg.mail_from, key))


def receive(office: Office, items: list[FeedItem], mailer: Mailer | None, day: date) -> list[FeedItem]:
    """Record the new items and tell the team what to replicate; an item already received is skipped."""
    with office.session() as s:
        known = set(s.scalars(select(RedItem.dedupe_key).where(RedItem.dedupe_key.in_([i.key for i in items]))))
    new = [i for i in items if i.key not in known]
    if not new:
        return []
    if mailer is not None:
        send_mail(
            office,
            mailer,
            team_recipients(office),
            "red_distrital_replicar",
            f"red-recibido-{day.isoformat()}",
            items=new,
            dia=day,
        )
    with office.session() as s:
        for i in new:
            s.add(
                RedItem(
                    day=day,
                    direction="recibido",
                    dedupe_key=i.key,
                    entity=i.entity,
                    message=i.message,
                    url=i.url,
                    payload={"fecha": i.day.isoformat() if i.day else None},
                    created_at=utcnow(),
                )
            )
    return new


def send_digest(office: Office, mailer: Mailer | None, day: date) -> int:
    """Send the Red the CVP's pieces published since the last sync and scheduled for the next 7 days."""
    start = bogota_day_start(day - timedelta(days=7))
    horizon = bogota_day_start(day + timedelta(days=8))
    with office.session() as s:
        sent = set(s.scalars(select(RedItem.dedupe_key).where(RedItem.direction == "enviado")))
        published = [
            (p, s.get(Need, p.need_id))
            for p in s.scalars(
                select(Publication)
                .where(
                    Publication.state == P.PublicationState.PUBLISHED,
                    Publication.published_at >= start,
                    Publication.channel.not_in(P.OUTBOX_CHANNELS),
                )
                .order_by(Publication.published_at)
            )
        ]
        scheduled = list(
            s.scalars(
                select(Need)
                .where(Need.status == P.NeedStatus.IN_COURSE, Need.publish_at.is_not(None), Need.publish_at < horizon)
                .order_by(Need.publish_at)
            )
        )
    published = [(p, n) for p, n in published if f"enviado:pub:{p.id}" not in sent]
    scheduled = [n for n in scheduled if f"enviado:agenda:{n.id}:{n.publish_at.isoformat()}" not in sent]
    if not published and not scheduled:
        return 0
    if mailer is not None:
        send_mail(
            office,
            mailer,
            (office.cfg.red_distrital_email,),
            "boletin_red_distrital",
            f"red-enviado-{day.isoformat()}",
            publicadas=published,
            programadas=scheduled,
            dia=day,
        )
    with office.session() as s:
        for p, n in published:
            s.add(
                RedItem(
                    day=day,
                    direction="enviado",
                    dedupe_key=f"enviado:pub:{p.id}",
                    entity="CVP",
                    message=n.title,
                    url=p.url,
                    need_id=n.id,
                    payload={"canal": p.channel},
                    created_at=utcnow(),
                )
            )
        for n in scheduled:
            s.add(
                RedItem(
                    day=day,
                    direction="enviado",
                    dedupe_key=f"enviado:agenda:{n.id}:{n.publish_at.isoformat()}",
                    entity="CVP",
                    message=n.title,
                    need_id=n.id,
                    payload={"programada": n.publish_at.isoformat()},
                    created_at=utcnow(),
                )
            )
    return len(published) + len(scheduled)
