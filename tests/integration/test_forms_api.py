"""The forms' JSON API on the real api-server: Airflow's login, roles, anti-forgery, uploads, and a run it drives."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest

from tests.clients import Forms
from tests.conftest import NEED, tiny_png

pytestmark = pytest.mark.integration

TEXTS = {
    "x": "Hoy entregamos 118 títulos de propiedad en Ciudad Bolívar.",
    "facebook": "Hoy entregamos 118 títulos de propiedad a hogares de Ciudad Bolívar.",
}


@pytest.fixture(scope="module")
def people(airflow_stack):
    return {u: Forms(airflow_stack, u) for u in ("jefe", "profesional", "tecnico", "lector")}


def need_of(forms: Forms, run_id: str) -> int:
    status, needs, _ = forms.call("GET", "/cvp/api/necesidades?estado=todas")
    assert status == 200, needs
    return next(n["id"] for n in needs if n["ejecucion"] == run_id)


def test_plugin_is_mounted_linked_and_closed_to_anonymous(airflow_stack, head_api):
    status, body = head_api.call("GET", "/api/v2/plugins")
    plugin = next(p for p in body["plugins"] if p["name"] == "cvp_formularios")
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/cvp"
    assert plugin["external_views"][0]["href"] == "/cvp/"
    base = airflow_stack.base_url
    for path in ("/cvp/api/yo", "/cvp/api/openapi.json", "/cvp/api/bandeja"):
        try:
            urllib.request.urlopen(base + path, timeout=10)
            raise AssertionError(f"{path} answered without login")
        except urllib.error.HTTPError as e:
            assert e.code == 401, path
    conn = http.client.HTTPConnection(urlparse(base).hostname, urlparse(base).port, timeout=10)
    for path in ("/cvp/", "/cvp/static/cvp.css", "/cvp/calendario"):
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        assert r.status == 303 and r.getheader("Location").startswith("/auth/login?next="), path


def test_run_driven_through_the_api_with_its_refusals(airflow_stack, head_api, people):
    run = f"api-formularios-{int(time.time())}"
    assert head_api.trigger(run, dict(NEED, titulo="Jornada de atención en Usme (API)", accion_puntual=True))[0] == 200
    head_api.wait_task(run, "producir_contenidos")
    need = need_of(people["jefe"], run)
    prof, head, tech, reader = people["profesional"], people["jefe"], people["tecnico"], people["lector"]

    # Wrong roles are refused; the professional submits (Bearer: no anti-forgery token needed).
    assert tech.call("POST", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})[0] == 403
    status, rev1, _ = prof.call("POST", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})
    assert status == 201, rev1
    assert [i["necesidad"] for i in head.call("GET", "/cvp/api/bandeja")[1]].count(need) == 1

    decision = {"revision": rev1["id"], "punto_control": 7, "decision": "devuelto", "comentario": "Citar la fuente"}
    assert reader.call("POST", f"/cvp/api/necesidades/{need}/decisiones", decision)[0] == 403
    assert prof.call("POST", f"/cvp/api/necesidades/{need}/decisiones", decision)[0] == 403
    assert head.call("POST", f"/cvp/api/necesidades/{need}/decisiones", decision)[0] == 201

    # With the browser's cookie, a write needs the anti-forgery token.
    cookie_prof = Forms(airflow_stack, "profesional", cookie=True)
    body = {"textos": TEXTS, "nota": "Fuente citada"}
    status, refused, _ = cookie_prof.call("POST", f"/cvp/api/necesidades/{need}/texto", body, csrf=False)
    assert status == 403 and "código de seguridad" in refused["detail"]
    status, rev2, _ = cookie_prof.call("POST", f"/cvp/api/necesidades/{need}/texto", body)
    assert status == 201 and rev2["numero"] == 2

    # A decision on the stale revision is a conflict; a double click records one decision.
    stale = dict(decision, decision="aprobado", comentario="")
    assert head.call("POST", f"/cvp/api/necesidades/{need}/decisiones", stale)[0] == 409
    approve = dict(stale, revision=rev2["id"])
    first = head.call("POST", f"/cvp/api/necesidades/{need}/decisiones", approve)
    second = head.call("POST", f"/cvp/api/necesidades/{need}/decisiones", approve)
    assert (first[0], second[0], second[1]["ya_registrada"]) == (201, 200, True)

    # The technician's upload: a wrong type, a missing token (cookie) and an announced oversize are refused.
    head_api.wait_task(run, "elaborar_diseno")
    status, body, _ = tech.upload(need, b"%!PS-Adobe-3.0 no es una imagen", filename="afiche.png")
    assert status == 415 and "no admitido" in body["detail"]
    cookie_tech = Forms(airflow_stack, "tecnico", cookie=True)
    assert cookie_tech.upload(need, tiny_png(48, 48), csrf=False)[0] == 403
    target = urlparse(airflow_stack.base_url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    conn.putrequest("POST", f"/cvp/api/necesidades/{need}/diseno")
    conn.putheader("Authorization", f"Bearer {tech.token}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(600 * 1024 * 1024))
    conn.endheaders()  # and never send the 600 MB: the server refuses on the declared length
    r = conn.getresponse()
    assert r.status == 413 and "máximo" in json.loads(r.read())["detail"]
    conn.close()

    status, design, _ = cookie_tech.upload(need, tiny_png(48, 48))
    assert status == 201, design
    status, content, headers = reader.call("GET", design["url_archivo"])
    assert status == 200 and content == tiny_png(48, 48)
    assert headers["Content-Type"] == "image/png" and headers["X-Content-Type-Options"] == "nosniff"

    assert (
        head.call(
            "POST",
            f"/cvp/api/necesidades/{need}/decisiones",
            {"revision": design["id"], "punto_control": 12, "decision": "aprobado"},
        )[0]
        == 201
    )
    assert head_api.wait_run(run) == "success", head_api.task_states(run)

    detail = reader.call("GET", f"/cvp/api/necesidades/{need}")[1]
    assert {p["estado"] for p in detail["publicaciones"]} == {"publicado"}
    actors = {(e["accion"], e["actor"]) for t in detail["linea_tiempo"] for e in t["eventos"]}
    assert {
        ("texto_producido", "profesional"),
        ("texto_devuelto", "jefe"),
        ("ajustes_realizados", "profesional"),
        ("texto_aprobado", "jefe"),
        ("diseno_cargado", "tecnico"),
        ("diseno_aprobado", "jefe"),
    } <= actors
    record = reader.call("GET", f"/cvp/api/necesidades/{need}/expediente")[1]
    assert record["necesidad"]["ejecucion"] == run


def test_checks_endpoint_on_the_server(people):
    status, body, _ = people["profesional"].call(
        "POST", "/cvp/api/verificar", {"canal": "x", "texto": "Visite https://www.cajaviviendapopular.gov.co"}
    )
    assert status == 200 and body["longitud_ponderada_x"] == len("Visite ") + 23
    status, doc, _ = people["lector"].call("GET", "/cvp/api/openapi.json")
    assert status == 200 and "/api/verificar" in doc["paths"]
