"""Mail under faults (issue 10, item 10): a crash between the SMTP server's acceptance and the record of
``sent_at`` resends the mail after the claim expires; the resend carries the same Message-ID, so mail
clients drop it, and the record is written before the SMTP session even ends."""

from __future__ import annotations

import email
import socket
import threading
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select, update

from cvp.mail import MailboxMailer, SmtpMailer
from cvp.office import Office
from cvp.office.outbox import CLAIM_TTL, Outbox
from cvp.records.models import Notification, utcnow
from tests.conftest import ONE_OFF
from tests.unit.test_office import TEXTS


class Killed(BaseException):
    """The process dies here: none of our except clauses runs."""


class SmtpServer:
    """A minimal SMTP server on 127.0.0.1 (ephemeral port), one thread per session, keeping each message.

    ``on_quit`` is called when a client says QUIT, before the server answers it; if it returns False the
    server hangs up without answering.
    """

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.on_quit = None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(5)
        f = conn.makefile("rb")

        def say(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        say("220 prueba")
        data, body = False, []
        try:
            for raw in f:
                line = raw.rstrip(b"\r\n")
                if data:
                    if line == b".":
                        data = False
                        self.messages.append(email.message_from_bytes(b"\r\n".join(body), policy=policy.default))
                        body = []
                        say("250 en cola")
                    else:
                        body.append(line[1:] if line.startswith(b"..") else line)
                    continue
                cmd = line.split(b" ")[0].upper()
                if cmd in (b"EHLO", b"HELO"):
                    say("250 prueba")
                elif cmd == b"DATA":
                    data = True
                    say("354 adelante")
                elif cmd == b"QUIT":
                    if self.on_quit and self.on_quit() is False:
                        break
                    say("221 adiós")
                    break
                else:
                    say("250 ok")
        finally:
            conn.close()


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def a_need_with_one_mail(office: Office) -> int:
    need = office.register_need(ONE_OFF, "jefe", run_id="r").id
    office.submit_text(need, "profesional", TEXTS)  # queues the mail to the head (activity 6)
    [n] = office.notifications(need)
    assert n.sent_at is None
    return need


def expire_claims(office: Office) -> None:
    with office.session() as s:
        s.execute(update(Notification).values(claimed_at=utcnow() - CLAIM_TTL - timedelta(seconds=1)))


@pytest.mark.parametrize("transport", ["smtp", "buzon"])
def test_a_mail_resent_after_a_crash_carries_the_same_message_id(sqlite_url, smtp, monkeypatch, transport):
    office = Office(sqlite_url)
    mailer = (
        SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5)
        if transport == "smtp"
        else MailboxMailer(office.cfg.mailbox_dir)
    )
    need = a_need_with_one_mail(office)
    real = Outbox.record_sent

    def killed(self, *args):
        raise Killed("el api-server murió entre la aceptación y el registro")

    monkeypatch.setattr(Outbox, "record_sent", killed)
    with pytest.raises(Killed):
        office.deliver_pending(mailer, need_id=need)
    monkeypatch.setattr(Outbox, "record_sent", real)
    [n] = office.notifications(need)
    assert n.sent_at is None and n.claimed_at is not None  # claimed, sent, not recorded
    assert office.deliver_pending(mailer, need_id=need) == 0  # the claim holds: no resend at once

    expire_claims(office)
    assert office.deliver_pending(mailer, need_id=need) == 1  # redelivered after the claim expired

    if transport == "smtp":
        first, second = smtp.messages
    else:
        first, second = (
            email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(office.cfg.mailbox_dir.iterdir())
        )
    assert (
        first["Message-ID"] == second["Message-ID"] == f"<cvp-{n.id}.{n.created_at:%Y%m%d%H%M%S%f}"
        "@cajaviviendapopular.gov.co>"
    )
    assert first["Subject"] == second["Subject"] and first.get_content() == second.get_content()
    [n] = office.notifications(need)
    assert n.sent_at is not None and n.error == ""
    assert office.deliver_pending(mailer, need_id=need) == 0


def test_sent_at_is_recorded_before_the_smtp_session_ends(sqlite_url, smtp):
    office = Office(sqlite_url)
    need = a_need_with_one_mail(office)
    at_quit = []

    def look():  # what the records say when the client says goodbye
        with office.session() as s:
            at_quit.append(s.scalar(select(Notification.sent_at).where(Notification.need_id == need)))

    smtp.on_quit = look
    assert office.deliver_pending(SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5), need_id=need) == 1
    assert len(smtp.messages) == 1 and at_quit and at_quit[0] is not None


def test_a_failing_goodbye_after_acceptance_is_still_a_sent_mail(sqlite_url, smtp):
    office = Office(sqlite_url)
    need = a_need_with_one_mail(office)

    smtp.on_quit = lambda: False  # QUIT gets no answer: the connection just closes
    assert office.deliver_pending(SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5), need_id=need) == 1
    [n] = office.notifications(need)
    assert n.sent_at is not None and n.claimed_at is not None and n.error == ""
    assert len(smtp.messages) == 1


def test_different_mail_records_have_different_message_ids(sqlite_url, smtp):
    office = Office(sqlite_url)
    first = a_need_with_one_mail(office)
    second = office.register_need(dict(ONE_OFF, titulo="Otra necesidad"), "jefe", run_id="r2").id
    office.submit_text(second, "profesional", TEXTS)
    assert office.deliver_pending(SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5)) == 2
    assert first != second and len({m["Message-ID"] for m in smtp.messages}) == 2
