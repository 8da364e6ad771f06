"""Work bounded by the server, not by what a person (or a script with a team member's session) sends."""

from __future__ import annotations

import time

import pytest

from cvp import procedure as P
from cvp_airflow.web import views
from tests.conftest import NEED

ONE_OFF = dict(NEED, accion_puntual=True)
# twitter-text's URL pattern is quadratic on runs like "a.a.a.": ~1.7 s for 1,000 characters, hours for 100,000,
# all of it holding the GIL of the whole api-server (Airflow's UI and API included).
SLOW_X = "a." * 50_000


@pytest.fixture
def x_parser(monkeypatch):
    """twitter-text's parser, refusing (as a test failure) any text long enough to stall the server."""
    from cvp.checks import xlength

    real = xlength._load_parse_tweet()
    seen: list[int] = []

    def guarded(text: str):
        seen.append(len(text))
        if len(text) > 1000:
            raise AssertionError(f"twitter-text received {len(text)} characters")
        return real(text)

    monkeypatch.setattr(xlength, "_parse_tweet", guarded)
    return seen


def test_live_check_of_a_huge_x_text_is_refused_without_parsing_it(web, x_parser):
    """Any team member, the read-only role included, calls the live check."""
    start = time.perf_counter()
    r = web.post_json("lector", "/cvp/api/verificar", {"canal": "x", "texto": SLOW_X})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["bloqueante"] and body["conteo"]["error"] >= 1
    finding = next(f for f in body["hallazgos"] if f["codigo"] == "x.length")
    assert finding["severidad"] == "error" and "demasiado largo" in finding["mensaje"]
    assert body["longitud"]["valor"] == len(SLOW_X) and body["longitud"]["limite"] == 280
    assert time.perf_counter() - start < 5
    # An ordinary text is still weighed by twitter-text.
    ok = web.post_json("lector", "/cvp/api/verificar", {"canal": "x", "texto": "Hola https://www.cvp.gov.co/a"})
    assert ok.json()["longitud_ponderada_x"] == 5 + 23 and not ok.json()["bloqueante"]


def test_submitting_a_huge_x_text_is_refused_without_parsing_it(web, x_parser):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    texts = {"x": SLOW_X, "facebook": "Hoy entregamos 120 títulos de propiedad."}
    r = web.post_json("profesional", f"/cvp/api/necesidades/{need}/texto", {"textos": texts})
    assert r.status_code == 422, r.text
    assert any("demasiado largo" in d for d in r.json()["detalles"])
    assert web.office.revisions(need) == []
    # The page refuses the same way and shows the form again with the text, without parsing it either.
    data = {"titulo": "Entrega", "texto_x": SLOW_X, "texto_facebook": texts["facebook"], "nota": ""}
    page = web.post_form("profesional", f"/cvp/necesidades/{need}/texto", data)
    assert page.status_code == 422 and "demasiado largo" in page.text
    # Even someone who may not submit (the refusal re-renders the editor, which checks the texts).
    page = web.post_form("lector", f"/cvp/necesidades/{need}/texto", data)
    assert page.status_code == 403
    assert web.office.revisions(need) == []


def _repetitive(n: int) -> tuple[str, str]:
    return " ".join("a b" for _ in range(n)), " ".join("b a c" for _ in range(n))


def test_diff_of_long_repetitive_texts_is_bounded():
    """SequenceMatcher is cubic on such texts: ~10 s for these 4,000 characters, minutes for a long article."""
    old, new = _repetitive(400)
    start = time.perf_counter()
    segments = views.word_diff(old, new)
    assert time.perf_counter() - start < 1.5
    assert "".join(t for op, t in segments if op != "+") == old
    assert "".join(t for op, t in segments if op != "-") == new


def test_diff_of_a_long_article_still_shows_the_changed_words():
    words = [f"palabra{i}" for i in range(6000)]
    paragraphs = [" ".join(words[i : i + 300]) for i in range(0, 6000, 300)]
    edited = list(paragraphs)
    edited[0] = edited[0].replace("palabra10 ", "vocablo10 ")
    edited[-1] = edited[-1].replace("palabra5990 ", "vocablo5990 ")
    old, new = "\n\n".join(paragraphs), "\n\n".join(edited)
    start = time.perf_counter()
    segments = views.word_diff(old, new)
    assert time.perf_counter() - start < 1.5
    assert [(op, t) for op, t in segments if op != "="] == [
        ("-", "palabra10"),
        ("+", "vocablo10"),
        ("-", "palabra5990"),
        ("+", "vocablo5990"),
    ]
    assert "".join(t for op, t in segments if op != "+") == old
    assert "".join(t for op, t in segments if op != "-") == new


def test_need_and_review_pages_with_long_returned_texts_answer_quickly(web):
    need = web.office.register_need(ONE_OFF, "jefe", run_id="r").id
    old, new = _repetitive(300)
    rev = web.office.submit_text(need, "profesional", {"x": "Entrega de títulos.", "facebook": old})
    web.office.decide(need, rev.id, 7, P.REJECTED, "jefe", "Ajustar")
    web.office.submit_text(need, "profesional", {"x": "Entrega de títulos.", "facebook": new})
    for user, path in (("lector", f"/cvp/necesidades/{need}"), ("jefe", f"/cvp/necesidades/{need}/revision-texto")):
        start = time.perf_counter()
        assert web.as_(user).get(path).status_code == 200
        assert time.perf_counter() - start < 2, path
