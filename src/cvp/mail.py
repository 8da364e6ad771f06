"""Delivery of the institutional e-mails kept in the records.

Two transports: SMTP (settings from Airflow's SMTP connection, handed in by the Airflow side) and
a local mailbox folder for the embedded default, so that no mail is ever lost.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cvp.storage import Storage

log = logging.getLogger(__name__)
# Long Spanish subjects were refolded with lost and doubled spaces under the default 78-column policy.
_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class OutgoingMail:
    recipients: tuple[str, ...]
    subject: str
    body: str
    sender: str
    reference: str  # stable id of the record, also the Message-ID's left part

    def message(self) -> EmailMessage:
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = make_msgid(idstring=self.reference, domain="cvp.local")
        msg.set_content(self.body, charset="utf-8")
        return msg


class Mailer(Protocol):
    description: str

    def send(self, mail: OutgoingMail) -> None: ...


class MailboxMailer:
    """Writes each mail as an .eml file, whole or not at all, in the product's store (``buzon/``).

    Takes the mailbox as a :class:`~cvp.storage.Storage` (the product's ``buzon`` child) or, for older
    callers and tests, a local folder.
    """

    def __init__(self, folder: "Storage | Path"):
        from cvp.storage import Storage

        self.storage = Storage.coerce(folder)
        where = "local" if self.storage.is_local else "en el almacenamiento"
        self.description = f"buzón {where} {self.storage.description}"

    def send(self, mail: OutgoingMail) -> None:
        self.storage.write_bytes(f"{time.time_ns()}-{mail.reference}.eml", bytes(mail.message()))


class SmtpMailer:
    """Plain SMTP with STARTTLS or SSL; a bounded timeout, no retries here (pending mails are retried later)."""

    def __init__(self, host: str, port: int = 587, *, user: str = "", password: str = "",
                 starttls: bool = True, use_ssl: bool = False, timeout: float = 20.0):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        self.description = f"SMTP {host}:{port}"

    def send(self, mail: OutgoingMail) -> None:
        context = ssl.create_default_context()
        if self.use_ssl:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.starttls and not self.use_ssl:
                client.starttls(context=context)
            if self.user:
                client.login(self.user, self.password)
            client.send_message(mail.message())


def mailer_from_env(mailbox: "Storage | Path") -> Mailer:
    """The command line's transport: Airflow's SMTP connection when it is given in the environment
    (``AIRFLOW_CONN_SMTP_DEFAULT``, JSON or URI form, as Airflow reads it), else the local mailbox."""
    import json
    import os
    from urllib.parse import unquote, urlsplit

    conn_id = os.environ.get("CVP_SMTP_CONN_ID", "smtp_default")
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return MailboxMailer(mailbox)
    if raw.lstrip().startswith("{"):
        c = json.loads(raw)
        host, port, user, password = c.get("host"), c.get("port"), c.get("login") or "", c.get("password") or ""
        extra = c.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else extra
    else:
        u = urlsplit(raw)
        host, port = u.hostname, u.port
        user, password = unquote(u.username or ""), unquote(u.password or "")
        extra = {}
    return smtp_mailer(host, port, user, password, extra)


def smtp_mailer(host: str, port: int | None, login: str | None, password: str | None, extra: dict) -> SmtpMailer:
    """SmtpMailer from the fields of an Airflow SMTP connection (extra: disable_tls, disable_ssl, timeout),
    read the same way by the tasks, the forms and the command line."""
    return SmtpMailer(host, int(port or 587), user=login or "", password=password or "",
                      starttls=not extra.get("disable_tls", False), use_ssl=not extra.get("disable_ssl", True),
                      timeout=float(extra.get("timeout", 20)))
