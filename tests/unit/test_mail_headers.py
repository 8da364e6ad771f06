"""A need's title with line breaks is stored as given and never blocks its mails (issue 10, item 8)."""

from __future__ import annotations

import email
from email import policy

import pytest

from cvp import procedure as P
from cvp.mail import OutgoingMail, header_value
from tests.conftest import ONE_OFF

TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}


def _mails(office) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(office.cfg.mailbox_dir.iterdir())
    ]


def test_a_title_with_line_breaks_is_kept_and_every_mail_of_its_need_goes_out_on_one_subject_line(office):
    title = "Entrega de títulos\r\nBcc: intruso@example.com\n\nen Usme"
    need = office.register_need(dict(ONE_OFF, titulo=title), "jefe", run_id="r")
    assert office.need(need.id).title == title  # stored as given
    rev = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, rev.id, 7, P.REJECTED, "jefe", "Precisar la cifra")
    office.deliver_pending()

    pending = [n for n in office.notifications(need.id) if n.sent_at is None]
    assert pending == [] and len(office.notifications(need.id)) >= 2
    mails = _mails(office)
    assert mails and all(m["Bcc"] is None for m in mails)
    for m in mails:
        assert "Entrega de títulos Bcc: intruso@example.com en Usme" in m["Subject"]
        assert "\n" not in m["Subject"] and "\r" not in m["Subject"]


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_every_line_break_python_knows_becomes_a_space(brk):
    mail = OutgoingMail(
        ("jefe.oac@cajaviviendapopular.gov.co",),
        f"Revisión{brk}de la pieza",
        "Cuerpo",
        "OAC <oac@cajaviviendapopular.gov.co>",
        "cvp-1",
    )
    parsed = email.message_from_bytes(bytes(mail.message()), policy=policy.default)
    assert parsed["Subject"] == "Revisión de la pieza"


def test_controls_and_lone_surrogates_do_not_block_a_mail():
    mail = OutgoingMail(
        ("a@example.com",), "Pieza\x00\x07 con\t\ud800 rota", "Texto \udfff final", "OAC <oac@example.com>", "cvp-2"
    )
    parsed = email.message_from_bytes(bytes(mail.message()), policy=policy.default)
    assert parsed["Subject"] == "Pieza con \ufffd rota"
    assert "Texto \ufffd final" in parsed.get_content()


def test_a_long_subject_is_folded_by_the_policy_and_reads_back_whole():
    subject = "Contenidos para aprobación: " + "Entrega de títulos de propiedad en Ciudad Bolívar " * 30
    mail = OutgoingMail(("a@example.com",), subject, "Cuerpo", "OAC <oac@example.com>", "cvp-3")
    raw = bytes(mail.message())
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == subject.strip()


def test_header_value_keeps_the_words_as_typed():
    assert header_value("  Título   con  espacios \r\n fin ") == "Título   con  espacios   fin"
