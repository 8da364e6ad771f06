"""The mail outbox: e-mails kept as records in the act's own transaction, delivered after it commits.

An act that tells someone queues the mail beside its event, so the mail exists exactly when the act
does; ``deliver_pending`` sends what is queued later (from the forms or a task), each mail claimed
first so that two senders never send it twice, and marked sent the moment the server accepts it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cvp.config import Settings
from cvp.mail import Mailer, OutgoingMail, send_reporting
from cvp.office.records import Records
from cvp.records.models import Need, Notification
from cvp.rendering import Renderer

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(minutes=10)


def mail_reference(n: Notification) -> str:
    """The mail record's stable name (the Message-ID's left part): its id and creation instant, so
    every delivery of one record carries the same Message-ID and two databases never share one."""
    return f"cvp-{n.id}.{n.created_at:%Y%m%d%H%M%S%f}"


def dedupe_key(need_id: int, activity: int, key: str) -> str:
    return f"{need_id}:{activity}:{key}"


class Outbox:
    """Queue and delivery of the procedure's e-mails."""

    def __init__(self, records: Records, renderer: Renderer, cfg: Settings, mailer: Mailer | None = None):
        self.records = records
        self.renderer = renderer
        self.cfg = cfg
        self.mailer = mailer

    def link(self, need_id: int) -> str:
        """The need's page, as a mail names it."""
        return f"{self.cfg.base_url}/cvp/necesidades/{need_id}"

    def queued(self, s: Session, need_id: int, activity: int, key: str) -> bool:
        """Whether this mail of the need's activity is already in the outbox (sent or not)."""
        found = s.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key(need_id, activity, key)))
        return found is not None

    def queue(
        self, s: Session, need: Need, activity: int, key: str, recipients: list[str], template: str, **context
    ) -> None:
        """Keep the mail as a record in this transaction (once per need, activity and key); delivery is after commit."""
        if self.queued(s, need.id, activity, key):
            return
        mail = self.renderer.mail(template, necesidad=need, enlace=self.link(need.id), **context)
        s.add(
            Notification(
                need_id=need.id,
                activity=activity,
                dedupe_key=dedupe_key(need.id, activity, key),
                recipients=recipients,
                subject=mail.subject,
                body=mail.body,
            )
        )

    def deliver_pending(self, mailer: Mailer | None = None, need_id: int | None = None) -> int:
        """Send every mail not yet sent; a failure stays pending with its error, to be retried.

        Each mail is claimed first (one UPDATE that only one sender wins), so the forms and a task
        delivering at the same moment never send it twice; a claim older than CLAIM_TTL is free again.
        """
        mailer = mailer or self.mailer
        if mailer is None:
            return 0
        stale = self.records.now() - CLAIM_TTL
        free = or_(Notification.claimed_at.is_(None), Notification.claimed_at < stale)
        with self.records.session() as s:
            q = select(Notification.id).where(Notification.sent_at.is_(None), free).order_by(Notification.id)
            if need_id is not None:
                q = q.where(Notification.need_id == need_id)
            pending = list(s.scalars(q))
        sent = 0
        for nid in pending:
            with self.records.session() as s:
                won = (
                    s.execute(
                        update(Notification)
                        .where(Notification.id == nid, Notification.sent_at.is_(None), free)
                        .values(claimed_at=self.records.now())
                    ).rowcount
                    == 1
                )
                n = s.get(Notification, nid) if won else None
            if n is None:
                continue
            out = OutgoingMail(
                tuple(n.recipients), n.subject, n.body, self.cfg.mail_from, mail_reference(n), stable_id=True
            )
            delivered: list[bool] = []
            recorded: list[bool] = []

            def accepted(nid: int = n.id) -> None:
                delivered.append(True)  # noqa: B023 - called within this iteration
                self.record_sent(nid, mailer.description)
                recorded.append(True)  # noqa: B023

            try:
                send_reporting(mailer, out, accepted)
            except Exception as exc:  # noqa: BLE001 - any transport failure leaves the mail pending
                if recorded:  # delivered and recorded; only the goodbye failed
                    sent += 1
                    continue
                if delivered:  # keep the claim: resent only after CLAIM_TTL, with the same Message-ID
                    log.error(
                        "El correo %s se entregó pero no se pudo registrar su envío: %s. Se reenviará con el "
                        "mismo identificador pasados %s minutos.",
                        n.id,
                        exc,
                        int(CLAIM_TTL.total_seconds() // 60),
                    )
                    continue
                log.warning(
                    "El correo %s no se entregó por %s: %s Queda pendiente y se reintentará en la próxima entrega.",
                    n.id,
                    mailer.description,
                    exc,
                )
                with self.records.session() as s:
                    s.execute(
                        update(Notification)
                        .where(Notification.id == n.id, Notification.sent_at.is_(None))
                        .values(error=str(exc)[:2000], claimed_at=None)
                    )
                continue
            sent += 1
        return sent

    def record_sent(self, notification_id: int, transport: str) -> None:
        """Mark the mail sent: one UPDATE committed at once, the only work between the server's acceptance
        and the record."""
        with self.records.engine.begin() as conn:
            conn.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(sent_at=self.records.now(), transport=transport[:200], error="")
            )
