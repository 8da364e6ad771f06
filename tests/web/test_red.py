"""The Red Distrital's joint actions in the forms: the day's page, the head's decision (page and JSON), the inbox."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cvp import joint_actions as J
from cvp.config import bogota_date
from tests.web.test_pages import assert_accessible

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "ejemplos" / "red_distrital_agenda.csv"


@pytest.fixture
def actions(web):
    """Today's sample agenda recorded, with one refused row: [repost, quote+share, share]."""
    today = bogota_date()
    agenda = J.read_sample(SAMPLE, today)
    agenda.problems.append(J.Problem(5, "falta la entidad."))
    J.record_agenda(web.office, agenda, today, "ejemplo")
    return [v.action for v in J.actions_of_day(web.office, today)]


def test_the_head_sees_waiting_actions_in_the_inbox_and_their_previews(web, actions):
    inbox = web.as_("jefe").get("/cvp/").text
    for a in actions:
        assert f'/cvp/red-distrital/acciones/{a.id}"' in inbox
    assert "/red-distrital/acciones/" not in web.as_("profesional").get("/cvp/").text
    r = web.as_("jefe").get(f"/cvp/red-distrital/acciones/{actions[1].id}")
    assert r.status_code == 200
    assert_accessible(r.text)
    assert "Cita de la publicación con el mensaje" in r.text and "Compartir la publicación enlazada" in r.text
    assert "conoce los subsidios para tu hogar. #BogotáCuidadora" in r.text
    assert 'name="decision" value="declinar"' in r.text
    other = web.as_("profesional").get(f"/cvp/red-distrital/acciones/{actions[1].id}").text
    assert "espera la decisión de la Jefe OAC" in other and 'name="decision"' not in other


def test_the_head_decides_in_the_page_and_the_day_page_sums_it_up(web, actions):
    repost, quote, share = actions
    r = web.post_form("jefe", f"/cvp/red-distrital/acciones/{share.id}", {"decision": "declinar", "motivo": ""})
    assert r.status_code == 422 and "escriba el motivo" in r.text and 'value="declinar" checked' in r.text
    r = web.post_form(
        "jefe", f"/cvp/red-distrital/acciones/{share.id}", {"decision": "declinar", "motivo": "Tema ajeno a la CVP"}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("aviso_red=declinar")
    r = web.post_form("jefe", f"/cvp/red-distrital/acciones/{repost.id}", {"decision": "unirse"})
    assert r.status_code == 303
    r = web.post_form("jefe", f"/cvp/red-distrital/acciones/{repost.id}", {"decision": "unirse"}, csrf=False)
    assert r.status_code == 403
    day = web.as_("lector").get(f"/cvp/red-distrital?dia={bogota_date().isoformat()}")
    assert day.status_code == 200
    assert_accessible(day.text)
    assert "Línea 5: falta la entidad." in day.text
    assert "Motivo: «Tema ajeno a la CVP»" in day.text
    assert "<dt>Unidas</dt><dd>1</dd>" in day.text and "<dt>Esperan decisión</dt><dd>1</dd>" in day.text
    inbox = web.as_("jefe").get("/cvp/").text
    assert f'/red-distrital/acciones/{quote.id}"' in inbox and f'/red-distrital/acciones/{repost.id}"' not in inbox
    assert web.as_("jefe").get("/cvp/red-distrital?dia=ayer").status_code == 422


def test_only_the_head_decides(web, actions):
    r = web.post_form("profesional", f"/cvp/red-distrital/acciones/{actions[0].id}", {"decision": "unirse"})
    assert r.status_code == 403 and "Jefe Oficina Asesora de Comunicaciones" in r.text
    r = web.post_json("tecnico", f"/cvp/api/red-distrital/acciones/{actions[0].id}/decision", {"decision": "unirse"})
    assert r.status_code == 403
    assert J.action(web.office, actions[0].id).decision is None


def test_the_json_api_in_spanish(web, actions):
    quote = actions[1]
    r = web.as_("jefe").get("/cvp/api/red-distrital/acciones", headers=web.bearer("jefe"))
    assert r.status_code == 200
    body = {a["id"]: a for a in r.json()}
    item = body[quote.id]
    assert item["estado"] == "pendiente" and item["decision"] is None and item["canales"] == ["x", "facebook"]
    assert [(p["canal"], p["modo"]) for p in item["vistas_previas"]] == [("x", "cita"), ("facebook", "compartir")]
    assert set(item) >= {
        "fecha",
        "entidad",
        "tema",
        "hashtag",
        "mensaje_sugerido",
        "enlace",
        "publicacion_a_amplificar",
    }
    path = f"/cvp/api/red-distrital/acciones/{quote.id}/decision"
    r = web.post_json("jefe", path, {"decision": "declinar"})
    assert r.status_code == 422 and "motivo" in r.json()["detail"]
    r = web.post_json("jefe", path, {"decision": "tal vez"})
    assert r.status_code == 422
    r = web.post_json("jefe", path, {"decision": "adaptar", "motivo": "Con el tono de la CVP"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["ya_registrada"] is False and out["accion"]["estado"] == "adaptar"
    assert out["accion"]["decision"]["decidido_por"] == "jefe" and out["accion"]["decision"]["decidido_en"]
    again = web.post_json("jefe", path, {"decision": "adaptar"})
    assert again.status_code == 200 and again.json()["ya_registrada"] is True
    changed = web.post_json("jefe", path, {"decision": "unirse"})
    assert changed.status_code == 409 and "no se cambia" in changed.json()["detail"]
    assert web.as_("jefe").get("/cvp/api/red-distrital/acciones/999999").status_code == 404


def test_an_earlier_day_is_no_longer_waiting(web):
    J.record_agenda(web.office, J.read_sample(SAMPLE, date(2020, 1, 2)), date(2020, 1, 2), "ejemplo")
    assert "/red-distrital/acciones/" not in web.as_("jefe").get("/cvp/").text
    assert "Esperan decisión</dt><dd>3</dd>" in web.as_("jefe").get("/cvp/red-distrital?dia=2020-01-02").text
