"""The forms offer only what the procedure allows now (cvp.state), and the API refuses the rest with a Spanish 409."""

from __future__ import annotations

from cvp import procedure as P
from tests.conftest import NEED
from tests.unit.test_office import MEETING, TEXTS


def test_a_planned_need_before_its_meeting_offers_no_text_nor_plan_and_the_api_refuses_them(web):
    need = web.office.register_need(NEED, "jefe", run_id="planificada").id
    editor = web.as_("profesional").get(f"/cvp/necesidades/{need}/texto")
    assert editor.status_code == 200 and "espera el registro de reunión" in editor.text
    assert "Presentar para aprobación" not in editor.text
    plan = web.as_("jefe").get(f"/cvp/necesidades/{need}/plan")
    assert (
        plan.status_code == 200 and "registre primero la reunión" in plan.text and 'name="contenidos"' not in plan.text
    )
    r = web.post_json("profesional", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})
    assert r.status_code == 409 and "actividad 2" in r.json()["detail"]
    r = web.post_json("jefe", f"/cvp/api/necesidades/{need}/plan", {"contenidos": ["Afiche"], "enlaces": ["DUT"]})
    assert r.status_code == 409 and "reunión" in r.json()["detail"]
    assert web.office.revisions(need) == [] and web.office.documents(need) == []

    web.office.record_meeting(need, "jefe", MEETING)
    meeting = web.as_("jefe").get(f"/cvp/necesidades/{need}/reunion")
    assert "ya tiene su registro de reunión" in meeting.text and 'name="temas"' not in meeting.text
    assert 'name="contenidos"' in web.as_("jefe").get(f"/cvp/necesidades/{need}/plan").text
    assert [s["actividad"] for s in web.as_("jefe").get("/cvp/api/bandeja").json()] == [3]
    assert P.HEAD == web.as_("jefe").get(f"/cvp/api/necesidades/{need}").json()["paso"]["rol"]
