"""The day's summary of joint actions: joined, adapted, declined and why, still waiting; mailed to the team once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cvp import joint_actions as J
from cvp import joint_amplification as A
from cvp import joint_summary
from cvp.publishers.amplify import OutboxAmplifier

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "ejemplos" / "red_distrital_agenda.csv"
DAY = date(2026, 12, 1)


class Inbox:
    description = "prueba"

    def __init__(self):
        self.sent = []

    def send(self, mail):
        self.sent.append(mail)


def test_the_summary_says_what_was_joined_declined_and_why_and_what_waits_once(office, tmp_path):
    agenda = J.read_sample(SAMPLE, DAY)
    agenda.problems.append(J.Problem(5, "falta la entidad."))
    J.record_agenda(office, agenda, DAY, "ejemplo")
    J.record_agenda(office, agenda, DAY, "ejemplo")  # a retry: the refused row is reported once
    a, b, c = (v.action.id for v in J.actions_of_day(office, DAY))
    J.decide(office, "jefe", a, J.JOIN)
    J.decide(office, "jefe", b, J.DECLINE, "No corresponde a la misionalidad de la CVP")
    A.amplify_day(office, lambda i, ch: OutboxAmplifier(tmp_path, ch, i), DAY)
    summary = joint_summary.day_summary(office, DAY)
    assert [len(x) for x in (summary.joined, summary.adapted, summary.declined, summary.waiting)] == [1, 0, 1, 1]
    inbox = Inbox()
    assert joint_summary.send_summary(office, inbox, DAY) is True
    assert joint_summary.send_summary(office, inbox, DAY) is False
    [mail] = inbox.sent
    assert mail.subject.startswith("Red Distrital: resumen de las acciones conjuntas del ")
    body = mail.body
    assert "Nos unimos (1):" in body and "Bogotá celebra la Navidad en los barrios" in body
    assert "repost de la publicación — publicado:" in body
    assert "Declinamos (1):" in body and "Motivo: No corresponde a la misionalidad de la CVP" in body
    assert "Siguen sin decisión de la Jefe OAC (1):" in body and "Día de los derechos humanos" in body
    assert body.count("Línea 5: falta la entidad.") == 1
    assert "/cvp/red-distrital?dia=2026-12-01" in body
    assert c not in [v.action.id for v in summary.joined + summary.declined]


def test_an_empty_day_sends_nothing(office):
    inbox = Inbox()
    assert joint_summary.send_summary(office, inbox, date(2026, 12, 2)) is False and inbox.sent == []
