"""The head withdraws a need still in course (Office.cancel_need), from the JSON API and from the need's page.

Only the Jefe OAC cancels, with a reason, while the need is in course and its piece is not going out; the
reason and who cancelled stay in the audit trail (event ``necesidad_cancelada``) and the page shows them.
"""

from __future__ import annotations

import pytest

from cvp import procedure as P
from cvp import publishing
from cvp.publishers.outbox import OutboxPublisher
from tests.web.test_pages import EVIL, ONE_OFF, assert_accessible
from tests.web.test_publications import DiesDuringTheCall, approved, events

REASON = "La dependencia aplazó la entrega de títulos para enero."
FORM_ACTION = 'action="/cvp/necesidades/{}/cancelar"'


def api(need_id: int) -> str:
    return f"/cvp/api/necesidades/{need_id}/cancelar"


def form_path(need_id: int) -> str:
    return f"/cvp/necesidades/{need_id}/cancelar"


@pytest.fixture
def need(web):
    return web.office.register_need(ONE_OFF, "jefe", run_id="r").id


def assert_in_course(web, need_id: int):
    assert web.office.need(need_id).status == "en_curso"
    assert not events(web.office, need_id, "necesidad_cancelada")


def need_page(web, user: str, need_id: int, query: str = "") -> str:
    r = web.as_(user).get(f"/cvp/necesidades/{need_id}{query}")
    assert r.status_code == 200, r.text[-2000:]
    assert_accessible(r.text)
    return r.text


# --- JSON API ------------------------------------------------------------------------------------------------


def test_head_cancels_with_a_reason_in_her_name(web, need):
    r = web.post_json("jefe", api(need), {"motivo": f"  {REASON}  "})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["estado"], body["paso"]) == (need, "cancelada", None)
    assert body["url"] == f"/cvp/necesidades/{need}"
    assert web.office.need(need).status == "cancelada"
    [event] = events(web.office, need, "necesidad_cancelada")
    assert event.actor == "jefe" and event.detail["motivo"] == REASON and REASON in event.summary
    # Nothing waits on anybody any more; the need's detail says so.
    assert web.as_("jefe").get("/cvp/api/bandeja").json() == []
    detail = web.as_("lector").get(f"/cvp/api/necesidades/{need}").json()
    assert detail["estado"] == "cancelada" and detail["paso"] is None
    assert any(
        e["accion"] == "necesidad_cancelada" and e["detalle"]["motivo"] == REASON
        for t in detail["linea_tiempo"]
        for e in t["eventos"]
    )


def test_bearer_clients_need_no_csrf(web, need):
    r = web.anonymous().post(api(need), json={"motivo": REASON}, headers=web.bearer("jefe"))
    assert r.status_code == 200 and r.json()["estado"] == "cancelada"


@pytest.mark.parametrize("user", ["profesional", "tecnico", "lector", "intruso"])
def test_other_roles_are_refused(web, need, user):
    r = web.anonymous().post(api(need), json={"motivo": REASON}, headers=web.bearer(user))
    assert r.status_code == 403 and r.json()["codigo"] == "sin_permiso"
    if user != "intruso":
        r = web.post_json(user, api(need), {"motivo": REASON})  # with the cookie and a valid token too
        assert r.status_code == 403 and "corresponde a: Jefe" in r.json()["detail"]
    assert_in_course(web, need)


def test_no_login_is_refused(web, need):
    r = web.anonymous().post(api(need), json={"motivo": REASON})
    assert r.status_code == 401 and "Inicie sesión" in r.json()["detail"]
    assert_in_course(web, need)


def test_cookie_write_without_csrf_is_refused(web, need):
    r = web.post_json("jefe", api(need), {"motivo": REASON}, csrf=False)
    assert r.status_code == 403 and "código de seguridad" in r.json()["detail"]
    r = web.as_("jefe").post(
        api(need), json={"motivo": REASON}, headers={"X-CSRF-Token": web.csrf("profesional")}
    )  # someone else's token
    assert r.status_code == 403 and "código de seguridad" in r.json()["detail"]
    assert_in_course(web, need)


@pytest.mark.parametrize("body", [{"motivo": ""}, {"motivo": "  \n "}, {}])
def test_a_reason_is_required(web, need, body):
    r = web.post_json("jefe", api(need), body)
    assert r.status_code == 422 and r.json()["codigo"] == "datos_invalidos"
    assert "se requiere el motivo" in r.json()["detail"]
    assert_in_course(web, need)


def test_a_reason_too_long_or_of_the_wrong_type_is_refused_in_spanish(web, need):
    for body in ({"motivo": "x" * 5001}, {"motivo": 3}, {"motivo": None}):
        r = web.post_json("jefe", api(need), body)
        assert r.status_code == 422 and r.json()["detail"].startswith("La solicitud no es válida"), body
    assert_in_course(web, need)


def test_twice_is_a_conflict_and_records_one_event(web, need):
    assert web.post_json("jefe", api(need), {"motivo": REASON}).status_code == 200
    r = web.post_json("jefe", api(need), {"motivo": "Otra vez"})
    assert r.status_code == 409 and r.json()["codigo"] == "conflicto"
    assert "ya no está en curso (cancelada)" in r.json()["detail"]
    [event] = events(web.office, need, "necesidad_cancelada")
    assert event.detail["motivo"] == REASON


def test_a_piece_already_going_out_cannot_be_cancelled(web):
    need = approved(web.office)
    with pytest.raises(RuntimeError):  # the call to X dies mid-way: the row stays 'enviando'
        publishing.publish_once(web.office, DiesDuringTheCall(web.office.cfg.outbox_dir, "x"), need, "x")
    r = web.post_json("jefe", api(need), {"motivo": REASON})
    assert r.status_code == 409 and "ya se está publicando" in r.json()["detail"]
    assert_in_course(web, need)


def test_a_published_need_is_not_in_course(web):
    need = approved(web.office)
    for channel in ("x", "facebook"):
        publishing.publish_once(web.office, OutboxPublisher(web.office.cfg.outbox_dir, channel), need, channel)
    assert web.office.need(need).status == "publicada"
    r = web.post_json("jefe", api(need), {"motivo": REASON})
    assert r.status_code == 409 and "ya no está en curso (publicada)" in r.json()["detail"]


def test_unknown_need_is_a_404(web):
    r = web.post_json("jefe", api(999), {"motivo": REASON})
    assert r.status_code == 404 and "n.º 999" in r.json()["detail"] and r.json()["codigo"] == "no_encontrado"


def test_openapi_names_the_role(web):
    doc = web.as_("lector").get("/cvp/api/openapi.json").json()
    op = doc["paths"]["/api/necesidades/{necesidad}/cancelar"]["post"]
    assert op["x-cvp-roles"] == [P.HEAD]
    assert {"200", "401", "403", "404", "409", "422"} <= set(op["responses"])
    assert "Roles: Jefe OAC." in op["description"] and "necesidad_cancelada" in op["description"]
    schema = doc["components"]["schemas"][
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert schema["properties"]["motivo"]["maxLength"] == 5000
    html = web.as_("lector").get("/cvp/documentacion-api").text
    assert "/cvp/api/necesidades/{necesidad}/cancelar" in html


# --- the need's page -----------------------------------------------------------------------------------------


def test_the_form_is_offered_to_the_head_only(web, need):
    html = need_page(web, "jefe", need)
    assert FORM_ACTION.format(need) in html
    assert '<details class="cancelar-necesidad" id="cancelar">' in html  # closed until she opens it
    assert "<summary>Cancelar la necesidad</summary>" in html
    assert '<label for="motivo-cancelacion">Motivo' in html
    assert '<textarea id="motivo-cancelacion" name="motivo" rows="3" required maxlength="5000"' in html
    assert 'aria-describedby="motivo-cancelacion-ayuda"' in html and "aria-invalid" not in html
    assert "los pasos pendientes de esta necesidad terminan sin realizarse y no se publica nada" in html
    assert '<button type="submit" class="boton boton-devolver">Cancelar la necesidad</button>' in html
    # The form is the page's last section.
    assert html.index("Cancelar la necesidad") > html.index('id="sec-publicaciones"')
    for user in ("profesional", "tecnico", "lector"):
        html = need_page(web, user, need)
        assert "/cancelar" not in html and "Cancelar la necesidad" not in html and 'name="motivo"' not in html


def test_the_form_is_offered_only_while_in_course_and_not_publishing(web, need):
    web.office.cancel_need(need, "jefe", REASON)
    html = need_page(web, "jefe", need)
    assert "/cancelar" not in html and 'name="motivo"' not in html
    going_out = approved(web.office, run_id="otra")
    assert FORM_ACTION.format(going_out) in need_page(web, "jefe", going_out)
    with pytest.raises(RuntimeError):
        publishing.publish_once(web.office, DiesDuringTheCall(web.office.cfg.outbox_dir, "x"), going_out, "x")
    assert "/cancelar" not in need_page(web, "jefe", going_out)


def test_head_cancels_from_the_page(web, need):
    r = web.post_form("jefe", form_path(need), {"motivo": f"{REASON}\r\nSegunda línea."})
    assert r.status_code == 303
    assert r.headers["location"] == f"/cvp/necesidades/{need}?aviso=necesidad_cancelada"
    assert web.office.need(need).status == "cancelada"
    [event] = events(web.office, need, "necesidad_cancelada")
    assert event.actor == "jefe" and event.detail["motivo"] == f"{REASON}\nSegunda línea."
    html = need_page(web, "jefe", need, "?aviso=necesidad_cancelada")
    assert 'role="status"' in html and "Necesidad cancelada: los pasos pendientes terminan" in html
    assert "/cancelar" not in html


@pytest.mark.parametrize("user", ["jefe", "lector"])
def test_a_cancelled_need_shows_its_status_and_reason(web, need, user):
    web.office.cancel_need(need, "jefe", REASON)
    html = need_page(web, user, need)
    assert '<div class="aviso aviso-cancelada" id="necesidad-cancelada">' in html
    assert "<strong>Necesidad cancelada</strong> por jefe," in html and f"Motivo: «{REASON}»" in html
    assert "<dt>Estado</dt><dd>Cancelada — por jefe," in html
    assert f'<dt>Motivo de la cancelación</dt><dd class="texto-largo">{REASON}</dd>' in html
    assert "No se realizó (necesidad cancelada)" in html and "En curso</span>" not in html
    assert "Paso actual</dt><dd>Cancelada</dd>" in html
    assert 'class="accion-principal"' not in html  # nobody is offered a step any more


def test_the_shown_reason_is_escaped(web, need):
    assert web.post_json("jefe", api(need), {"motivo": EVIL}).status_code == 200
    html = need_page(web, "lector", need)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "Motivo: «&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;»" in html


def test_an_empty_reason_is_refused_in_place(web, need):
    r = web.post_form("jefe", form_path(need), {"motivo": "   "})
    assert r.status_code == 422 and 'role="alert"' in r.text and "se requiere el motivo" in r.text
    assert '<details class="cancelar-necesidad" id="cancelar" open>' in r.text
    assert 'aria-describedby="motivo-cancelacion-ayuda" aria-invalid="true">   </textarea>' in r.text
    assert_accessible(r.text)
    assert_in_course(web, need)


def test_a_refusal_keeps_the_typed_reason_escaped(web, need):
    typed = "</textarea>" + EVIL + " " + "x" * 5000
    r = web.post_form("jefe", form_path(need), {"motivo": typed})
    assert r.status_code == 422 and 'role="alert"' in r.text and "demasiado largo" in r.text
    assert "<script>alert" not in r.text and "<img src=x" not in r.text and r.text.count("</textarea>") == 1
    assert "&lt;/textarea&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in r.text and "x" * 5000 in r.text
    assert_accessible(r.text)
    assert_in_course(web, need)


def test_page_posts_refused_by_csrf_role_need_and_state(web, need):
    r = web.post_form("jefe", form_path(need), {"motivo": REASON}, csrf=False)
    assert r.status_code == 403 and "código de seguridad" in r.text
    for user in ("profesional", "lector"):
        r = web.post_form(user, form_path(need), {"motivo": REASON})
        assert r.status_code == 403 and 'role="alert"' in r.text and "corresponde a: Jefe" in r.text
        assert 'name="motivo"' not in r.text
        assert_accessible(r.text)
    assert_in_course(web, need)
    r = web.post_form("jefe", form_path(999), {"motivo": REASON})
    assert r.status_code == 404 and "n.º 999" in r.text
    assert web.post_form("jefe", form_path(need), {"motivo": REASON}).status_code == 303
    r = web.post_form("jefe", form_path(need), {"motivo": "Otra vez"})  # an old page, already cancelled
    assert r.status_code == 409 and 'role="alert"' in r.text and "ya no está en curso" in r.text
    assert "Motivo de la cancelación" in r.text
    assert_accessible(r.text)
    assert len(events(web.office, need, "necesidad_cancelada")) == 1
