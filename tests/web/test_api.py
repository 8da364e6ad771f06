"""The JSON API of the forms: the procedure's loop, its refusals, uploads, checks, calendar and export."""

from __future__ import annotations

import json

import pytest

from cvp import procedure as P
from cvp.checks import x_weighted_length
from cvp.records.models import Decision, Event
from tests.conftest import NEED, tiny_png

ONE_OFF = dict(NEED, accion_puntual=True)
TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}


def api(path: str) -> str:
    return f"/cvp/api{path}"


@pytest.fixture
def need(web):
    return web.office.register_need(ONE_OFF, "jefe", run_id="r").id


def submit(web, need, texts=TEXTS, user="profesional", **extra):
    return web.post_json(user, api(f"/necesidades/{need}/texto"), {"textos": texts, **extra})


def decide(web, need, revision_id, decision, point=7, comment="", user="jefe", **extra):
    body = {"revision": revision_id, "punto_control": point, "decision": decision, "comentario": comment, **extra}
    return web.post_json(user, api(f"/necesidades/{need}/decisiones"), body)


def upload(web, need, data=None, name="afiche.png", alt="Afiche de la entrega de títulos", user="tecnico"):
    files = {"archivo": (name, data if data is not None else tiny_png(32, 32), "image/png")}
    return web.post_form(
        user, api(f"/necesidades/{need}/diseno"), {"texto_alternativo": alt, "nota": "primera versión"}, files=files
    )


def approved_text(web, need) -> int:
    rev = submit(web, need).json()
    assert decide(web, need, rev["id"], "aprobado").status_code == 201
    return rev["id"]


def test_the_whole_loop_through_the_api_is_recorded_with_each_user(web, need):
    r1 = submit(web, need)
    assert r1.status_code == 201, r1.text
    rev1 = r1.json()
    assert (rev1["numero"], rev1["estado"], rev1["autor"], rev1["decision"]) == (1, "presentado", "profesional", None)

    assert [i["necesidad"] for i in web.as_("jefe").get(api("/bandeja")).json()] == [need]
    assert web.as_("profesional").get(api("/bandeja")).json() == []

    r = decide(web, need, rev1["id"], "devuelto", comment="Precisar la cifra de títulos")
    assert r.status_code == 201 and r.json()["decision"]["decision"] == "devuelto"
    inbox = web.as_("profesional").get(api("/bandeja")).json()
    assert inbox[0]["actividad"] == 8 and inbox[0]["comentario"] == "Precisar la cifra de títulos"

    rev2 = submit(web, need, dict(TEXTS, x="Hoy entregamos 118 títulos en Ciudad Bolívar."), nota="cifra").json()
    assert rev2["numero"] == 2 and rev2["nota"] == "cifra"
    assert decide(web, need, rev2["id"], "aprobado").status_code == 201

    r = upload(web, need)
    assert r.status_code == 201, r.text
    design = r.json()
    assert design["tipo_medio"] == "image/png" and len(design["sha256"]) == 64
    assert design["nombre_archivo"] == "afiche.png" and design["url_archivo"].startswith("/cvp/api/necesidades/")
    assert decide(web, need, design["id"], "aprobado", point=12, publicar_en="2099-12-01T09:30:00").status_code == 201

    detail = web.as_("lector").get(api(f"/necesidades/{need}")).json()
    assert detail["publicar_en"].startswith("2099-12-01T14:30")  # 09:30 in Bogotá
    assert [(r["tipo"], r["numero"], r["estado"]) for r in detail["revisiones"]] == [
        ("texto", 1, "devuelto"),
        ("texto", 2, "aprobado"),
        ("diseno", 1, "aprobado"),
    ]
    assert detail["revisiones"][0]["decision"]["comentario"] == "Precisar la cifra de títulos"
    by_activity = {t["actividad"]: t for t in detail["linea_tiempo"]}
    assert [e["actor"] for e in by_activity[7]["eventos"]] == ["jefe", "jefe"]
    assert [e["actor"] for e in by_activity[10]["eventos"]] == ["tecnico"]
    assert by_activity[2]["estado"] == "omitida"

    with web.office.session() as s:
        actors = {(e.action, e.actor) for e in s.query(Event).filter(Event.need_id == need)}
    assert {
        ("texto_producido", "profesional"),
        ("texto_devuelto", "jefe"),
        ("ajustes_realizados", "profesional"),
        ("texto_aprobado", "jefe"),
        ("diseno_cargado", "tecnico"),
        ("diseno_aprobado", "jefe"),
    } <= actors
    # The e-mails the actions queued went out after the responses.
    assert any(web.mailbox.iterdir())
    assert all(n.sent_at for n in web.office.notifications(need))


def test_stale_revision_is_a_conflict_and_changes_nothing(web, need):
    rev1 = submit(web, need).json()
    decide(web, need, rev1["id"], "devuelto", comment="Ajustar")
    rev2 = submit(web, need).json()
    with web.office.session() as s:
        events_before = s.query(Event).count()
    r = decide(web, need, rev1["id"], "aprobado")
    assert r.status_code == 409
    assert "ya fue decidida" in r.json()["detail"] or "ya no es la vigente" in r.json()["detail"]
    with web.office.session() as s:
        assert s.query(Event).count() == events_before
    assert web.office.current_revision(need, P.TEXT).id == rev2["id"]
    assert web.office.current_revision(need, P.TEXT).state == "presentado"


def test_decision_on_a_superseded_revision_without_decision_is_a_conflict(web, need):
    """Design 1 returned, design 2 uploaded: deciding on a still-open old id is refused."""
    approved_text(web, need)
    d1 = upload(web, need).json()
    decide(web, need, d1["id"], "devuelto", point=12, comment="Logo más grande")
    d2 = upload(web, need, tiny_png(40, 40)).json()
    r = decide(web, need, d1["id"], "aprobado", point=12)
    assert r.status_code == 409
    assert web.office.current_revision(need, P.DESIGN).id == d2["id"]
    r = decide(web, need, d2["id"], "aprobado", point=7)  # wrong control point for a design
    assert r.status_code == 404 and "no es un texto" in r.json()["detail"]


def test_double_click_records_one_decision(web, need):
    rev = submit(web, need).json()
    first = decide(web, need, rev["id"], "aprobado")
    second = decide(web, need, rev["id"], "aprobado")
    assert (first.status_code, first.json()["ya_registrada"]) == (201, False)
    assert (second.status_code, second.json()["ya_registrada"]) == (200, True)
    with web.office.session() as s:
        assert s.query(Decision).filter(Decision.need_id == need).count() == 1
        assert s.query(Event).filter(Event.action == "texto_aprobado").count() == 1
    # The opposite decision on an already decided revision is a conflict.
    assert decide(web, need, rev["id"], "devuelto", comment="no").status_code == 409


def test_returning_needs_a_comment(web, need):
    rev = submit(web, need).json()
    r = decide(web, need, rev["id"], "devuelto", comment="   ")
    assert r.status_code == 422 and "comentario" in r.json()["detail"]
    assert web.office.current_revision(need, P.TEXT).state == "presentado"


def test_blocking_check_errors_refuse_the_text_with_details(web, need):
    r = submit(web, need, dict(TEXTS, x="Texto largo. " * 40))
    assert r.status_code == 422
    body = r.json()
    assert "impiden presentarlo" in body["detail"]
    assert any("X (Twitter)" in d and "280" in d for d in body["detalles"])
    assert web.office.revisions(need) == []


def test_invalid_body_answers_in_spanish(web, need):
    r = web.post_json("jefe", api(f"/necesidades/{need}/decisiones"), {"revision": "x", "punto_control": 9})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("La solicitud no es válida") and r.json()["detalles"]


# --- uploads -----------------------------------------------------------------------------------------------


def test_oversized_upload_is_refused_while_reading_and_nothing_is_kept(web, need):
    approved_text(web, need)
    big = tiny_png() + b"\0" * (1024 * 1024 + 10)  # CVP_MAX_UPLOAD_MB=1 in these tests
    r = upload(web, need, big)
    assert r.status_code == 413 and "máximo" in r.json()["detail"]
    assert web.office.revisions(need, P.DESIGN) == []
    assert not any((web.office.cfg.data_dir / "subidas-en-curso").glob("*"))
    assert not web.office.cfg.uploads_dir.exists() or not any(web.office.cfg.uploads_dir.rglob("*.*"))


def test_declared_length_over_the_limit_is_refused_before_reading(web, need):
    approved_text(web, need)
    headers = {
        "X-CSRF-Token": web.csrf("tecnico"),
        "Content-Type": "multipart/form-data; boundary=xyz",
        "Content-Length": str(50 * 1024 * 1024),
    }

    def body():
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    r = web.as_("tecnico").post(api(f"/necesidades/{need}/diseno"), content=body(), headers=headers)
    assert r.status_code == 413


@pytest.mark.parametrize(
    "data, name",
    [(b"<html><script>alert(1)</script></html>", "afiche.png"), (b"MZ\x90\x00" + b"\0" * 100, "pieza.pdf")],
)
def test_wrong_type_is_refused_whatever_the_name(web, need, data, name):
    approved_text(web, need)
    r = upload(web, need, data, name=name)
    assert r.status_code == 415 and "no admitido" in r.json()["detail"]
    assert web.office.revisions(need, P.DESIGN) == []


def test_image_without_alt_text_and_upload_before_approval_are_refused(web, need):
    r = upload(web, need)
    assert r.status_code == 409 and "texto está aprobado" in r.json()["detail"]
    approved_text(web, need)
    r = upload(web, need, alt="")
    assert r.status_code == 422 and "texto alternativo" in r.json()["detail"]


def test_design_file_is_served_with_its_type_and_nosniff(web, need):
    approved_text(web, need)
    png = tiny_png(20, 20)
    design = upload(web, need, png).json()
    r = web.as_("lector").get(design["url_archivo"])
    assert r.status_code == 200 and r.content == png
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == f'inline; filename="diseno-necesidad-{need}-r1.png"'
    stored = web.office.current_revision(need, P.DESIGN).stored_path
    assert "afiche" not in stored and stored.startswith(f"archivos/{need}/")  # a store key, not a local path
    assert web.office.storage.read_bytes(stored) == png
    dl = web.as_("lector").get(design["url_archivo"] + "?descargar=1")
    assert dl.headers["content-disposition"].startswith("attachment;")
    other = web.office.register_need(ONE_OFF, "jefe", run_id="otra").id
    assert web.as_("lector").get(f"/cvp/api/necesidades/{other}/disenos/{design['id']}/archivo").status_code == 404
    assert web.anonymous().get(design["url_archivo"]).status_code == 401


def test_wrong_role_cannot_upload_and_the_body_is_not_stored(web, need):
    approved_text(web, need)
    r = upload(web, need, user="profesional")
    assert r.status_code == 403
    assert web.office.revisions(need, P.DESIGN) == []


# --- checks as the person types ------------------------------------------------------------------------------


def test_check_endpoint_weighs_x_like_the_server_and_places_findings(web):
    text = "Hoy entregamos títulos 🏠 https://www.cajaviviendapopular.gov.co/una/ruta/muy/larga/que/no/cuenta"
    r = web.post_json("profesional", api("/verificar"), {"canal": "x", "texto": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["longitud_ponderada_x"] == x_weighted_length(text) == body["longitud"]["valor"]
    assert body["longitud"]["limite"] == 280 and body["longitud_ponderada_x"] < len(text)  # the URL weighs 23

    r = web.post_json("profesional", api("/verificar"), {"canal": "x", "texto": "Ñ" * 300})
    body = r.json()
    assert body["bloqueante"] and body["conteo"]["error"] >= 1
    finding = next(f for f in body["hallazgos"] if f["codigo"] == "x.length")
    assert finding["severidad"] == "error" and "280" in finding["mensaje"]


def test_check_endpoint_leaves_media_findings_out_without_media(web):
    alone = web.post_json("profesional", api("/verificar"), {"canal": "instagram", "texto": "Hola #CVP"}).json()
    assert not any(f["codigo"].startswith("media.") for f in alone["hallazgos"])
    assert alone["longitud_ponderada_x"] is None and alone["longitud"]["limite"] == 2200
    with_pdf = web.post_json(
        "profesional",
        api("/verificar"),
        {"canal": "instagram", "texto": "Hola #CVP", "medios": [{"tipo_medio": "application/pdf", "tamano": 1000}]},
    ).json()
    assert any(f["codigo"].startswith("media.") for f in with_pdf["hallazgos"])


def test_check_endpoint_counts_youtube_bytes_and_title(web):
    body = web.post_json("lector", api("/verificar"), {"canal": "youtube", "texto": "ñandú", "titulo": ""}).json()
    assert body["longitud"] == {"valor": len("ñandú".encode()), "limite": 5000, "unidad": "bytes"}
    assert body["longitud_titulo"]["valor"] == 0
    assert any(f["codigo"] == "yt.title_required" and f["campo"] == "titulo" for f in body["hallazgos"])
    r = web.post_json("lector", api("/verificar"), {"canal": "tiktok", "texto": "x"})
    assert r.status_code == 422


# --- reading -------------------------------------------------------------------------------------------------


def test_calendar_and_export(web, need):
    web.office.register_need(
        dict(ONE_OFF, titulo="Programada en diciembre", publicar_en="2099-12-03T10:00:00"), "jefe", run_id="p"
    )
    entries = web.as_("lector").get(api("/calendario?mes=2099-12")).json()
    kinds = {(e["dia"], e["canal"], e["tipo"]) for e in entries}
    assert ("2099-12-03", "x", "programada") in kinds and ("2099-12-15", "facebook", "fecha_limite") in kinds
    only_x = web.as_("lector").get(api("/calendario?mes=2099-12&canal=x")).json()
    assert {e["canal"] for e in only_x} == {"x"}
    assert web.as_("lector").get(api("/calendario?mes=diciembre")).status_code == 422

    record = web.as_("lector").get(api(f"/necesidades/{need}/expediente")).json()
    assert record["procedimiento"]["codigo"] == "208-COM-Pr-04"
    assert record["necesidad"]["id"] == need and record["eventos"][0]["actor"] == "jefe"
    json.dumps(record)


def test_needs_list_and_unknown_need(web, need):
    rows = web.as_("tecnico").get(api("/necesidades")).json()
    assert [r["id"] for r in rows] == [need] and rows[0]["paso"]["rol"] == P.PROFESSIONAL
    r = web.as_("tecnico").get(api("/necesidades/999"))
    assert r.status_code == 404 and "No existe" in r.json()["detail"]


# --- one language ------------------------------------------------------------------------------------------

# The names the API used before it spoke one language (issue 14): none may come back.
ENGLISH_NAMES = {
    "need_id", "title", "role", "role_name", "activity", "activity_name", "label", "since", "deadline",
    "days_waiting", "days_left", "revision_id", "revision_number", "comment", "control_point", "decided_by",
    "decided_at", "publish_at", "kind", "number", "state", "author", "created_at", "texts", "note", "checks",
    "filename", "media_type", "size", "alt_text", "file_url", "action", "at", "summary", "name", "status",
    "events", "channel", "remote_id", "published_at", "attempts", "updated_at", "run_id", "channels", "one_off",
    "step", "description", "source", "source_reference", "audiences", "department", "requested_by", "timeline",
    "revisions", "publications", "already_recorded", "username", "csrf_token", "code", "details", "severity",
    "message", "start", "end", "suggestion", "field", "value", "limit", "unit", "blocking", "x_weighted_length",
    "counts", "findings", "length", "title_length", "day", "channel_name", "kind_name", "media", "text", "width",
    "height", "duration", "has_captions", "publication_id", "action_id",
}  # fmt: skip


def _names_in_the_document(doc: dict) -> set[str]:
    """Every field a client sends or reads, as the OpenAPI document names them: properties and parameters."""
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            if "in" in node and isinstance(node.get("name"), str):
                names.add(node["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return names


def test_the_openapi_document_names_every_field_in_spanish(web):
    doc = web.as_("lector").get(api("/openapi.json")).json()
    names = _names_in_the_document(doc)
    assert {"necesidad", "titulo", "comentario", "publicar_en", "punto_control", "textos", "codigo_csrf"} <= names
    assert not names & ENGLISH_NAMES, sorted(names & ENGLISH_NAMES)
    assert all(n.isascii() and n == n.lower() and " " not in n for n in names), sorted(names)
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # refusals are ErrorOut, in Spanish
    error = doc["components"]["schemas"]["ErrorOut"]["properties"]
    assert set(error) == {"detail", "detalles", "codigo"}


def test_a_refusal_keeps_detail_and_says_the_rest_in_spanish(web, need):
    r = web.post_json("jefe", api(f"/necesidades/{need}/decisiones"), {"revision": 99, "punto_control": 7})
    assert r.status_code == 422
    assert set(r.json()) == {"detail", "detalles", "codigo"} and r.json()["codigo"] == "datos_invalidos"
    assert "decision: falta este dato" in r.json()["detalles"]
    r = web.post_json(
        "jefe", api(f"/necesidades/{need}/decisiones"), {"revision": 99, "punto_control": 7, "decision": "aprobado"}
    )
    assert (r.status_code, r.json()["codigo"]) == (404, "no_encontrado")
    r = web.post_json(
        "jefe", api(f"/necesidades/{need}/decisiones"), {"revision_id": 1, "control_point": 7, "decision": "aprobado"}
    )
    assert r.status_code == 422 and "revision: falta este dato" in r.json()["detalles"]  # the English names are gone
