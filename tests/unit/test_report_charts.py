"""The weekly and monthly reports carry the Tablero's charts inline and its tables as an XLSX workbook."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from cvp import charts, reports
from tests.unit.test_reports import out, period, today  # noqa: F401 - fixtures of the report's records


def test_report_embeds_the_charts_and_comes_with_an_xlsx(office, period, out):  # noqa: F811
    report = reports.build_report(office, today(), today(), out)

    html = office.storage.read_text(next(f for f in report.files if f.endswith(".html")))
    svgs = re.findall(r"<svg\b[^>]*>", html)
    assert len(svgs) == len(charts.CHART_TITLES) and all('role="img"' in s for s in svgs)
    assert '<title id="g-interaccion_por_canal-titulo">Interacciones por canal en el periodo</title>' in html
    assert "X (Twitter): 100 en 2 publicación(es)" in html  # the chart's sentence, Colombian numbers
    assert "&lt;script&gt;" in html and "<script" not in html  # a need's title stays text inside the report

    xlsx = [f for f in report.files if f.endswith(".xlsx")]
    assert xlsx == [f"{out}/informe-{report.kind}-{today().isoformat()}-{today().isoformat()}.xlsx"]
    book = load_workbook(io.BytesIO(office.storage.read_bytes(xlsx[0])))
    rows = list(book["Interacción por canal"].iter_rows(values_only=True))
    header = rows[0]
    by_channel = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert sum(r["Publicaciones"] for r in by_channel.values()) == report.data["publicaciones"] == 4
    # X: reactions 80, comments 6, shares 14 (the latest reading of each post), as the report's own table says.
    assert by_channel["X (Twitter)"]["Interacciones"] == 100
    assert by_channel["Facebook"]["Impresiones"] is None  # Facebook gave no impressions: empty, not 0
    assert dict(r for r in book["Resumen"].iter_rows(values_only=True))["Necesidades publicadas"] == 2
