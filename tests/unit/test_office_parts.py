"""The office's parts as their users outside it see them: the records (need lookup, audit trail written with
the act or not at all), the outbox (one mail per act, linking to the office's own address), and the rule
that nothing outside ``cvp.office`` reaches into an office's private members."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from cvp import procedure as P
from cvp.errors import NotFound
from tests.conftest import ONE_OFF

ROOT = Path(__file__).resolve().parents[2]


def test_records_need_refuses_an_unknown_need_in_spanish(office):
    with office.session() as s, pytest.raises(NotFound, match="No existe la necesidad de comunicación n.º 999"):
        office.records.need(s, 999, for_update=True)


def test_an_event_is_written_with_its_act_or_not_at_all(office):
    need = office.register_need(ONE_OFF, "jefe").id
    with pytest.raises(RuntimeError), office.session() as s:
        office.records.event(s, need, 14, "prueba", P.SYSTEM, "Evento de prueba.")
        raise RuntimeError("el acto falla después de su evento")
    assert not any(e.action == "prueba" for e in office.events(need))

    with office.session() as s:
        office.records.event(s, need, 14, "prueba", P.SYSTEM, "Evento de prueba.", canal="x")
        assert office.records.has_event(s, need, 14, "prueba")
    [event] = [e for e in office.events(need) if e.action == "prueba"]
    assert event.detail == {"canal": "x"} and event.actor == P.SYSTEM


def test_the_outbox_queues_one_mail_per_act_linking_to_the_office_address(office):
    need_id = office.register_need(ONE_OFF, "jefe").id
    office.cfg = dataclasses.replace(office.cfg, base_url="https://cvp.example.org")
    m = {"canales": {}, "rondas_control": {"7": 1, "12": 1}, "a_tiempo": None}
    with office.session() as s:
        need = office.records.need(s, need_id)
        for _ in range(2):  # a retried act queues nothing twice
            office.outbox.queue(s, need, 14, "equipo", ["equipo@example.org"], "publicacion_equipo", m=m)
        assert office.outbox.queued(s, need_id, 14, "equipo")
        assert not office.outbox.queued(s, need_id, 14, "otro")
    [mail] = [n for n in office.notifications(need_id) if n.activity == 14]
    assert mail.recipients == ["equipo@example.org"]
    assert f"https://cvp.example.org/cvp/necesidades/{need_id}" in mail.body


def test_nothing_outside_the_office_reaches_into_its_private_members():
    private = re.compile(r"\boffice\._[a-z]")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("src", "plugins", "dags")
        for path in (ROOT / folder).rglob("*.py")
        if "office" not in path.relative_to(ROOT).parts[:-1]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line)
    ]
    assert found == []
