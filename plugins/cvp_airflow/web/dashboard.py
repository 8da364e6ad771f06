"""The head's dashboard (Tablero) in the forms: charts with their numbers beside them, and downloads.

Every member of the team may see it (the reader role exists for this). The period is this week, this
month or a range of Bogotá days, with optional filters; the data is :mod:`cvp.dashboard`'s and the
charts :mod:`cvp.charts`'s, drawn server-side as SVG and shown as images (the page keeps its strict
Content-Security-Policy and prints well). Each table may be downloaded as CSV, all of them as one XLSX
with a sheet per table.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cvp import charts
from cvp import dashboard as D
from cvp import dashboard_tables as T
from cvp import procedure as P
from cvp.config import bogota_date
from cvp.errors import InvalidInput, NotFound
from cvp.office import Office
from cvp_airflow.web.api import base_of
from cvp_airflow.web.channel_state import channel_board
from cvp_airflow.web.pages import render
from cvp_airflow.web.security import current_viewer
from cvp_airflow.web.services import get_office

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_viewer)])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The tables drawn as a chart beside them (the others are read as tables).
CHARTED = tuple(charts.CHART_TITLES)


def _date(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"La fecha {name} «{raw}» no es válida (AAAA-MM-DD).") from None


def _choice(raw: str | None) -> str | None:
    return raw or None


def selection(
    periodo: str = D.THIS_WEEK,
    desde: str | None = None,
    hasta: str | None = None,
    canal: str | None = None,
    fuente: str | None = None,
    publico: str | None = None,
    dependencia: str | None = None,
) -> tuple[D.Period, D.Filters]:
    """The period and filters from the query string (Spanish names; an unknown value is refused in Spanish)."""
    period = D.period_for(periodo, bogota_date(), _date(desde, "inicial"), _date(hasta, "final"))
    filters = D.Filters(_choice(canal), _choice(fuente), _choice(publico), _choice(dependencia))
    return period, filters


def _build(office: Office, period: D.Period, filters: D.Filters) -> D.Dashboard:
    with office.session() as s:
        return D.build(s, period, filters)


def _stem(d: D.Dashboard) -> str:
    return f"tablero-{d.period.start.isoformat()}-{d.period.end.isoformat()}"


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


@router.get("/tablero", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    sel: tuple[D.Period, D.Filters] = Depends(selection),
    office: Office = Depends(get_office),
):
    period, filters = sel
    d = _build(office, period, filters)
    svgs = charts.all_charts(d)
    base = base_of(request)
    top = d.top.assign(
        miniatura=[
            f"{base}/api/necesidades/{n}/disenos/{int(r)}/archivo"
            if r == r and r is not None and str(t or "").startswith("image/")
            else ""
            for n, r, t in zip(d.top["necesidad"], d.top["diseno"], d.top["tipo"], strict=True)
        ]
    )
    return render(
        request,
        "tablero.html.j2",
        d=d,
        tablas=d.tables(),
        titulos=T.TABLE_TITLES,
        graficos={k: charts.data_uri(svg) for k, svg in svgs.items()},
        descripciones={k: _desc(svg) for k, svg in svgs.items()},
        titulos_graficos=charts.CHART_TITLES,
        destacadas=top.to_dict("records"),
        presets=D.PRESETS,
        filtros=d.filters,
        consulta=_query(request),
        celda=_cell,
        numero=charts.numero,
        filtros_texto=d.filters.describe(),
        CANALES=P.CHANNELS,
        channels=channel_board(office),
    )


@router.get("/tablero/datos.xlsx")
def dashboard_xlsx(
    request: Request, sel: tuple[D.Period, D.Filters] = Depends(selection), office: Office = Depends(get_office)
):
    d = _build(office, *sel)
    return Response(
        T.to_xlsx(d),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{_stem(d)}.xlsx"'},
    )


@router.get("/tablero/datos.json")
def dashboard_json(sel: tuple[D.Period, D.Filters] = Depends(selection), office: Office = Depends(get_office)):
    """The same tables as JSON for scripts: Spanish keys, missing values null (never 0), dates ISO 8601."""
    d = _build(office, *sel)
    body = {
        "periodo": {"inicio": d.period.start.isoformat(), "fin": d.period.end.isoformat(), "tipo": d.period.preset},
        "filtros": {
            "canal": d.filters.channel,
            "fuente": d.filters.source,
            "publico": d.filters.audience,
            "dependencia": d.filters.department,
        },
        "generado_en": d.now.isoformat(),
        "resumen": d.summary,
        "tablas": {key: _records(frame) for key, frame in d.tables().items()},
    }
    return JSONResponse(body)


@router.get("/tablero/{tabla}.csv")
def dashboard_csv(
    tabla: str,
    request: Request,
    sel: tuple[D.Period, D.Filters] = Depends(selection),
    office: Office = Depends(get_office),
):
    if tabla not in T.TABLE_TITLES:
        raise NotFound(f"El tablero no tiene la tabla «{tabla}».")
    d = _build(office, *sel)
    return Response(
        T.to_csv(d.tables()[tabla]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_stem(d)}-{tabla}.csv"'},
    )


def _desc(svg: str) -> str:
    """The chart's own description (its <desc>), said again beside the image for screen readers."""
    start = svg.index("<desc")
    start = svg.index(">", start) + 1
    from html import unescape

    return unescape(svg[start : svg.index("</desc>", start)])


def _cell(value) -> str:
    """A table cell as the page shows it: Colombian numbers, dates dd/mm/aaaa, 'sin datos' when missing."""
    if value is None or (isinstance(value, float) and value != value):
        return "sin datos"
    if isinstance(value, bool):
        return "sí" if value else "no"
    if isinstance(value, int | float) or hasattr(value, "item"):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float) and number != number:
            return "sin datos"
        if isinstance(number, bool):
            return "sí" if number else "no"
        return charts.numero(number, None if float(number).is_integer() else 1)
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _json_value(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return _json_value(value.item())
    if isinstance(value, date):
        return value.isoformat()
    return value


def _records(frame) -> list[dict]:
    columns = [str(c) for c in frame.columns]
    return [
        {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
