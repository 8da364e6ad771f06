"""The Tablero page and its downloads, on the hand-made week of tests/unit/test_dashboard.py."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.unit.test_dashboard import seed

WEEK = "/cvp/tablero?periodo=rango&desde=2026-11-02&hasta=2026-11-08"


@pytest.fixture
def seeded_web(web, office):
    seed(office)
    return web


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def summary(web, query: str = "") -> dict[str, str]:
    rows = csv_rows(web.as_("jefe").get(WEEK.replace("/tablero?", "/tablero/resumen.csv?") + query))
    assert rows[0] == ["Indicador", "Valor"]
    return dict(rows[1:])


@pytest.mark.parametrize("user", ["jefe", "profesional", "tecnico", "lector"])
def test_every_team_role_sees_the_dashboard(seeded_web, user):
    r = seeded_web.as_(user).get(WEEK)
    assert r.status_code == 200, r.text
    html = r.text
    assert "<h1>Tablero de la Oficina Asesora de Comunicaciones</h1>" in html
    assert html.count('src="data:image/svg+xml;base64,') == 6  # every chart, as an image the CSP allows
    assert 'style="' not in html and "<style" not in html  # the page's policy forbids inline styles
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert 'href="/cvp/tablero" aria-current="page"' in html  # in the forms' navigation
    # Each chart has its numbers beside it in a table with a caption, and its sentence for screen readers.
    for caption in ("Interacción acumulada por canal y día", "Rondas en los puntos de control 7 y 12"):
        assert f"<caption>{caption}</caption>" in html
    assert "Interacciones (reacciones, comentarios y compartidos) acumuladas" in html


def test_outsiders_are_refused(seeded_web):
    assert seeded_web.as_("intruso").get(WEEK).status_code == 403
    assert seeded_web.anonymous().get(WEEK).status_code in (303, 307)
    assert seeded_web.as_("intruso").get("/cvp/tablero/datos.xlsx").status_code == 403


def test_tables_add_up_to_the_records(seeded_web):
    html = seeded_web.as_("lector").get(WEEK).text
    # The summary tiles and the channel table, as the page writes them (Colombian numbers, missing as such).
    assert re.search(r"<dt>Necesidades abiertas</dt><dd>3</dd>", html)
    assert re.search(r"<dt>Publicadas a tiempo</dt><dd>50,0 %</dd>", html)
    assert 'class="sin-datos">sin datos</td>' in html  # Facebook's impressions: missing, not 0

    s = summary(seeded_web)
    assert (s["Necesidades abiertas"], s["Necesidades publicadas"], s["Necesidades canceladas"]) == ("3", "2", "1")
    assert s["Porcentaje publicado a tiempo"] == "50"
    channels = csv_rows(seeded_web.as_("jefe").get(WEEK.replace("/tablero?", "/tablero/interaccion_por_canal.csv?")))
    header, body = channels[0], channels[1:]
    assert header[:3] == ["Canal", "Publicaciones", "Con métricas"]
    assert sum(int(r[1]) for r in body) == 3  # A on X and Facebook, B on Facebook
    facebook = next(r for r in body if r[0] == "Facebook")
    assert facebook[header.index("Impresiones")] == "" and facebook[header.index("Interacciones")] == "7"
    returns = csv_rows(seeded_web.as_("jefe").get(WEEK.replace("/tablero?", "/tablero/motivos_devolucion.csv?")))
    assert [r[4] for r in returns[1:]] == ["Precisar la cifra de títulos."]


def test_filters_change_the_numbers(seeded_web):
    assert summary(seeded_web)["Necesidades abiertas"] == "3"
    assert summary(seeded_web, "&canal=x")["Necesidades abiertas"] == "2"
    only_direction = summary(seeded_web, "&dependencia=direccion_general")
    assert (only_direction["Necesidades abiertas"], only_direction["Publicadas a tiempo"]) == ("1", "0")
    html = seeded_web.as_("jefe").get(WEEK + "&canal=x&publico=ciudadania").text
    assert "Canal: X (Twitter); Público de interés: Ciudadanía en general" in html
    assert '<option value="x" selected>' in html


def test_xlsx_one_sheet_per_table_with_its_totals(seeded_web):
    from openpyxl import load_workbook

    r = seeded_web.as_("profesional").get(WEEK.replace("/tablero?", "/tablero/datos.xlsx?"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert 'filename="tablero-2026-11-02-2026-11-08.xlsx"' in r.headers["content-disposition"]
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames[:3] == ["Periodo", "Resumen", "Interacción por día"]
    assert book["Periodo"]["B1"].value.startswith("2026-11-02 a 2026-11-08")
    flow = list(book["Flujo de necesidades"].iter_rows(values_only=True))
    assert flow[0] == ("Día", "Abiertas", "Publicadas", "Canceladas")
    assert [sum(r[i] for r in flow[1:]) for i in (1, 2, 3)] == [3, 2, 1]
    rounds = list(book["Rondas de control"].iter_rows(values_only=True))
    assert sum(r[2] for r in rounds[1:]) == 6 and sum(r[4] for r in rounds[1:]) == 1


def test_bad_period_is_refused_in_spanish(seeded_web):
    r = seeded_web.as_("jefe").get("/cvp/tablero?periodo=rango&desde=2026-11-08&hasta=2026-11-01")
    assert r.status_code == 422 and "antes de empezar" in r.text
    r = seeded_web.as_("jefe").get("/cvp/tablero?canal=tiktok")
    assert r.status_code == 422 and "Valor desconocido para el filtro canal" in r.text
    assert seeded_web.as_("jefe").get("/cvp/tablero/otra.csv").status_code == 404


def test_presets_answer_on_an_empty_office(web):
    for preset in ("semana", "mes"):
        r = web.as_("jefe").get(f"/cvp/tablero?periodo={preset}")
        assert r.status_code == 200 and "Sin datos en el periodo." in r.text


def test_the_same_tables_as_json(seeded_web):
    r = seeded_web.as_("lector").get(WEEK.replace("/tablero?", "/tablero/datos.json?") + "&canal=x")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["periodo"] == {"inicio": "2026-11-02", "fin": "2026-11-08", "tipo": "rango"}
    assert body["filtros"]["canal"] == "x" and body["resumen"]["abiertas"] == 2
    channels = body["tablas"]["interaccion_por_canal"]
    assert channels == [
        {
            "Canal": "X (Twitter)",
            "Publicaciones": 1,
            "Con métricas": 1,
            "Impresiones": 300.0,
            "Alcance": None,
            "Reacciones": 10.0,
            "Comentarios": 2.0,
            "Compartidos": 3.0,
            "Reproducciones": None,
            "Interacciones": 15.0,
        }
    ]
    assert sum(row["Abiertas"] for row in body["tablas"]["flujo_necesidades"]) == 2
