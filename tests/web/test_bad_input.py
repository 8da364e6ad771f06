"""Bad input that used to get a 500 (issue 10, items 4 to 7): each is now a 4xx in Spanish, and what was
already stored is shown."""

from __future__ import annotations

import importlib
import json
import pkgutil
import threading
import typing

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import cvp_airflow.web as web_package
from cvp import procedure as P
from cvp.records.models import Event, Revision, utcnow
from tests.conftest import NEED, tiny_png

ONE_OFF = dict(NEED, accion_puntual=True)
TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}
HUGE = 2**63
SURROGATE = "\\ud800"  # as a JSON escape: json.loads gives a lone surrogate


def api(path: str) -> str:
    return f"/cvp/api{path}"


@pytest.fixture
def need(web):
    return web.office.register_need(ONE_OFF, "jefe", run_id="r").id


def post_raw(web, user: str, path: str, raw_json: str):
    """A JSON body written by hand, so that it can carry escapes a client library would refuse to send."""
    headers = {"X-CSRF-Token": web.csrf(user), "Content-Type": "application/json"}
    return web.as_(user).post(path, content=raw_json.encode(), headers=headers)


ENGLISH = (
    "Input should",
    "Field required",
    "Value error",
    "Not Found",
    "There was an error",
    "Method Not Allowed",
    "Invalid multipart",
    "Missing boundary",
    "Internal Server Error",
)
SPANISH_WORDS = (" de ", " la ", " el ", " no ", " que ", " en ", " es ", " una ", " un ")


def assert_spanish_refusal(r, status=(422,)):
    """A refusal in the API's shape whose message, and every detail, a person in the office can read."""
    assert r.status_code in status, r.text
    body = r.json()
    assert isinstance(body["detail"], str) and any(w in f" {body['detail']} " for w in SPANISH_WORDS), body
    assert not any(e in r.text for e in ENGLISH), body
    return body


# --- item 4: lone surrogates are refused at the door ----------------------------------------------

API_TEXT_FIELDS = [
    ("profesional", "/necesidades/{n}/texto", '{{"textos": {{"x": "Hola{s}", "facebook": "Hola"}}}}'),
    ("profesional", "/necesidades/{n}/texto", '{{"textos": {{"x{s}": "Hola", "facebook": "Hola"}}}}'),
    ("profesional", "/necesidades/{n}/texto", '{{"textos": {{"x": "Hola", "facebook": "Hola{s}"}}}}'),
    ("profesional", "/necesidades/{n}/texto", '{{"textos": {{"x": "Hola", "facebook": "Hola"}}, "titulo": "T{s}"}}'),
    ("profesional", "/necesidades/{n}/texto", '{{"textos": {{"x": "Hola", "facebook": "Hola"}}, "nota": "n{s}"}}'),
    (
        "jefe",
        "/necesidades/{n}/decisiones",
        '{{"revision": 1, "punto_control": 7, "decision": "devuelto", "comentario": "c{s}"}}',
    ),
    (
        "jefe",
        "/necesidades/{n}/reunion",
        '{{"temas": ["t{s}"], "fuentes": [], "productos": [], "canales": [], "asistentes": []}}',
    ),
    ("jefe", "/necesidades/{n}/plan", '{{"contenidos": ["c{s}"], "enlaces": []}}'),
    ("jefe", "/necesidades/{n}/cancelar", '{{"motivo": "m{s}"}}'),
    ("jefe", "/publicaciones/1/confirmar", '{{"url": "https://x.com/a/status/1{s}"}}'),
    ("jefe", "/publicaciones/1/confirmar", '{{"url": "https://x.com/a/status/1", "id_plataforma": "1{s}"}}'),
    ("jefe", "/verificar", '{{"canal": "x", "texto": "hola{s}"}}'),
    ("jefe", "/verificar", '{{"canal": "youtube", "texto": "hola", "titulo": "t{s}"}}'),
    (
        "jefe",
        "/verificar",
        '{{"canal": "x", "texto": "hola", "medios": [{{"tipo_medio": "image/png", "tamano": 1, "nombre": "a{s}"}}]}}',
    ),
    (
        "jefe",
        "/verificar",
        '{{"canal": "x", "texto": "hola", "medios": [{{"tipo_medio": "image/png", "tamano": 1, "texto_alternativo": "a{s}"}}]}}',
    ),
    ("jefe", "/verificar", '{{"canal": "x", "texto": "hola\\u0000"}}'),
]


@pytest.mark.parametrize("user,path,body", API_TEXT_FIELDS)
def test_a_lone_surrogate_in_any_api_text_field_is_a_spanish_422_and_nothing_is_kept(web, need, user, path, body):
    if "decisiones" in path:
        web.office.submit_text(need, "profesional", TEXTS)
    before = len(web.office.events(need))
    r = post_raw(web, user, api(path.format(n=need)), body.format(s=SURROGATE))
    body = assert_spanish_refusal(r)
    assert any("no se puede guardar ni publicar" in d for d in body["detalles"]), body
    assert len(web.office.events(need)) == before


def _input_models() -> dict[str, type[BaseModel]]:
    """Every input schema of the forms' routes, named ``module.Model``: each module of the web package
    (schemas.py, the Red Distrital's red.py, the dashboard's and any new one) is read for the models it
    defines, so a new route's body is covered without touching this test."""
    models = {}
    for info in pkgutil.iter_modules(web_package.__path__):
        module = importlib.import_module(f"{web_package.__name__}.{info.name}")
        for name, m in vars(module).items():
            if (
                isinstance(m, type)
                and issubclass(m, BaseModel)
                and name.endswith("In")
                and m.__module__ == module.__name__
            ):
                models[f"{info.name}.{name}"] = m
    return models


def test_the_input_schemas_come_from_every_module_of_the_forms():
    assert {"schemas.TextIn", "schemas.DecisionIn", "schemas.CheckIn", "red.DecisionIn"} <= set(_input_models())


def _with_surrogate(annotation) -> list:
    """Values of ``annotation``'s shape carrying a lone surrogate wherever a string goes."""
    bad = "a\ud800"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is str:
        return [bad]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [v for a in args if a is not type(None) for v in _with_surrogate(a)]
    if origin is typing.Annotated:
        return _with_surrogate(args[0])
    if origin is list:
        return [[v] for v in _with_surrogate(args[0])]
    if origin is dict:
        keys, values = _with_surrogate(args[0]), _with_surrogate(args[1])
        return [{k: "x"} for k in keys] + [{"x": v} for v in values]
    return []


def test_every_text_field_of_every_input_schema_refuses_a_lone_surrogate():
    checked = []
    for label, model in _input_models().items():
        for name, field in model.model_fields.items():
            adapter = TypeAdapter(field.rebuild_annotation())
            for value in _with_surrogate(field.annotation):
                with pytest.raises(ValidationError, match="no se puede guardar ni publicar|string_unicode|unicode"):
                    adapter.validate_python(value)
                checked.append(f"{label}.{name}")
    assert {
        "schemas.TextIn.textos",
        "schemas.TextIn.titulo",
        "schemas.DecisionIn.comentario",
        "schemas.MeetingIn.temas",
        "schemas.PlanIn.enlaces",
        "schemas.CancelIn.motivo",
        "schemas.ConfirmPublicationIn.url",
        "schemas.CheckIn.texto",
        "schemas.MediaIn.nombre",
        "red.DecisionIn.motivo",
    } <= set(checked)


def test_the_pages_forms_refuse_a_lone_surrogate_or_nul(web, need):
    token = web.csrf("profesional")
    # A multipart form decodes its fields with the charset the client names: this one makes a lone surrogate.
    boundary = "limite"
    parts = [("codigo_csrf", token), ("texto_x", "Hola\\ud800"), ("texto_facebook", "Hola")]
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    r = web.as_("profesional").post(
        f"/cvp/necesidades/{need}/texto",
        content=body,
        headers={
            "Content-Type": f"multipart/form-data; charset=unicode_escape; boundary={boundary}",
            "X-CSRF-Token": token,
        },
    )
    assert r.status_code == 422 and "no se puede guardar ni publicar" in r.text
    r = web.post_form(
        "profesional", f"/cvp/necesidades/{need}/texto", {"texto_x": "Hola\x00", "texto_facebook": "Hola"}
    )
    assert r.status_code == 422 and "no se puede guardar ni publicar" in r.text
    assert web.office.revisions(need) == []


def _store_rows_with_surrogates(office, need_id: int) -> None:
    """Rows as a version without the refusal kept them (JSON columns escape the surrogate)."""
    with office.session() as s:
        rev = Revision(
            need_id=need_id,
            kind=P.TEXT,
            number=1,
            author="profesional",
            title="Entrega",
            texts={"x": "Hola\ud800", "facebook": "Hola \udfff mundo"},
            note="",
            checks=[
                {
                    "code": "lang.inclusive",
                    "severity": "warning",
                    "message": "«\ud800»",
                    "channel": "x",
                    "start": 4,
                    "end": 5,
                    "suggestion": None,
                    "field": "text",
                }
            ],
            created_at=utcnow(),
        )
        s.add(rev)
        s.flush()
        s.add(
            Event(
                need_id=need_id,
                activity=5,
                action="texto_producido",
                actor="profesional",
                summary="Texto de la pieza producido (revisión 1).",
                detail={"nota": "\ud800"},
                at=utcnow(),
            )
        )
        s.add(
            Event(
                need_id=need_id,
                activity=6,
                action="texto_presentado",
                actor="profesional",
                summary="Contenidos presentados (revisión 1).",
                detail={"revision": rev.id, "numero": 1},
                at=utcnow(),
            )
        )


READ_URLS = [
    ("jefe", "/cvp/necesidades/{n}"),
    ("jefe", "/cvp/api/necesidades/{n}"),
    ("jefe", "/cvp/necesidades/{n}/expediente"),
    ("jefe", "/cvp/necesidades/{n}/expediente?descargar=1"),
    ("jefe", "/cvp/api/necesidades/{n}/expediente"),
    ("jefe", "/cvp/necesidades/{n}/revision-texto"),
    ("profesional", "/cvp/necesidades/{n}/texto"),
    ("jefe", "/cvp/"),
    ("jefe", "/cvp/api/bandeja"),
]


def test_pages_and_exports_of_a_need_with_a_stored_surrogate_answer_200_even_after_a_clean_revision(web, need):
    _store_rows_with_surrogates(web.office, need)

    def read_all(showing_the_old_text):
        for user, url in READ_URLS:
            r = web.as_(user).get(url.format(n=need))
            assert r.status_code == 200, (url, r.text[:500])
            r.content.decode("utf-8")  # strict: the bytes are UTF-8
            if url.rstrip("/").endswith(tuple(showing_the_old_text)):
                assert "Hola\ufffd" in r.text, url

    read_all({"{n}", "expediente", "expediente?descargar=1", "revision-texto", "/texto"})
    rev = web.office.current_revision(need, P.TEXT)
    web.office.decide(need, rev.id, 7, P.REJECTED, "jefe", "Quite el carácter roto")
    assert web.office.submit_text(need, "profesional", TEXTS).number == 2
    read_all({"/cvp/necesidades/{n}", "expediente", "expediente?descargar=1"})


# --- item 5: ids past 2^63 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        api(f"/necesidades/{HUGE}"),
        api(f"/necesidades/{HUGE}/expediente"),
        api(f"/necesidades/{HUGE}/borradores"),
        api(f"/necesidades/1/disenos/{HUGE * 2}/archivo"),
        api(f"/necesidades/{-HUGE - 1}"),
        f"/cvp/necesidades/{HUGE}",
        f"/cvp/necesidades/{HUGE}/expediente",
        f"/cvp/necesidades/{HUGE}/texto",
        f"/cvp/necesidades/{HUGE}/revision-texto",
        f"/cvp/necesidades/{HUGE}/diseno",
        f"/cvp/necesidades/{HUGE}/reunion",
    ],
)
def test_ids_past_64_bits_in_paths_are_a_spanish_4xx(web, need, url):
    r = web.as_("jefe").get(url)
    assert r.status_code in (404, 422), r.text[:300]
    if "/api/" in url:
        assert_spanish_refusal(r, (404, 422))
    else:
        assert "no es válida" in r.text or "No existe" in r.text


def test_ids_past_64_bits_in_bodies_and_form_fields_are_a_spanish_4xx(web, need):
    web.office.submit_text(need, "profesional", TEXTS)
    r = post_raw(
        web,
        "jefe",
        api(f"/necesidades/{need}/decisiones"),
        json.dumps({"revision": HUGE, "punto_control": 7, "decision": "aprobado"}),
    )
    body = assert_spanish_refusal(r)
    assert any(d.startswith("revision:") for d in body["detalles"])
    for path in (f"/publicaciones/{HUGE}/confirmar", f"/publicaciones/{HUGE}/reintentar"):
        assert_spanish_refusal(post_raw(web, "jefe", api(path), '{"url": "https://x.com/a/status/1"}'))
    for value in (str(HUGE), str(-HUGE - 1), "١٢", "1e3"):
        r = web.post_form(
            "jefe", f"/cvp/necesidades/{need}/revision-texto", {"revision_id": value, "decision": "aprobado"}
        )
        assert r.status_code == 422 and "no es un número válido" in r.text, value
    r = web.post_form(
        "jefe", f"/cvp/necesidades/{need}/publicaciones/{HUGE}/confirmar", {"url": "https://x.com/a/status/1"}
    )
    assert r.status_code == 422 and "no es válida" in r.text
    assert not any(e.action.startswith("texto_aprobado") for e in web.office.events(need))


# --- item 6: double clicks on a submission -------------------------------------------------------


def _race(office, monkeypatch, calls):
    """Run ``calls`` at once, each reading the next revision number before any of them writes.

    The real ``_next_revision_number`` runs; the barrier only holds each caller until all have read it,
    which is the moment a double click collides. Where the database serialises the readers (PostgreSQL's
    row lock), the barrier times out and the calls go one after the other.
    """
    barrier = threading.Barrier(len(calls), timeout=3)
    real = type(office)._next_revision_number

    def held(self, *args, **kwargs):
        number = real(self, *args, **kwargs)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return number

    monkeypatch.setattr(type(office), "_next_revision_number", held)
    results: list = [None] * len(calls)

    def run(i):
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.setattr(type(office), "_next_revision_number", real)
    return results


def _clients(web, user, n):
    clients = []
    for _ in range(n):
        c = web.TestClient(web.parent, follow_redirects=False)
        c.cookies.set("_token", web.tokens[user])
        clients.append(c)
    return clients


@pytest.fixture(params=["sqlite", "postgresql"])
def any_web(request, web):
    """The forms on the test's SQLite records, or on a fresh PostgreSQL database."""
    if request.param == "postgresql":
        from cvp.mail import MailboxMailer
        from cvp.office import Office
        from cvp_airflow.web.services import get_office

        office = Office(request.getfixturevalue("pg_url"))
        office.mailer = MailboxMailer(office.cfg.mailbox_dir)
        web.office = office
        web.app.dependency_overrides[get_office] = lambda: office
    return web


def test_double_submitted_text_is_one_revision_and_a_409(any_web, monkeypatch):
    web = any_web
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    token = web.csrf("profesional")
    clients = _clients(web, "profesional", 2)
    calls = [
        lambda c=c: c.post(api(f"/necesidades/{need}/texto"), json={"textos": TEXTS}, headers={"X-CSRF-Token": token})
        for c in clients
    ]
    responses = _race(web.office, monkeypatch, calls)
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409).json()
    assert refused["codigo"] == "conflicto" and ("doble clic" in refused["detail"] or "pendiente" in refused["detail"])
    assert [r.number for r in web.office.revisions(need)] == [1]


def test_double_submitted_design_is_one_revision_and_a_409_and_no_orphan_file(any_web, monkeypatch):
    web = any_web
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    rev = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev.id, 7, P.APPROVED, "jefe")
    token = web.csrf("tecnico")
    clients = _clients(web, "tecnico", 2)
    calls = [
        lambda c=c: c.post(
            api(f"/necesidades/{need}/diseno"),
            headers={"X-CSRF-Token": token},
            data={"texto_alternativo": "Afiche de la entrega"},
            files={"archivo": ("afiche.png", tiny_png(32, 32), "image/png")},
        )
        for c in clients
    ]
    responses = _race(web.office, monkeypatch, calls)
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    designs = web.office.revisions(need, P.DESIGN)
    assert [d.number for d in designs] == [1]
    assert web.office.storage.list(f"archivos/{need}") == [designs[0].stored_path]


def test_double_submitted_editor_form_shows_the_conflict_in_place(web, need, monkeypatch):
    token = web.csrf("profesional")
    clients = _clients(web, "profesional", 2)
    form = {"codigo_csrf": token, "texto_x": TEXTS["x"], "texto_facebook": TEXTS["facebook"]}
    responses = _race(
        web.office, monkeypatch, [lambda c=c: c.post(f"/cvp/necesidades/{need}/texto", data=form) for c in clients]
    )
    assert sorted(r.status_code for r in responses) == [303, 409]
    assert "doble clic" in next(r for r in responses if r.status_code == 409).text


# --- item 7: the other 500s of the fuzzing run ----------------------------------------------------


@pytest.mark.parametrize("duration", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_an_infinite_duration_is_a_spanish_422(web, duration):
    body = (
        '{"canal": "instagram", "texto": "hola", "medios": [{"tipo_medio": "video/mp4", "tamano": 10, '
        f'"ancho": 1080, "alto": 1920, "duracion": {duration}}}]}}'
    )
    out = assert_spanish_refusal(post_raw(web, "jefe", api("/verificar"), body))
    assert any("medios.0.duracion" in d for d in out["detalles"]), out


def test_an_x_text_with_a_lone_surrogate_is_a_spanish_422(web, need):
    out = assert_spanish_refusal(
        post_raw(
            web,
            "profesional",
            api(f"/necesidades/{need}/texto"),
            '{"textos": {"x": "hola\\udfff", "facebook": "hola"}}',
        )
    )
    assert out["detalles"] == [
        (
            "textos.x: contiene un carácter que no se puede guardar ni publicar (la mitad suelta "
            "de un emoji o símbolo, o un carácter nulo); bórrelo y, si era un emoji, vuelva a "
            "insertarlo completo"
        )
    ]
    out = assert_spanish_refusal(post_raw(web, "jefe", api("/verificar"), '{"canal": "x", "texto": "hola\\udfff"}'))
    assert out["detalles"][0].startswith("texto: contiene un carácter")


def _multipart(boundary: str, fields: dict) -> bytes:
    return (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        + f"--{boundary}--\r\n".encode()
    )


def test_a_300_character_multipart_boundary_is_a_spanish_4xx(web, need):
    long = "b" * 300
    headers = {"Content-Type": f"multipart/form-data; boundary={long}"}
    r = web.as_("tecnico").post(
        api(f"/necesidades/{need}/diseno"),
        content=_multipart(long, {"nota": "x"}),
        headers={**headers, "X-CSRF-Token": web.csrf("tecnico")},
    )
    out = assert_spanish_refusal(r)
    assert "mal formado" in out["detail"]
    r = web.as_("tecnico").post(
        f"/cvp/necesidades/{need}/diseno",
        content=_multipart(long, {"note": "x"}),
        headers={**headers, "X-CSRF-Token": web.csrf("tecnico")},
    )
    assert r.status_code == 422 and "mal formado" in r.text
    for user, path in (
        ("jefe", f"/cvp/necesidades/{need}/cancelar"),
        ("profesional", f"/cvp/necesidades/{need}/texto"),
    ):
        r = web.as_(user).post(
            path, content=_multipart(long, {"motivo": "x"}), headers={**headers, "X-CSRF-Token": web.csrf(user)}
        )
        assert r.status_code == 400 and "mal formada" in r.text, r.text[:300]
    r = web.as_("jefe").post(
        api(f"/necesidades/{need}/cancelar"),
        content=_multipart(long, {"motivo": "x"}),
        headers={**headers, "X-CSRF-Token": web.csrf("jefe")},
    )
    assert_spanish_refusal(r, (400, 422))


@pytest.mark.parametrize("name", ["a" * 300 + ".css", "a" * 5000, "cvp.css%00", "%00.css", "..%2Fcvp.css"])
def test_an_overlong_or_odd_static_file_name_is_a_spanish_404(web, name):
    r = web.as_("lector").get("/cvp/static/" + name)
    assert r.status_code == 404 and ("No existe ese recurso" in r.text or "No existe esa página" in r.text)


def test_a_nul_in_an_upload_field_is_refused_before_the_file(web, need):
    rev = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev.id, 7, P.APPROVED, "jefe")
    r = web.post_form(
        "tecnico",
        api(f"/necesidades/{need}/diseno"),
        {"texto_alternativo": "Afiche\x00"},
        files={"archivo": ("afiche.png", tiny_png(32, 32), "image/png")},
    )
    out = assert_spanish_refusal(r)
    assert "carácter nulo" in out["detail"]
    assert web.office.revisions(need, P.DESIGN) == []


@pytest.mark.parametrize("when", ["9999-12-31T23:59:00", "9999-12-31T23:59:00-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_publication_date_out_of_any_calendar_is_a_spanish_422(web, need, when):
    """Year 9999 in Bogotá is past datetime's range in UTC: the database conversion overflowed (a 500)."""
    rev = web.office.submit_text(need, "profesional", TEXTS)
    web.office.decide(need, rev.id, 7, P.APPROVED, "jefe")
    design = web.office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    body = {"revision": design.id, "punto_control": 12, "decision": "aprobado", "publicar_en": when}
    out = assert_spanish_refusal(post_raw(web, "jefe", api(f"/necesidades/{need}/decisiones"), json.dumps(body)))
    assert out["detalles"] == ["publicar_en: debe ser una fecha y hora entre los años 2000 y 2200"]
    r = web.post_form(
        "jefe",
        f"/cvp/necesidades/{need}/revision-diseno",
        {"revision_id": str(design.id), "decision": "aprobado", "publicar_en": when[:16]},
    )
    assert r.status_code == 422 and "entre los años 2000 y 2200" in r.text
    assert not any(e.action == "diseno_aprobado" for e in web.office.events(need))
