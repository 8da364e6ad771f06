"""Who may see and do what: Airflow's login on every route, the team's roles, anti-forgery tokens."""

from __future__ import annotations

import os
import re
import time

import pytest
from fastapi.routing import APIRoute

from cvp import procedure as P
from tests.conftest import NEED

ONE_OFF = dict(NEED, accion_puntual=True)
TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "cvp.css" if m.group(1) == "name" else "1", path)


def all_routes(app):
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in route.methods - {"HEAD"}:
                yield method, concrete(route.path)


def test_every_route_of_the_app_requires_login(web):
    """Airflow leaves plugin routes public: here none is, pages, API, static files and OpenAPI alike."""
    routes = list(all_routes(web.app))
    assert len(routes) >= 25
    anon = web.anonymous()
    for method, path in routes:
        r = anon.request(method, "/cvp" + path)
        if path.startswith("/api/"):
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert "Inicie sesión" in r.json()["detail"]
        else:
            assert r.status_code == 303, (method, path, r.status_code)
            assert r.headers["location"].startswith("/auth/login?next=%2Fcvp"), r.headers["location"]


def test_default_public_documents_are_switched_off(web):
    anon = web.anonymous()
    for path in ("/cvp/openapi.json", "/cvp/docs", "/cvp/redoc"):
        assert anon.get(path).status_code in (303, 404), path
    assert anon.get("/cvp/api/openapi.json").status_code == 401
    doc = web.as_("lector").get("/cvp/api/openapi.json").json()
    paths = doc["paths"]
    assert {
        "/api/necesidades/{necesidad}/texto",
        "/api/necesidades/{necesidad}/decisiones",
        "/api/necesidades/{necesidad}/diseno",
        "/api/verificar",
        "/api/bandeja",
        "/api/calendario",
        "/api/necesidades/{necesidad}/expediente",
    } <= set(paths)
    assert all(p.startswith("/api/") for p in paths)  # pages are not API operations
    assert paths["/api/necesidades/{necesidad}/decisiones"]["post"]["x-cvp-roles"] == [P.HEAD]
    assert paths["/api/necesidades/{necesidad}/diseno"]["post"]["x-cvp-roles"] == [P.TECHNICIAN]
    assert "multipart/form-data" in paths["/api/necesidades/{necesidad}/diseno"]["post"]["requestBody"]["content"]


def test_bad_or_expired_token_is_refused(web, auth_manager):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    c = web.anonymous()
    c.cookies.set("_token", "no-es-un-jwt")
    assert c.get("/cvp/api/yo").status_code == 403
    assert c.get("/cvp/").headers["location"].startswith("/auth/login")
    expired = auth_manager.generate_jwt(
        SimpleAuthManagerUser(username="jefe", role="user"), expiration_time_in_seconds=-10
    )
    r = web.anonymous().get("/cvp/api/yo", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "venció" in r.json()["detail"]


def test_airflow_user_outside_the_team_sees_nothing(web):
    r = web.as_("intruso").get("/cvp/api/bandeja")
    assert r.status_code == 403 and "no está en el equipo" in r.json()["detail"]
    page = web.as_("intruso").get("/cvp/")
    assert page.status_code == 403 and "no está en el equipo" in page.text
    # The static files need only the login, so the refusal page is styled.
    assert web.as_("intruso").get("/cvp/static/cvp.css").status_code == 200


def test_me_tells_the_role_and_a_token(web):
    body = web.as_("jefe").get("/cvp/api/yo").json()
    assert (body["usuario"], body["rol"]) == ("jefe", P.HEAD)
    assert body["nombre_rol"] == P.ROLE_NAMES[P.HEAD] and body["codigo_csrf"]


@pytest.mark.parametrize(
    "user, allowed", [("jefe", False), ("tecnico", False), ("lector", False), ("admin", False), ("profesional", True)]
)
def test_only_the_professional_submits_text(web, user, allowed):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    r = web.post_json(user, f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})
    if allowed:
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 403, r.text
        assert "corresponde a" in r.json()["detail"]
        assert web.office.revisions(need) == []


@pytest.mark.parametrize("user", ["profesional", "tecnico", "lector"])
def test_only_the_head_decides(web, user):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    rev = web.office.submit_text(need, "profesional", TEXTS)
    body = {"revision": rev.id, "punto_control": 7, "decision": "aprobado"}
    r = web.post_json(user, f"/cvp/api/necesidades/{need}/decisiones", body)
    assert r.status_code == 403 and "Jefe Oficina Asesora" in r.json()["detail"]
    assert web.office.current_revision(need, P.TEXT).state == "presentado"
    # The page refuses the same way, and does not even show the decision form.
    assert web.as_(user).get(f"/cvp/necesidades/{need}/revision-texto").status_code == 403


def test_the_role_mapping_is_read_again_on_every_action(web, tmp_path):
    """The office edits the team file without code; the next action already obeys it."""
    team = tmp_path / "equipo.yml"
    base = "usuarios:\n  jefe: {rol: jefe_oac}\n  tecnico: {rol: tecnico}\n  profesional: {rol: %s}\n"
    team.write_text(base % "profesional")
    web.office.cfg = type(web.office.cfg)(**{**web.office.cfg.__dict__, "team_file": team})
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    assert web.post_json("profesional", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS}).status_code == 201
    team.write_text(base % "lector")
    future = time.time() + 5  # a different modification time even on coarse clocks
    os.utime(team, (future, future))
    r = web.post_json("profesional", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})
    assert r.status_code == 403 and "Consulta" in r.json()["detail"]


def test_self_approval_is_refused(web, tmp_path):
    """Someone who wrote the text and is later made head still cannot approve it."""
    team = tmp_path / "equipo.yml"
    team.write_text("usuarios:\n  ana: {rol: profesional}\n  jefe: {rol: jefe_oac}\n")
    web.office.cfg = type(web.office.cfg)(**{**web.office.cfg.__dict__, "team_file": team})
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    rev = web.office.submit_text(need, "ana", TEXTS)
    team.write_text("usuarios:\n  ana: {rol: jefe_oac}\n  jefe: {rol: jefe_oac}\n")
    os.utime(team, (time.time() + 5, time.time() + 5))
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="ana", role="user"))
    r = web.anonymous().post(
        f"/cvp/api/necesidades/{need}/decisiones",
        headers={"Authorization": f"Bearer {token}"},
        json={"revision": rev.id, "punto_control": 7, "decision": "aprobado"},
    )
    assert r.status_code == 409 and "propio trabajo" in r.json()["detail"]
    assert web.office.current_revision(need, P.TEXT).state == "presentado"
    # Her inbox does not offer it either.
    assert web.anonymous().get("/cvp/api/bandeja", headers={"Authorization": f"Bearer {token}"}).json() == []


# --- anti-forgery ------------------------------------------------------------------------------------------


def test_json_write_with_the_cookie_needs_the_csrf_header(web):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    path = f"/cvp/api/necesidades/{need}/texto"
    r = web.post_json("profesional", path, {"textos": TEXTS}, csrf=False)
    assert r.status_code == 403 and "código de seguridad" in r.json()["detail"]
    r = web.as_("profesional").post(path, json={"textos": TEXTS}, headers={"X-CSRF-Token": "123.abc"})
    assert r.status_code == 403 and "no es válido" in r.json()["detail"]
    # Another user's token does not work either.
    r = web.as_("profesional").post(path, json={"textos": TEXTS}, headers={"X-CSRF-Token": web.csrf("jefe")})
    assert r.status_code == 403
    assert web.office.revisions(need) == []
    assert web.post_json("profesional", path, {"textos": TEXTS}).status_code == 201


def test_bearer_header_is_exempt_from_csrf(web):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    r = web.anonymous().post(
        f"/cvp/api/necesidades/{need}/texto", json={"textos": TEXTS}, headers=web.bearer("profesional")
    )
    assert r.status_code == 201, r.text


def test_form_post_without_csrf_field_is_refused_and_changes_nothing(web):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    rev = web.office.submit_text(need, "profesional", TEXTS)
    data = {"revision_id": rev.id, "decision": "aprobado", "comentario": ""}
    r = web.post_form("jefe", f"/cvp/necesidades/{need}/revision-texto", data, csrf=False)
    assert r.status_code == 403 and "código de seguridad" in r.text
    assert web.office.current_revision(need, P.TEXT).state == "presentado"
    r = web.post_form("jefe", f"/cvp/necesidades/{need}/revision-texto", data)
    assert r.status_code == 303 and web.office.current_revision(need, P.TEXT).state == P.APPROVED


@pytest.mark.parametrize("path", ["/cvp/api/necesidades/{need}/diseno", "/cvp/necesidades/{need}/diseno"])
def test_upload_without_csrf_is_refused_before_storing(web, path):
    from tests.conftest import tiny_png

    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    rev = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev.id, 7, P.APPROVED, "jefe")
    files = {"archivo": ("afiche.png", tiny_png(), "image/png")}
    r = web.post_form("tecnico", path.format(need=need), {"alt_text": "Afiche"}, files=files, csrf=False)
    assert r.status_code == 403, r.text
    assert "código de seguridad" in r.text
    assert web.office.revisions(need, P.DESIGN) == []
    uploads = web.office.cfg.uploads_dir
    assert not uploads.exists() or not any(uploads.rglob("*.png"))
    assert not any((web.office.cfg.data_dir / "subidas-en-curso").glob("*"))


def test_csrf_tokens_expire_and_are_bound_to_the_user():
    from cvp_airflow.web.security import CSRF_MAX_AGE, csrf_token, csrf_valid

    now = time.time()
    token = csrf_token("jefe", now)
    assert csrf_valid("jefe", token, now)
    assert not csrf_valid("profesional", token, now)
    assert not csrf_valid("jefe", token, now + CSRF_MAX_AGE + 1)
    assert not csrf_valid("jefe", token.replace(".", ".0"), now)
    assert not csrf_valid("jefe", "", now) and not csrf_valid("jefe", "abc", now)


def test_security_headers_on_pages_and_json(web):
    page = web.as_("lector").get("/cvp/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert web.as_("lector").get("/cvp/api/bandeja").headers["cache-control"] == "no-store"


def test_malformed_json_body_is_a_login_refusal_for_anonymous_callers(web):
    """FastAPI reads a JSON body before the login dependency runs: the login must still answer first."""
    anon = web.anonymous()
    for route in web.app.routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            path = "/cvp" + concrete(route.path)
            r = anon.post(path, content=b"{no es json", headers={"content-type": "application/json"})
            assert r.status_code == 401, (path, r.status_code, r.text)
            assert r.json()["codigo"] == "sin_sesion" and "JSON" not in r.text
    # A logged-in member still gets the Spanish explanation of the bad body.
    r = web.as_("profesional").post(
        "/cvp/api/verificar",
        content=b"{no es json",
        headers={"content-type": "application/json", "X-CSRF-Token": web.csrf("profesional")},
    )
    assert r.status_code == 422 and r.json()["codigo"] == "datos_invalidos"


def test_csrf_token_with_non_ascii_characters_is_refused_not_a_server_error(web):
    from cvp_airflow.web.security import csrf_valid

    now = int(time.time())
    assert not csrf_valid("jefe", f"{now}.é", now)
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    r = web.as_("profesional").post(
        f"/cvp/api/necesidades/{need}/texto",
        json={"textos": TEXTS},
        headers={"X-CSRF-Token": f"{now}.\xe9".encode("latin-1")},
    )
    assert r.status_code == 403 and "no es válido" in r.json()["detail"]
    r = web.as_("jefe").post(
        f"/cvp/necesidades/{need}/plan", data={"codigo_csrf": f"{now}.ñ", "contenidos": "a", "enlaces": "b"}
    )
    assert r.status_code == 403 and "código de seguridad" in r.text
    assert web.office.documents(need) == []
