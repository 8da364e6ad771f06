"""The lists at scale (issue 16): statements per request independent of the number of needs, pages and links."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from cvp import procedure as P
from tests.conftest import NEED, ONE_OFF, tiny_png
from tests.unit.test_office import MEETING, TEXTS

MONTH = datetime.now(UTC).strftime("%Y-%m")
LISTS = [
    ("jefe", "/cvp/"),
    ("profesional", "/cvp/"),
    ("tecnico", "/cvp/"),
    ("lector", "/cvp/necesidades"),
    ("lector", "/cvp/necesidades?estado=todas"),
    ("lector", f"/cvp/calendario?mes={MONTH}"),
    ("jefe", "/cvp/api/bandeja"),
    ("profesional", "/cvp/api/bandeja"),
    ("lector", "/cvp/api/necesidades"),
    ("lector", "/cvp/api/necesidades?estado=todas&rol=profesional"),
    ("lector", f"/cvp/api/calendario?mes={MONTH}"),
]


def add_needs(office, count: int, start: int) -> None:
    """Needs at every place of the procedure, due this month, some published (closed)."""
    today = datetime.now(UTC).date().isoformat()
    for i in range(start, start + count):
        where = i % 6
        need = office.register_need(
            dict(NEED if where == 0 else ONE_OFF, titulo=f"Necesidad {i}", fecha_limite=today), "jefe", run_id=f"r{i}"
        ).id
        if where == 0:
            office.record_meeting(need, "jefe", MEETING)
            continue
        if where == 1:
            continue
        t = office.submit_text(need, "profesional", TEXTS)
        if where == 2:
            continue
        office.decide(need, t.id, 7, P.REJECTED if where == 3 else P.APPROVED, "jefe", "Ajustar")
        if where <= 4:
            continue
        d = office.submit_design(need, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
        office.decide(need, d.id, 12, P.APPROVED, "jefe")


def statements(web, user: str, path: str) -> int:
    seen = []

    def count(*_args, **_kw):
        seen.append(1)

    event.listen(web.office.engine, "before_cursor_execute", count)
    try:
        r = web.as_(user).get(path)
    finally:
        event.remove(web.office.engine, "before_cursor_execute", count)
    assert r.status_code == 200, (path, r.status_code, r.text[-500:])
    return len(seen)


def test_statements_per_list_request_do_not_grow_with_the_number_of_needs(web):
    add_needs(web.office, 6, 0)
    for user, path in LISTS:
        web.as_(user).get(path)  # warm: the team file, templates
    few = {(u, p): statements(web, u, p) for u, p in LISTS}
    add_needs(web.office, 36, 6)
    many = {(u, p): statements(web, u, p) for u, p in LISTS}
    assert many == few
    assert max(few.values()) <= 10, few


def test_the_json_lists_are_pages_with_links_and_counts(web):
    add_needs(web.office, 12, 0)
    head = web.as_("jefe")
    r = head.get("/cvp/api/necesidades?estado=todas&limite=5")
    assert r.status_code == 200 and len(r.json()) == 5 and r.headers["x-total-count"] == "12"
    seen = [n["id"] for n in r.json()]
    while "link" in r.headers:
        nxt = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["link"]).group(1)
        r = head.get(nxt)
        seen += [n["id"] for n in r.json()]
    assert sorted(seen) == list(range(1, 13)) and len(seen) == 12
    by_run = head.get("/cvp/api/necesidades?estado=todas&ejecucion=r3").json()
    assert [n["id"] for n in by_run] == [4]
    waiting = head.get("/cvp/api/necesidades?rol=profesional").json()
    assert waiting and all(n["paso"]["rol"] == P.PROFESSIONAL for n in waiting)
    inbox = head.get("/cvp/api/bandeja?actividad=7")
    assert {s["actividad"] for s in inbox.json()} == {7} and inbox.headers["x-total-count"] == str(len(inbox.json()))
    bad = head.get("/cvp/api/bandeja?desde=1.x")
    assert bad.status_code == 422 and "desde" in bad.json()["detail"] + " ".join(bad.json()["detalles"])


@pytest.mark.parametrize("path", ["/cvp/?desde=basura", "/cvp/necesidades?desde=9.9.9"])
def test_a_bad_page_key_in_a_page_is_a_spanish_422(web, path):
    r = web.as_("jefe").get(path)
    assert r.status_code == 422 and "clave de página" in r.text


def test_the_pages_show_counts_and_the_next_page(web):
    add_needs(web.office, 60, 0)
    html = web.as_("profesional").get("/cvp/").text
    assert "20 pasos esperan por usted" in html and "Página siguiente" not in html
    html = web.as_("lector").get("/cvp/necesidades?estado=todas").text
    assert "60 necesidades con ese filtro" in html and "Página siguiente" in html
    nxt = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    second = web.as_("lector").get(nxt)
    assert second.status_code == 200 and "Primera página" in second.text
    html = web.as_("lector").get(f"/cvp/calendario?mes={MONTH}").text
    assert "120 piezas; se muestran 100" in html and "Página siguiente" in html and "y 20 más" in html
