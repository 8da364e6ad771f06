"""The pages: each role's form, its refusals shown in place, escaping, previews, calendar, export."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from cvp import procedure as P
from cvp.errors import PermissionDenied
from tests.conftest import NEED, tiny_png

ONE_OFF = dict(NEED, accion_puntual=True)
TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class Labels(HTMLParser):
    """Every form control of a page and the labels that name them."""

    def __init__(self):
        super().__init__()
        self.controls, self.labels = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"])
        if tag in ("input", "textarea", "select") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a.get("id"))


def assert_accessible(html: str):
    assert '<html lang="es">' in html
    assert 'href="#contenido"' in html and 'id="contenido"' in html
    parser = Labels()
    parser.feed(html)
    unlabeled = [c for c in parser.controls if c not in parser.labels]
    assert not unlabeled, unlabeled
    assert "<div onclick" not in html and "|safe" not in html


@pytest.fixture
def need(web):
    return web.office.register_need(ONE_OFF, "jefe", run_id="r").id


def page(web, user, path):
    r = web.as_(user).get(f"/cvp{path}")
    assert r.status_code == 200, (path, r.status_code, r.text[-2000:])
    assert_accessible(r.text)
    return r.text


def form(web, user, path, data, files=None):
    return web.post_form(user, f"/cvp{path}", data, files=files)


def test_procedure_through_the_pages(web, need):
    # Activity 5: the editor is pre-filled from the templates, with per-channel counters.
    html = page(web, "profesional", f"/necesidades/{need}/texto")
    assert "Entrega de títulos en Ciudad Bolívar" in html and 'id="contador-x"' in html
    assert "de 280 caracteres ponderados" in html
    r = form(
        web,
        "profesional",
        f"/necesidades/{need}/texto",
        {"titulo": "Entrega de títulos", "texto_x": TEXTS["x"], "texto_facebook": TEXTS["facebook"]},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/cvp/necesidades/{need}?aviso=texto_presentado"
    assert "Texto presentado para aprobación" in page(web, "profesional", f"/necesidades/{need}?aviso=texto_presentado")

    # Control point 7: previews of every channel and the decision form on the revision shown.
    html = page(web, "jefe", f"/necesidades/{need}/revision-texto")
    rev1 = web.office.current_revision(need, P.TEXT)
    assert 'class="vista vista-x"' in html and 'class="vista vista-facebook"' in html
    assert P.CHANNELS["x"] in html and "Caja de la Vivienda Popular" in html
    assert f'name="revision_id" value="{rev1.id}"' in html
    r = form(
        web,
        "jefe",
        f"/necesidades/{need}/revision-texto",
        {"revision_id": rev1.id, "decision": "devuelto", "comentario": ""},
    )
    assert r.status_code == 422 and 'role="alert"' in r.text and "requiere un comentario" in r.text
    r = form(
        web,
        "jefe",
        f"/necesidades/{need}/revision-texto",
        {"revision_id": rev1.id, "decision": "devuelto", "comentario": "Precisar la cifra: son 118."},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("aviso=texto_devuelto")

    # Activity 8: the head's comment beside the text, the previous text pre-filled.
    html = page(web, "profesional", f"/necesidades/{need}/texto")
    assert "Comentario de la Jefe OAC sobre la revisión 1" in html and "Precisar la cifra: son 118." in html
    assert TEXTS["x"] in html and 'id="nota"' in html
    r = form(
        web,
        "profesional",
        f"/necesidades/{need}/texto",
        {
            "titulo": "Entrega de títulos",
            "texto_x": "Hoy entregamos 118 títulos en Ciudad Bolívar.",
            "texto_facebook": TEXTS["facebook"],
            "nota": "Cifra corregida",
        },
    )
    assert r.status_code == 303

    # The head sees what changed, word by word.
    html = page(web, "jefe", f"/necesidades/{need}/revision-texto")
    assert re.search(r"<del>.*120.*</del>", html) and re.search(r"<ins>.*118.*</ins>", html)
    assert "Cifra corregida" in html
    rev2 = web.office.current_revision(need, P.TEXT)
    r = form(web, "jefe", f"/necesidades/{need}/revision-texto", {"revision_id": rev2.id, "decision": "aprobado"})
    assert r.status_code == 303 and r.headers["location"].endswith("aviso=texto_aprobado")

    # Activity 10: the technician's upload, then control point 12 with the design and the approved text.
    html = page(web, "tecnico", f"/necesidades/{need}/diseno")
    assert 'enctype="multipart/form-data"' in html and "Hoy entregamos 118" in html
    png = tiny_png(30, 30)
    r = form(
        web,
        "tecnico",
        f"/necesidades/{need}/diseno",
        {"alt_text": "Afiche con la cifra de 118 títulos"},
        files={"archivo": ("afiche final.png", png, "image/png")},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("aviso=diseno_cargado")
    design = web.office.current_revision(need, P.DESIGN)
    html = page(web, "jefe", f"/necesidades/{need}/revision-diseno")
    src = f"/cvp/api/necesidades/{need}/disenos/{design.id}/archivo"
    assert f'src="{src}" alt="Afiche con la cifra de 118 títulos"' in html
    assert html.count(f'src="{src}"') >= 3  # the design itself and the previews
    assert design.sha256 in html and 'id="publicar_en"' in html
    r = form(
        web,
        "jefe",
        f"/necesidades/{need}/revision-diseno",
        {"revision_id": design.id, "decision": "aprobado", "publicar_en": "2099-12-01T09:30"},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("aviso=diseno_aprobado")
    assert web.office.need(need).publish_at.hour == 14  # 09:30 Bogotá

    # The need's page: timeline with who and when, revisions, decisions and comments.
    html = page(web, "lector", f"/necesidades/{need}")
    assert "Línea de tiempo del procedimiento" in html
    for activity in P.ACTIVITIES:
        assert activity.name in html
    assert "<strong>profesional</strong>" in html and "<strong>tecnico</strong>" in html
    assert "Precisar la cifra: son 118." in html and "Cifra corregida" in html
    assert "Revisiones anteriores del texto (1)" in html


def test_stale_decision_from_an_old_page_is_a_clear_conflict(web, need):
    rev1 = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev1.id, 7, P.REJECTED, "jefe", "Ajustar")
    web.office.submit_text(need, "profesional", TEXTS)
    r = form(web, "jefe", f"/necesidades/{need}/revision-texto", {"revision_id": rev1.id, "decision": "aprobado"})
    assert r.status_code == 409 and 'role="alert"' in r.text
    assert "ya fue decidida" in r.text
    assert web.office.current_revision(need, P.TEXT).state == "presentado"


def test_double_submitted_form_records_one_decision(web, need):
    rev = web.office.submit_text(need, "profesional", TEXTS)
    data = {"revision_id": rev.id, "decision": "aprobado"}
    assert form(web, "jefe", f"/necesidades/{need}/revision-texto", data).headers["location"].endswith("texto_aprobado")
    again = form(web, "jefe", f"/necesidades/{need}/revision-texto", data)
    assert again.status_code == 303 and again.headers["location"].endswith("aviso=ya_registrada")
    assert len([r for r in web.office.revisions(need) if r.decision]) == 1


def test_editor_keeps_the_typed_text_when_refused(web, need):
    long_x = "Texto demasiado largo para X. " * 12
    r = form(
        web,
        "profesional",
        f"/necesidades/{need}/texto",
        {"titulo": "Entrega", "texto_x": long_x, "texto_facebook": TEXTS["facebook"]},
    )
    assert r.status_code == 422
    assert 'role="alert"' in r.text and "impiden presentarlo" in r.text
    assert long_x.strip() in r.text and "contador-excedido" in r.text
    assert web.office.revisions(need) == []


def test_user_text_is_escaped_everywhere(web):
    need = web.office.register_need(
        dict(ONE_OFF, titulo="Título " + EVIL, necesidad="Necesidad " + EVIL, publicar_en="2099-12-01T10:00"),
        "jefe",
        run_id="evil",
    ).id
    rev = web.office.submit_text(need, "profesional", {"x": "Texto " + EVIL, "facebook": "Texto " + EVIL}, note=EVIL)
    web.office.decide(need, rev.id, 7, P.REJECTED, "jefe", "Comentario " + EVIL)
    for user, path in (
        ("jefe", "/"),
        ("lector", f"/necesidades/{need}"),
        ("profesional", f"/necesidades/{need}/texto"),
        ("lector", "/calendario?mes=2099-12"),
        ("lector", "/necesidades"),
        ("lector", f"/necesidades/{need}/expediente"),
    ):
        html = web.as_(user).get(f"/cvp{path}").text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path


def test_head_review_shows_the_checks_warnings(web, need):
    texts = dict(TEXTS, facebook="Hoy entregamos títulos a los ciudadanos de Ciudad Bolívar.")
    rev = web.office.submit_text(need, "profesional", texts)
    assert rev.checks, "expected a warning from the inclusive-language check"
    html = page(web, "jefe", f"/necesidades/{need}/revision-texto")
    assert "Advertencias de la revisión previa" in html
    assert rev.checks[0]["message"].split("«")[0][:30] in html.replace("&#34;", '"').replace("&#39;", "'")


def test_upload_page_refusals_are_shown_in_place(web, need):
    rev = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev.id, 7, P.APPROVED, "jefe")
    big = tiny_png() + b"\0" * (1024 * 1024 + 1)
    r = form(
        web,
        "tecnico",
        f"/necesidades/{need}/diseno",
        {"alt_text": "Afiche"},
        files={"archivo": ("grande.png", big, "image/png")},
    )
    assert r.status_code == 413 and 'role="alert"' in r.text and "máximo permitido de 1 MB" in r.text
    assert 'value="Afiche"' in r.text or ">Afiche</textarea>" in r.text
    r = form(
        web,
        "tecnico",
        f"/necesidades/{need}/diseno",
        {"alt_text": "Afiche"},
        files={"archivo": ("afiche.png", b"GIF? no, texto", "image/png")},
    )
    assert r.status_code == 415 and "no admitido" in r.text
    assert web.office.revisions(need, P.DESIGN) == []


def test_head_has_no_decision_form_for_her_own_revision_or_a_decided_one(web, need):
    rev = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev.id, 7, P.APPROVED, "jefe")
    html = page(web, "jefe", f"/necesidades/{need}/revision-texto")
    assert "ya fue decidida" in html and 'name="decision"' not in html


def test_meeting_and_plan_forms_for_a_planned_need(web):
    need = web.office.register_need(NEED, "jefe", run_id="plan").id
    inbox = page(web, "jefe", "/")
    assert f"/necesidades/{need}/reunion" in inbox
    html = page(web, "jefe", f"/necesidades/{need}/reunion")
    assert P.MEETING_FORM_CODE in html
    data = {
        "temas": "Entrega de títulos\nCifras",
        "fuentes": "DUT",
        "productos": "Afiche",
        "canales": "X\nFacebook",
        "asistentes": "Jefe OAC\nProfesional",
    }
    assert form(web, "jefe", f"/necesidades/{need}/reunion", dict(data, temas="")).status_code == 422
    assert form(web, "jefe", f"/necesidades/{need}/reunion", data).status_code == 303
    doc = web.office.documents(need)[0]
    assert doc.data["temas"] == ["Entrega de títulos", "Cifras"] and doc.author == "jefe"
    assert (
        form(web, "tecnico", f"/necesidades/{need}/plan", {"contenidos": "Afiche", "enlaces": "DUT"}).status_code == 303
    )
    assert web.as_("lector").get(f"/cvp/necesidades/{need}/reunion").status_code == 403


def test_inbox_shows_age_against_deadline_and_reader_view(web, need):
    html = page(web, "profesional", "/")
    assert f"/necesidades/{need}/texto" in html and "vence en" in html and "hace unos minutos" in html
    html = page(web, "lector", "/")
    assert "rol es de consulta" in html and f"/necesidades/{need}/texto" not in html


def test_calendar_month_view(web, need):
    web.office.register_need(dict(ONE_OFF, titulo="Programada", publicar_en="2099-12-03T10:00"), "jefe", run_id="p")
    html = page(web, "lector", "/calendario?mes=2099-12")
    assert "Diciembre de 2099" in html and "Programada" in html and "10:00" in html
    assert "mes=2099-11" in html and "mes=2100-01" in html
    assert html.count("<tr>") >= 5
    html = page(web, "lector", "/calendario?mes=2099-12&canal=facebook")
    assert "X (Twitter)</span> Programada" not in html and "Facebook</span> Programada" in html
    assert web.as_("lector").get("/cvp/calendario?mes=basura").status_code == 200


def test_export_page_is_the_ley_1712_record(web, need):
    r = web.as_("lector").get(f"/cvp/necesidades/{need}/expediente")
    assert r.status_code == 200 and "Ley 1712" in r.text
    assert "script-src" not in r.headers["content-security-policy"]
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    dl = web.as_("lector").get(f"/cvp/necesidades/{need}/expediente?descargar=1")
    assert dl.headers["content-disposition"] == f'attachment; filename="expediente-necesidad-{need}.html"'


def test_api_documentation_page_and_static_files(web):
    html = page(web, "lector", "/documentacion-api")
    assert "POST /cvp/api/necesidades/{necesidad}/decisiones" in html and "Jefe Oficina Asesora" in html
    css = web.as_("lector").get("/cvp/static/cvp.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = web.as_("lector").get("/cvp/static/cvp.js")
    assert js.headers["content-type"].startswith("text/javascript") and "/api/verificar" in js.text
    for bad in ("../app.py", "..%2Fapp.py", "app.py", ".airflowignore"):
        assert web.as_("lector").get(f"/cvp/static/{bad}").status_code == 404, bad


def test_unknown_need_page_is_a_spanish_404(web):
    r = web.as_("lector").get("/cvp/necesidades/999")
    assert r.status_code == 404 and "No existe la necesidad" in r.text


def test_browser_line_breaks_are_stored_as_the_person_typed_them(web, need):
    """Forms send CRLF; the counters (and X) count LF: the revision keeps LF."""
    r = form(
        web,
        "profesional",
        f"/necesidades/{need}/texto",
        {"titulo": "Entrega", "texto_x": "Línea uno.\r\nLínea dos.", "texto_facebook": "Uno.\r\n\r\nDos."},
    )
    assert r.status_code == 303
    rev = web.office.current_revision(need, P.TEXT)
    assert rev.texts == {"x": "Línea uno.\nLínea dos.", "facebook": "Uno.\n\nDos."}


def test_refused_requests_show_in_the_need_list_escaped(web):
    with pytest.raises(PermissionDenied):
        web.office.register_need(dict(ONE_OFF, titulo="Pedida por el técnico " + EVIL), "tecnico", run_id="rechazada")
    html = web.as_("jefe").get("/cvp/necesidades").text
    assert "Solicitudes que no abrieron una necesidad" in html
    assert "corresponde a la Jefe OAC" in html and "Pedida por el técnico &lt;script&gt;" in html
    assert "<script>alert" not in html
    api = web.as_("jefe").get("/cvp/api/solicitudes-rechazadas").json()
    assert [(r["ejecucion"], r["solicitado_por"]) for r in api] == [("rechazada", "tecnico")]
