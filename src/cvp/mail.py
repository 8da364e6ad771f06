"""Delivery of the institutional e-mails kept in the records.

Two transports: SMTP (settings from Airflow's SMTP connection, handed in by the Airflow side) and
a local mailbox folder for the embedded default, so that no mail is ever lost.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
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
    stable_id: bool = False  # the reference names one mail record: every delivery has the same Message-ID

    @property
    def message_id(self) -> str:
        """With ``stable_id``, the same for every delivery of one mail record, so that a resend after a
        crash between the SMTP acceptance and the record of ``sent_at`` is recognised (and dropped) by
        mail clients; otherwise a fresh one (references such as a day's digest are not unique)."""
        if not self.stable_id:
            return make_msgid(idstring=self.reference, domain="cvp.local")
        domain = parseaddr(self.sender)[1].rpartition("@")[2].strip().lower()
        if not domain or not all(c.isascii() and (c.isalnum() or c in ".-") for c in domain):
            domain = "cvp.local"
        left = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else "-" for c in self.reference) or "cvp"
        return f"<{left}@{domain}>"

    def message(self) -> EmailMessage:
        """The mail as sent; header values are made one line (a need's title may carry line breaks)."""
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = header_value(self.sender)
        msg["To"] = header_value(", ".join(self.recipients))
        msg["Subject"] = header_value(self.subject)
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = self.message_id
        msg.set_content(_UNENCODABLE.sub("\ufffd", self.body), charset="utf-8")
        return msg


# Every line break str.splitlines() knows (the email package refuses a header holding any of them),
# the other control characters, and lone surrogates, which UTF-8 cannot encode.
_LINE_BREAKS = re.compile("[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f]")
_UNENCODABLE = re.compile("[\ud800-\udfff]")


def header_value(value: str) -> str:
    """``value`` on one line, as a header must be: a title typed with line breaks keeps its words, joined
    by spaces, instead of blocking every mail of its need (the policy folds long lines itself)."""
    value = _LINE_BREAKS.sub(" ", value)
    value = _CONTROLS.sub("", value.replace("\t", " "))
    return _UNENCODABLE.sub("\ufffd", value).strip()


class Mailer(Protocol):
    description: str

    def send(self, mail: OutgoingMail) -> None: ...


def send_reporting(mailer: Mailer, mail: OutgoingMail, accepted: Callable[[], None]) -> None:
    """Send and call ``accepted`` the moment the transport has taken the mail (for SMTP, the server's
    answer to the message's end, before QUIT), so the caller records it with the least delay."""
    if getattr(mailer, "reports_acceptance", False):
        mailer.send(mail, accepted=accepted)
    else:
        mailer.send(mail)
        accepted()


class MailboxMailer:
    """Writes each mail as an .eml file, whole or not at all, in the product's store (``buzon/``).

    Takes the mailbox as a :class:`~cvp.storage.Storage` (the product's ``buzon`` child) or, for older
    callers and tests, a local folder.
    """

    def __init__(self, folder: Storage | Path):
        from cvp.storage import Storage

        self.storage = Storage.coerce(folder)
        where = "local" if self.storage.is_local else "en el almacenamiento"
        self.description = f"buzón {where} {self.storage.description}"

    def send(self, mail: OutgoingMail) -> None:
        self.storage.write_bytes(f"{time.time_ns()}-{mail.reference}.eml", bytes(mail.message()))


class SmtpMailer:
    """Plain SMTP with STARTTLS or SSL; a bounded timeout, no retries here (pending mails are retried later)."""

    reports_acceptance = True

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = True,
        use_ssl: bool = False,
        timeout: float = 20.0,
    ):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        self.description = f"SMTP {host}:{port}"

    def send(self, mail: OutgoingMail, accepted: Callable[[], None] | None = None) -> None:
        """Everything that can fail before the message's end is sent first; ``accepted`` runs right
        after the server accepts it, before QUIT, and a failing QUIT no longer matters."""
        message = mail.message()  # built before connecting: nothing slow after the server takes it
        context = ssl.create_default_context()
        if self.use_ssl:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls and not self.use_ssl:
                client.starttls(context=context)
            if self.user:
                client.login(self.user, self.password)
            client.send_message(message)
        except BaseException:
            client.close()
            raise
        try:
            if accepted is not None:
                accepted()
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def mailer_from_env(mailbox: Storage | Path) -> Mailer:
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
    return SmtpMailer(
        host,
        int(port or 587),
        user=login or "",
        password=password or "",
        starttls=not extra.get("disable_tls", False),
        use_ssl=not extra.get("disable_ssl", True),
        timeout=float(extra.get("timeout", 20)),
    )
