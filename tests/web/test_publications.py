"""Activity 14 on the forms: a person resolves an unconfirmed publication, and sees why one failed.

The states come from the real ledger (cvp.publishing), never written by hand: a publisher that dies
during the call leaves the row 'enviando'; the next attempt cannot find the post and the row becomes
'sin_confirmar'. A platform that refuses (an expired token) leaves it 'fallido'.
"""

from __future__ import annotations

import pytest

from cvp import procedure as P
from cvp import publishing
from cvp.publishers.base import AuthError
from cvp.publishers.outbox import OutboxPublisher
from cvp.records.models import Event
from tests.conftest import NEED, tiny_png
from tests.web.test_pages import EVIL, assert_accessible

ONE_OFF = dict(NEED, accion_puntual=True)  # channels x and facebook
TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}
RUN_ID = "manual__2099-12-01T09:30:00+00:00"
POST_URL = "https://x.com/CVPBogota/status/1234567890"


class DiesDuringTheCall(OutboxPublisher):
    """The worker is killed while the platform call is in flight: nobody knows whether it posted."""

    def publish(self, piece):
        raise RuntimeError("worker killed")


class Refuses(OutboxPublisher):
    """The platform refuses without posting, as with an expired token."""

    message = "El token de X venció: renueve la conexión x_default en Airflow."

    def publish(self, piece):
        raise AuthError(self.message, channel=self.channel)


def approved(office, run_id: str = RUN_ID, **need) -> int:
    """A need with text and design approved and the final piece delivered: ready for activity 14."""
    need_id = office.register_need(dict(ONE_OFF, **need), "jefe", run_id=run_id).id
    t = office.submit_text(need_id, "profesional", TEXTS)
    office.decide(need_id, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need_id, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need_id, d.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need_id)
    return need_id


def unconfirmed(office, need_id: int, channel: str = "x"):
    """Through the ledger: a call that dies mid-way, then an attempt that cannot find the post."""
    with pytest.raises(RuntimeError):
        publishing.publish_once(office, DiesDuringTheCall(office.cfg.outbox_dir, channel), need_id, channel)
    with pytest.raises(publishing.Unconfirmed):
        publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, channel), need_id, channel)
    return row_of(office, need_id, channel)


def failed(office, need_id: int, channel: str = "facebook", message: str = Refuses.message):
    publisher = Refuses(office.cfg.outbox_dir, channel)
    publisher.message = message
    with pytest.raises(AuthError):
        publishing.publish_once(office, publisher, need_id, channel)
    return row_of(office, need_id, channel)


def row_of(office, need_id: int, channel: str):
    return next(p for p in office.publications(need_id) if p.channel == channel)


def events(office, need_id: int, action: str) -> list[Event]:
    return [e for e in office.events(need_id) if e.action == action]


def api(path: str) -> str:
    return f"/cvp/api{path}"


@pytest.fixture
def need(web):
    return approved(web.office)


@pytest.fixture
def row(web, need):
    r = unconfirmed(web.office, need)
    assert r.state == publishing.UNCONFIRMED
    return r


# --- JSON API ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["profesional", "jefe"])
def test_confirm_marks_it_published_with_its_url_in_the_users_name(web, need, row, user):
    r = web.post_json(user, api(f"/publicaciones/{row.id}/confirmar"), {"url": POST_URL})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["estado"], body["url"]) == (row.id, "publicado", POST_URL)
    assert body["id_plataforma"] == "1234567890"  # taken from the X link, so the engagement can be read
    assert body["publicado_en"] and body["error"] == ""
    stored = row_of(web.office, need, "x")
    assert (stored.state, stored.url) == (publishing.PUBLISHED, POST_URL)
    [event] = events(web.office, need, "publicado")
    assert event.actor == user and event.activity == 14 and POST_URL in event.summary
    # Nothing was posted again, and the next attempt of the task finds it published.
    again = publishing.publish_once(web.office, DiesDuringTheCall(web.office.cfg.outbox_dir, "x"), need, "x")
    assert again.state == publishing.PUBLISHED


def test_confirm_keeps_an_explicit_remote_id(web, need, row):
    r = web.post_json(
        "profesional",
        api(f"/publicaciones/{row.id}/confirmar"),
        {"url": "https://x.com/CVPBogota/status/1", "id_plataforma": "  1999  "},
    )
    assert r.status_code == 200 and r.json()["id_plataforma"] == "1999"


@pytest.mark.parametrize("user", ["profesional", "jefe"])
def test_retry_returns_it_to_pending_and_the_next_attempt_sends(web, need, row, user):
    r = web.post_json(user, api(f"/publicaciones/{row.id}/reintentar"), {"revisado": True})
    assert r.status_code == 200, r.text
    assert r.json()["estado"] == "pendiente" and r.json()["error"] == ""
    assert row_of(web.office, need, "x").state == publishing.PENDING
    [event] = events(web.office, need, "reenvio_autorizado")
    assert event.actor == user and event.activity == 14
    sent = publishing.publish_once(web.office, OutboxPublisher(web.office.cfg.outbox_dir, "x"), need, "x")
    assert sent.state == publishing.PUBLISHED


def test_bearer_clients_need_no_csrf(web, need, row):
    r = web.anonymous().post(
        api(f"/publicaciones/{row.id}/reintentar"), json={"revisado": True}, headers=web.bearer("profesional")
    )
    assert r.status_code == 200, r.text


def assert_unchanged(web, need, row):
    stored = row_of(web.office, need, "x")
    assert (stored.state, stored.url) == (publishing.UNCONFIRMED, "")
    assert not events(web.office, need, "publicado") and not events(web.office, need, "reenvio_autorizado")


def test_no_login_is_refused(web, need, row):
    for action, body in (("confirmar", {"url": POST_URL}), ("reintentar", {"revisado": True})):
        r = web.anonymous().post(api(f"/publicaciones/{row.id}/{action}"), json=body)
        assert r.status_code == 401 and "Inicie sesión" in r.json()["detail"]
    assert_unchanged(web, need, row)


@pytest.mark.parametrize("user", ["tecnico", "lector", "intruso"])
def test_other_roles_are_refused(web, need, row, user):
    for action, body in (("confirmar", {"url": POST_URL}), ("reintentar", {"revisado": True})):
        r = web.anonymous().post(api(f"/publicaciones/{row.id}/{action}"), json=body, headers=web.bearer(user))
        assert r.status_code == 403, r.text
        assert r.json()["codigo"] == "sin_permiso"
    assert_unchanged(web, need, row)


def test_cookie_write_without_csrf_is_refused(web, need, row):
    r = web.post_json("profesional", api(f"/publicaciones/{row.id}/confirmar"), {"url": POST_URL}, csrf=False)
    assert r.status_code == 403 and "código de seguridad" in r.json()["detail"]
    r = web.as_("jefe").post(
        api(f"/publicaciones/{row.id}/reintentar"),
        json={"revisado": True},
        headers={"X-CSRF-Token": web.csrf("profesional")},
    )  # someone else's token
    assert r.status_code == 403
    assert_unchanged(web, need, row)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://x.com/CVPBogota/status/1",
        "x.com/CVPBogota/status/1",
        "javascript:alert(1)",
        "https://",
        "https://localhost/a",
        "ftp://x.com/1",
        'https://x.com/a"><script>alert(1)</script>',
        "https://x.com/a b",
        "https://[x.com/1",
        "https://x.com/" + "a" * 600,
    ],
)
def test_a_url_that_is_not_https_is_refused(web, need, row, url):
    r = web.post_json("profesional", api(f"/publicaciones/{row.id}/confirmar"), {"url": url})
    assert r.status_code == 422, (url, r.text)
    assert r.json()["codigo"] == "datos_invalidos" and (
        "https://" in r.json()["detail"] or "largo" in r.json()["detail"] or "Escriba el enlace" in r.json()["detail"]
    )
    assert_unchanged(web, need, row)


def test_a_missing_url_is_refused_in_spanish(web, need, row):
    r = web.post_json("profesional", api(f"/publicaciones/{row.id}/confirmar"), {})
    assert r.status_code == 422 and r.json()["detail"].startswith("La solicitud no es válida")
    assert_unchanged(web, need, row)


@pytest.mark.parametrize("body", [{}, {"revisado": False}, {"revisado": "true"}, {"revisado": 1}])
def test_retry_without_the_review_declared_is_refused(web, need, row, body):
    r = web.post_json("profesional", api(f"/publicaciones/{row.id}/reintentar"), body)
    assert r.status_code == 422, r.text
    assert_unchanged(web, need, row)
    if not body or body == {"revisado": False}:
        assert "Revisé la cuenta y la publicación no existe" in r.json()["detail"]


def test_a_state_that_does_not_allow_it_is_a_conflict(web, need, row):
    assert web.post_json("jefe", api(f"/publicaciones/{row.id}/confirmar"), {"url": POST_URL}).status_code == 200
    for action, body in (("confirmar", {"url": POST_URL}), ("reintentar", {"revisado": True})):
        r = web.post_json("profesional", api(f"/publicaciones/{row.id}/{action}"), body)
        assert r.status_code == 409, r.text
        assert "ya está registrada como publicada" in r.json()["detail"] and r.json()["codigo"] == "conflicto"
    # A failed one is retried from Airflow, not here.
    fb = failed(web.office, need)
    r = web.post_json("profesional", api(f"/publicaciones/{fb.id}/reintentar"), {"revisado": True})
    assert r.status_code == 409 and "limpiando la tarea en Airflow" in r.json()["detail"]
    assert row_of(web.office, need, "facebook").state == publishing.FAILED
    # An authorized one cannot be authorized twice, nor confirmed.
    other = approved(web.office, run_id="otra")
    second = unconfirmed(web.office, other)
    assert (
        web.post_json("profesional", api(f"/publicaciones/{second.id}/reintentar"), {"revisado": True}).status_code
        == 200
    )
    r = web.post_json("jefe", api(f"/publicaciones/{second.id}/confirmar"), {"url": POST_URL})
    assert r.status_code == 409 and "ya está autorizada para enviarse" in r.json()["detail"]
    assert len(events(web.office, other, "reenvio_autorizado")) == 1


def test_unknown_publication_is_a_404(web, row):
    r = web.post_json("profesional", api("/publicaciones/999/confirmar"), {"url": POST_URL})
    assert r.status_code == 404 and "No existe el registro de publicación n.º 999" in r.json()["detail"]


def test_openapi_names_the_roles_and_the_need_lists_its_publications(web, need, row):
    paths = web.as_("lector").get("/cvp/api/openapi.json").json()["paths"]
    for action in ("confirmar", "reintentar"):
        op = paths[f"/api/publicaciones/{{publicacion}}/{action}"]["post"]
        assert op["x-cvp-roles"] == [P.PROFESSIONAL, P.HEAD]
        assert {"401", "403", "404", "409", "422"} <= set(op["responses"])
        assert "Profesional Universitario" in op["description"] and "Jefe OAC" in op["description"]
    detail = web.as_("lector").get(api(f"/necesidades/{need}")).json()
    [pub] = detail["publicaciones"]
    assert (pub["id"], pub["canal"], pub["estado"]) == (row.id, "x", "sin_confirmar")
    assert pub["error"] and pub["intentos"] == 1
    step = detail["paso"]
    assert (step["actividad"], step["rol"]) == (14, P.PROFESSIONAL) and "sin confirmar" in step["etiqueta"]


def test_the_inbox_offers_it_to_the_professional_and_the_head(web, need, row):
    for user in ("profesional", "jefe"):
        [item] = web.as_(user).get(api("/bandeja")).json()
        assert (item["necesidad"], item["actividad"]) == (need, 14)
        assert "X (Twitter)" in item["etiqueta"]
        html = web.as_(user).get("/cvp/").text
        assert f'href="/cvp/necesidades/{need}#sec-publicaciones"' in html
    assert web.as_("tecnico").get(api("/bandeja")).json() == []


# --- the need's page -----------------------------------------------------------------------------------------


def need_page(web, user, need, status=200):
    r = web.as_(user).get(f"/cvp/necesidades/{need}")
    assert r.status_code == status, r.text[-2000:]
    assert_accessible(r.text)
    return r.text


@pytest.mark.parametrize("user", ["profesional", "jefe"])
def test_page_explains_and_offers_both_actions_to_the_allowed_roles(web, need, row, user):
    html = need_page(web, user, need)
    assert "X (Twitter): publicación sin confirmar" in html and f"registro n.º {row.id}" in html
    assert "no se reenvía sola" in html and "busque una publicación" in html and TEXTS["x"] in html
    assert f'action="/cvp/necesidades/{need}/publicaciones/{row.id}/confirmar"' in html
    assert f'action="/cvp/necesidades/{need}/publicaciones/{row.id}/reintentar"' in html
    assert "Confirmar que está publicada" in html and "Autorizar el reenvío" in html
    assert f'<input type="url" id="url-{row.id}" name="url" required pattern="https://.+"' in html
    assert f'<label for="revisado-{row.id}">Revisé la cuenta y la publicación no existe</label>' in html
    assert 'name="codigo_csrf"' in html
    assert "/dags/necesidad_comunicacion/runs/manual__2099-12-01T09%3A30%3A00%2B00%3A00/tasks/publicar_pieza" in html
    assert 'href="#sec-publicaciones">14. Verificar la publicación sin confirmar' in html


@pytest.mark.parametrize("user", ["tecnico", "lector"])
def test_page_shows_no_actions_to_other_roles(web, need, row, user):
    html = need_page(web, user, need)
    assert "X (Twitter): publicación sin confirmar" in html and "La resuelve el Profesional" in html
    assert "/publicaciones/" not in html and 'name="url"' not in html and "Confirmar que está publicada" not in html


def test_page_shows_no_actions_for_published_or_failed_rows(web, need, row):
    # Published on X (confirmed by a person), failed on Facebook.
    publishing.confirm(web.office, row.id, POST_URL, "1234567890", "profesional")
    fb = failed(web.office, need)
    html = need_page(web, "profesional", need)
    assert "/publicaciones/" not in html and 'name="url"' not in html and "sin confirmar" not in html
    assert f'<a href="{POST_URL}"' in html and "Publicada" in html and "Fallida" in html
    assert "Facebook: la publicación falló" in html and f"registro n.º {fb.id}" in html
    assert Refuses.message in html and "limpiando la tarea" in html
    assert 'href="/dags/necesidad_comunicacion/runs/manual__2099-12-01T09%3A30%3A00%2B00%3A00"' in html


def test_failed_row_of_a_need_without_run_links_to_the_dag(web):
    need = approved(web.office, run_id=None)
    failed(web.office, need)
    html = need_page(web, "lector", need)
    assert 'href="/dags/necesidad_comunicacion"' in html and "/runs/" not in html


def test_confirm_from_the_page(web, need, row):
    r = web.post_form(
        "profesional",
        f"/cvp/necesidades/{need}/publicaciones/{row.id}/confirmar",
        {"url": f"  {POST_URL}  ", "remote_id": ""},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/cvp/necesidades/{need}?aviso=publicacion_confirmada"
    stored = row_of(web.office, need, "x")
    assert (stored.state, stored.url, stored.remote_id) == ("publicado", POST_URL, "1234567890")
    assert events(web.office, need, "publicado")[0].actor == "profesional"
    html = web.as_("profesional").get(r.headers["location"]).text
    assert "Publicación confirmada" in html and "Confirmar que está publicada" not in html


def test_retry_from_the_page_needs_the_checkbox(web, need, row):
    path = f"/cvp/necesidades/{need}/publicaciones/{row.id}/reintentar"
    r = web.post_form("jefe", path, {})
    assert r.status_code == 422 and 'role="alert"' in r.text and "marque «Revisé la cuenta" in r.text
    assert f'id="revisado-{row.id}" name="revisado" value="si" required' in r.text and 'aria-invalid="true"' in r.text
    assert_accessible(r.text)
    assert_unchanged(web, need, row)
    r = web.post_form("jefe", path, {"revisado": "si"})
    assert r.status_code == 303 and r.headers["location"].endswith("aviso=reenvio_autorizado")
    assert row_of(web.office, need, "x").state == publishing.PENDING
    assert events(web.office, need, "reenvio_autorizado")[0].actor == "jefe"


def test_page_refusals_are_shown_in_place_with_the_typed_url_escaped(web, need, row):
    path = f"/cvp/necesidades/{need}/publicaciones/{row.id}/confirmar"
    typed = 'http://x.com/"><script>alert(1)</script>'
    r = web.post_form("profesional", path, {"url": typed, "remote_id": EVIL})
    assert r.status_code == 422 and 'role="alert"' in r.text and "https://" in r.text
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    assert 'value="http://x.com/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert_accessible(r.text)
    assert_unchanged(web, need, row)


def test_page_posts_refused_by_csrf_role_need_and_state(web, need, row):
    path = f"/cvp/necesidades/{need}/publicaciones/{row.id}/confirmar"
    r = web.post_form("profesional", path, {"url": POST_URL}, csrf=False)
    assert r.status_code == 403 and "código de seguridad" in r.text
    r = web.post_form("tecnico", path, {"url": POST_URL})
    assert r.status_code == 403 and "corresponde a" in r.text and 'role="alert"' in r.text
    other = approved(web.office, run_id="otra")
    r = web.post_form("profesional", f"/cvp/necesidades/{other}/publicaciones/{row.id}/confirmar", {"url": POST_URL})
    assert r.status_code == 404 and f"de la necesidad n.º {other}" in r.text
    assert_unchanged(web, need, row)
    assert web.post_form("jefe", path, {"url": POST_URL}).status_code == 303
    r = web.post_form("profesional", path, {"url": POST_URL})  # an old page, already resolved
    assert r.status_code == 409 and "ya está registrada como publicada" in r.text and 'role="alert"' in r.text
    assert len(events(web.office, need, "publicado")) == 1


def test_platform_error_text_is_escaped(web, need):
    failed(web.office, need, message="Error de la plataforma " + EVIL)
    html = need_page(web, "lector", need)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "Error de la plataforma &lt;script&gt;" in html
