"""The Tablero's tables as people read them: Spanish headers and values, and their downloads.

The frames of :mod:`cvp.dashboard` become the tables shown beside the charts, the CSV of each table (for
Excel in Spanish), the XLSX with one sheet per table, the JSON of the forms and the Google Sheet of the
reports. A missing value stays empty (never 0) in every one of them.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from typing import TYPE_CHECKING

from cvp import procedure as P
from cvp.config import TIMEZONE
from cvp.engagement import METRIC_KEYS

if TYPE_CHECKING:
    import pandas as pd

    from cvp.dashboard import Dashboard

# --- Spanish tables (page, CSV, XLSX) --------------------------------------------------------------

TABLE_TITLES = {
    "resumen": "Resumen del periodo",
    "interaccion_por_dia": "Interacción acumulada por canal y día",
    "interaccion_por_canal": "Interacción por canal",
    "piezas_destacadas": "Piezas con más interacción",
    "flujo_necesidades": "Necesidades abiertas, publicadas y canceladas",
    "tiempos": "Tiempos del procedimiento (horas)",
    "rondas_control": "Rondas en los puntos de control 7 y 12",
    "motivos_devolucion": "Motivos de devolución (comentarios de la Jefe OAC)",
    "oportunidad": "Publicadas frente a la fecha límite",
    "en_espera": "Lo que espera ahora, por responsable y antigüedad",
}


def _local_text(value) -> str:
    if value is None or value != value:
        return ""
    return value.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")


def tables(d: Dashboard) -> dict[str, pd.DataFrame]:
    """Every table of the Tablero with Spanish headers and values, in the page's order."""
    import pandas as pd

    s = d.summary
    summary = pd.DataFrame(
        [
            ("Necesidades abiertas", s["abiertas"]),
            ("Necesidades publicadas", s["publicadas"]),
            ("Necesidades canceladas", s["canceladas"]),
            ("Publicadas a tiempo", s["a_tiempo"]),
            ("Porcentaje publicado a tiempo", s["porcentaje_a_tiempo"]),
            ("Publicaciones en canales", s["publicaciones"]),
            ("Necesidades en espera ahora", s["en_espera"]),
        ],
        columns=["Indicador", "Valor"],
        dtype="object",
    )
    daily = d.engagement_daily.assign(canal=d.engagement_daily["canal"].map(_channel_name)).rename(
        columns={
            "dia": "Semana del" if d.period.step == 7 else "Día",
            "canal": "Canal",
            "impresiones": "Impresiones",
            "interacciones": "Interacciones",
        }
    )
    channels = d.engagement_channels.assign(canal=d.engagement_channels["canal"].map(_channel_name)).rename(
        columns={
            "canal": "Canal",
            "publicaciones": "Publicaciones",
            "con_metricas": "Con métricas",
            **{k: k.capitalize() for k in METRIC_KEYS},
            "interacciones": "Interacciones",
        }
    )
    top = pd.DataFrame(
        {
            "Necesidad": d.top["necesidad"],
            "Título": d.top["titulo"],
            "Canal": d.top["canal"].map(_channel_name),
            "Publicada el": d.top["publicado_en"].map(_local_text),
            "Enlace": d.top["url"],
            "Impresiones": d.top["impresiones"],
            "Interacciones": d.top["interacciones"],
        }
    )
    flow = d.flow.rename(
        columns={"dia": "Día", "semana": "Semana del", "abiertas": "Abiertas", "publicadas": "Publicadas"}
    ).rename(columns={"canceladas": "Canceladas"})
    durations = d.durations.drop(columns=["actividad"]).rename(
        columns={
            "tramo": "Tramo",
            "necesidades": "Necesidades",
            "mediana_horas": "Mediana (horas)",
            "p90_horas": "Percentil 90 (horas)",
        }
    )
    rounds = d.rounds.rename(
        columns={
            "punto_control": "Punto de control",
            "que_se_revisa": "Qué se revisa",
            "revisiones": "Revisiones decididas",
            "aprobadas": "Aprobadas",
            "devueltas": "Devueltas",
            "necesidades_con_devolucion": "Necesidades con devolución",
        }
    )
    returns = pd.DataFrame(
        {
            "Necesidad": d.returns["necesidad"],
            "Título": d.returns["titulo"],
            "Punto de control": d.returns["punto_control"],
            "Versión": d.returns["revision"],
            "Comentario": d.returns["comentario"],
            "Devuelta el": d.returns["decidida_el"].map(_local_text),
        }
    )
    timeliness = pd.DataFrame(
        {
            "Necesidad": d.timeliness["necesidad"],
            "Título": d.timeliness["titulo"],
            "Fecha límite": d.timeliness["fecha_limite"],
            "Publicada el": d.timeliness["publicada_el"].map(_local_text),
            "Horas desde la solicitud": d.timeliness["horas_hasta_publicar"],
            "A tiempo": d.timeliness["a_tiempo"].map({True: "sí", False: "no"}),
        }
    )
    waiting = d.waiting.assign(rol=d.waiting["rol"].map(lambda r: P.ROLE_NAMES.get(r, r))).rename(
        columns={"rol": "Responsable", "total": "Total"}
    )
    return {
        "resumen": summary,
        "interaccion_por_dia": daily,
        "interaccion_por_canal": channels,
        "piezas_destacadas": top,
        "flujo_necesidades": flow,
        "tiempos": durations,
        "rondas_control": rounds,
        "motivos_devolucion": returns,
        "oportunidad": timeliness,
        "en_espera": waiting,
    }


def _channel_name(key: str) -> str:
    return P.CHANNELS.get(key, key)


# --- downloads -------------------------------------------------------------------------------------

#: The XLSX sheets' names (Excel allows 31 characters and no []:*?/\).
SHEET_NAMES = {
    "resumen": "Resumen",
    "interaccion_por_dia": "Interacción por día",
    "interaccion_por_canal": "Interacción por canal",
    "piezas_destacadas": "Piezas destacadas",
    "flujo_necesidades": "Flujo de necesidades",
    "tiempos": "Tiempos",
    "rondas_control": "Rondas de control",
    "motivos_devolucion": "Motivos de devolución",
    "oportunidad": "Oportunidad",
    "en_espera": "En espera",
}


def _cell(value):
    """A frame's value as a spreadsheet cell: missing stays empty (never 0), text never a formula."""
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def describe_period(d: Dashboard) -> list[tuple[str, str]]:
    """The period and filters in words, as the downloads' first sheet and the reports say them."""
    return [
        ("Periodo", f"{d.period.start.isoformat()} a {d.period.end.isoformat()} (hora de Bogotá)"),
        ("Filtros", "; ".join(d.filters.describe()) or "Ninguno"),
        ("Generado el", d.now.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")),
        ("Procedimiento", P.PROCEDURE_CODE),
    ]


def to_xlsx(d: Dashboard) -> bytes:
    """One sheet per table (Spanish headers), after a first sheet that names the period and the filters."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    about = book.active
    about.title = "Periodo"
    for row in describe_period(d):
        about.append(row)
    about.column_dimensions["A"].width, about.column_dimensions["B"].width = 16, 70
    bold = Font(bold=True)
    for key, frame in d.tables().items():
        sheet = book.create_sheet(SHEET_NAMES[key])
        sheet.append([str(c) for c in frame.columns])
        for cell in sheet[1]:
            cell.font = bold
        for row in frame.itertuples(index=False, name=None):
            sheet.append([_cell(v) for v in row])
        for i, column in enumerate(frame.columns, start=1):
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = max(12, min(60, len(str(column)) + 4))
        sheet.freeze_panes = "A2"
    book.move_sheet("Periodo", offset=0)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(frame: pd.DataFrame) -> bytes:
    """One table for Excel in Spanish: ';' between columns, decimal comma, a BOM; missing values empty."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([_csv_value(_cell(v)) for v in row])
    return out.getvalue().encode("utf-8-sig")


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sí" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{round(value, 2)}".replace(".", ",")
    if isinstance(value, datetime):
        return value.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
    return str(value)
