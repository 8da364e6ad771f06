"""The daily exchange with the Red Distrital: each piece sent once, each request received once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import respx

from cvp import publishing, red_distrital
from cvp.publishers.outbox import OutboxPublisher
from tests.unit.test_publishing import ready  # noqa: F401  (fixture)


class Inbox:
    description = "prueba"

    def __init__(self):
        self.sent = []

    def send(self, mail):
        self.sent.append(mail)


FEED = {
    "publicaciones": [
        {
            "entidad": "Secretaría del Hábitat",
            "mensaje": "Feria de vivienda este sábado",
            "enlace": "https://habitat.gov.co/feria",
            "fecha": "2026-11-29",
        },
        {"entidad": "IDU", "mensaje": "Cierre vial", "enlace": "ftp://no-es-web"},
        {"mensaje": "sin entidad"},
        {"entidad": "Alcaldía", "mensaje": "Día sin carro", "fecha": "mañana"},
    ]
}


def test_feed_items_are_validated_with_spanish_reasons():
    items, problems = red_distrital.parse_feed(FEED)
    assert [i.entity for i in items] == ["Secretaría del Hábitat", "Alcaldía"]
    assert items[0].day == date(2026, 11, 29) and items[1].day is None
    assert any("no es una dirección web" in p for p in problems)
    assert any("falta la entidad" in p for p in problems)
    assert any("fecha no válida" in p for p in problems)
    assert red_distrital.parse_feed("basura") == (
        [],
        ["El boletín de la Red Distrital no trae una lista de publicaciones."],
    )


def test_received_items_are_recorded_and_announced_once(office):
    items, _ = red_distrital.parse_feed(FEED)
    inbox = Inbox()
    day = date(2026, 11, 28)
    assert len(red_distrital.receive(office, items, inbox, day)) == 2
    assert red_distrital.receive(office, items, inbox, day) == []
    [mail] = inbox.sent
    assert "2 publicaciones para replicar" in mail.subject and "Feria de vivienda" in mail.body


def test_digest_sends_each_published_piece_once(office, ready):  # noqa: F811
    for ch in ("x", "facebook"):
        publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, ch), ready, ch)
    inbox = Inbox()
    today = datetime.now(UTC).date()
    assert red_distrital.send_digest(office, inbox, today) == 2
    assert red_distrital.send_digest(office, inbox, today + timedelta(days=1)) == 0
    [mail] = inbox.sent
    assert mail.recipients == (office.cfg.red_distrital_email,)
    assert "Entrega de títulos" in mail.body and "X (Twitter)" in mail.body


@respx.mock
def test_feed_is_fetched_with_retries_on_server_errors(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    route = respx.get("https://red.example/boletin").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=FEED)]
    )
    assert red_distrital.fetch_feed("https://red.example/boletin", token="t") == FEED
    assert route.call_count == 2 and route.calls[0].request.headers["Authorization"] == "Bearer t"
    respx.get("https://red.example/no").mock(return_value=httpx.Response(404))
    with pytest.raises(RuntimeError, match="No se pudo leer el boletín"):
        red_distrital.fetch_feed("https://red.example/no")
