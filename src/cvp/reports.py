"""Period reports for the head of the OAC: engagement of what was published, and the procedure's timeliness.

A report covers whole days in Bogotá time. It aggregates, per channel and per need, the latest
engagement snapshot of every post published in the period, and, for the needs whose publication
(activity 14) fell in the period, the metrics each need logged at its end (``metricas`` document,
see :mod:`cvp.metrics`): on time against the deadline, cycle time per activity, rounds and returns
at control points 7 and 12. It is written as an HTML page with the Tablero's charts inline
(:mod:`cvp.dashboard`, :mod:`cvp.charts`), a CSV file for Excel and an XLSX workbook with one sheet per
table of the Tablero, and kept as a
:class:`~cvp.records.models.Report` row, one per kind and period: rebuilding replaces its data and
files and keeps the record of the mail already sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cvp import dashboard, dashboard_tables
from cvp import procedure as P
from cvp.config import bogota, bogota_date, bogota_day_start
from cvp.engagement import METRIC_KEYS
from cvp.errors import InvalidInput
from cvp.mail import Mailer, OutgoingMail
from cvp.records.models import Document, EngagementSnapshot, Need, Publication, Report, utcnow
from cvp.rendering import fecha

log = logging.getLogger(__name__)

WEEKLY, MONTHLY, RUNNING, CUSTOM = "semanal", "mensual", "mes_en_curso", "periodo"
KIND_NAMES = {
    WEEKLY: "Informe semanal",
    MONTHLY: "Informe mensual",
    RUNNING: "Informe del mes en curso",
    CUSTOM: "Informe del periodo",
}
#: Closed periods go to the head by mail; the running month is only kept in the reports folder.
MAILED_KINDS = (WEEKLY, MONTHLY)
TEMPLATE = "reportes/informe_periodo.html.j2"
METRIC_LABELS = {
    "impresiones": "Impresiones",
    "alcance": "Alcance",
    "reacciones": "Reacciones",
    "comentarios": "Comentarios",
    "compartidos": "Compartidos",
    "reproducciones": "Reproducciones",
}
CSV_COLUMNS = [
    "necesidad",
    "titulo",
    "canal",
    "publicado_en",
    "url",
    *METRIC_KEYS,
    "metricas_tomadas_en",
    "fecha_limite",
    "a_tiempo",
]
PUBLISHED = P.PublicationState.PUBLISHED
REPORTS_FOLDER = "informes"


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date


def periods_for(day: date) -> list[Period]:
    """The reports due on ``day`` (Bogotá): last week on Mondays, last month on the 1st, else the month so far."""
    due = []
    if day.weekday() == 0:
        due.append(Period(WEEKLY, day - timedelta(days=7), day - timedelta(days=1)))
    if day.day == 1:
        last = day - timedelta(days=1)
        due.append(Period(MONTHLY, last.replace(day=1), last))
    return due or [Period(RUNNING, day.replace(day=1), day)]


def kind_of(start: date, end: date) -> str:
    if start.weekday() == 0 and end - start == timedelta(days=6):
        return WEEKLY
    if start.day == 1 and (end + timedelta(days=1)).day == 1 and start.replace(day=1) == end.replace(day=1):
        return MONTHLY
    return CUSTOM


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period's whole Bogotá days as a half-open UTC interval."""
    return bogota_day_start(start), bogota_day_start(end + timedelta(days=1))


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def build_report(
    office,
    start: date,
    end: date,
    folder: str = REPORTS_FOLDER,
    *,
    kind: str | None = None,
    now: datetime | None = None,
) -> Report:
    """Aggregate the period, write its HTML and CSV under ``folder`` of the office's store and keep the
    Report row (idempotent); the row lists the files as store keys, readable from any host."""
    import pandas as pd

    if end < start:
        raise InvalidInput(
            f"El periodo del informe termina ({end.isoformat()}) antes de empezar ({start.isoformat()})."
        )
    kind = kind or kind_of(start, end)
    if kind not in KIND_NAMES:
        raise InvalidInput(f"Tipo de informe desconocido: {kind!r}.")
    now = now or utcnow()
    pubs = _publications(office, start, end)
    needs = _timeliness(office, start, end)

    frame = pd.DataFrame(
        pubs, columns=["publicacion", "necesidad", "titulo", "canal", "publicado_en", "url", "tomado_en", *METRIC_KEYS]
    )
    for key in METRIC_KEYS:
        frame[key] = pd.to_numeric(frame[key], errors="coerce").astype("Int64")
    data: dict[str, Any] = {
        "tipo": kind,
        "periodo": {"inicio": start.isoformat(), "fin": end.isoformat()},
        "generado_en": now.isoformat(),
        "publicaciones": len(frame),
        "publicaciones_con_metricas": int(frame["tomado_en"].notna().sum()),
        "por_canal": _per_channel(frame),
        "por_necesidad": _per_need(frame),
        "oportunidad": _timeliness_summary(pd, needs),
        "necesidades": [_need_row(n) for n in needs],
    }

    board = _dashboard(office, start, end, now)
    storage = office.storage
    stem = f"{folder.strip('/')}/informe-{kind}-{start.isoformat()}-{end.isoformat()}"
    html_key, csv_key, xlsx_key = f"{stem}.html", f"{stem}.csv", f"{stem}.xlsx"
    html = office.renderer.render(
        TEMPLATE,
        informe=data,
        nombre=KIND_NAMES[kind],
        inicio=start,
        fin=end,
        generado=now,
        etiquetas=METRIC_LABELS,
        numero=numero,
        porcentaje=porcentaje,
        de_iso=de_iso,
        graficos=_charts(board),
    )
    contents = {
        html_key: html.encode("utf-8"),
        csv_key: _csv(pd, frame, needs),
        xlsx_key: dashboard_tables.to_xlsx(board),
    }
    files = list(contents)
    new = [key for key in files if not storage.exists(key)]
    try:
        for key, content in contents.items():
            storage.write_bytes(key, content)  # each file whole or not at all
        row, replaced = _store(office, kind, start, end, data, files, now)
    except BaseException:
        for key in new:  # the report whole or not at all: a rebuild's earlier files stay, each whole
            _forget(storage, key)
        raise
    for old in replaced:
        if old not in files:
            _forget(storage, old)
    if kind == RUNNING:
        _drop_superseded_running(office, row)
    log.info(
        "Informe %s del %s al %s: %s publicaciones, %s necesidades publicadas (%s)",
        kind,
        start,
        end,
        data["publicaciones"],
        data["oportunidad"]["necesidades_publicadas"],
        storage.uri(html_key),
    )
    return row


def _dashboard(office, start: date, end: date, now: datetime) -> dashboard.Dashboard:
    """The Tablero's frames for the period, unfiltered: the report's charts and its XLSX (a sheet per table)."""
    with office.session() as s:
        return dashboard.build(s, dashboard.Period(start, end), now=now)


def _charts(board: dashboard.Dashboard) -> list[dict]:
    """The Tablero's charts as inline SVG (a report is a file: no Content-Security-Policy to respect)."""
    from markupsafe import Markup

    from cvp import charts

    return [
        {"clave": key, "titulo": charts.CHART_TITLES[key], "svg": Markup(svg)}  # our own SVG, its texts escaped
        for key, svg in charts.all_charts(board).items()
    ]


def _publications(office, start: date, end: date) -> list[dict]:
    """Every post published in the period, with its latest snapshot's metrics (None when never read)."""
    lo, hi = _bounds(start, end)
    with office.session() as s:
        found = list(
            s.execute(
                select(Publication, Need.title)
                .join(Need, Need.id == Publication.need_id)
                .where(Publication.state == PUBLISHED, Publication.published_at >= lo, Publication.published_at < hi)
                .order_by(Publication.published_at, Publication.id)
            )
        )
        latest: dict[int, EngagementSnapshot] = {}
        ids = [p.id for p, _ in found]
        if ids:
            for snap in s.scalars(
                select(EngagementSnapshot)
                .where(EngagementSnapshot.publication_id.in_(ids))
                .order_by(EngagementSnapshot.taken_at, EngagementSnapshot.id)
            ):
                latest[snap.publication_id] = snap  # ordered: the last one wins
    rows = []
    for pub, title in found:
        snap = latest.get(pub.id)
        metrics = snap.metrics if snap is not None else {}
        rows.append(
            {
                "publicacion": pub.id,
                "necesidad": pub.need_id,
                "titulo": title,
                "canal": pub.channel,
                "publicado_en": pub.published_at,
                "url": pub.url,
                "tomado_en": snap.taken_at if snap is not None else None,
                **{k: metrics.get(k) for k in METRIC_KEYS},
            }
        )
    return rows


def _timeliness(office, start: date, end: date) -> list[dict]:
    """The ``metricas`` record of each need whose last publication fell in the period."""
    with office.session() as s:
        docs = list(
            s.execute(
                select(Document.data, Need.title)
                .join(Need, Need.id == Document.need_id)
                .where(Document.kind == P.DocumentKind.METRICS)
                .order_by(Document.need_id)
            )
        )
    needs = []
    for data, title in docs:
        published = data.get("publicado_en")
        if not published:
            continue
        day = bogota_date(datetime.fromisoformat(published))
        if start <= day <= end:
            needs.append(dict(data, titulo=title))
    return needs


def _py(value: Any) -> Any:
    """A pandas/numpy scalar as plain JSON (NA → None)."""
    import pandas as pd

    if value is None or value is pd.NA:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return value.item()
    return value


def _sums(group) -> dict:
    return {k: _py(group[k].sum(min_count=1)) for k in METRIC_KEYS}


def _per_channel(frame) -> list[dict]:
    rows = []
    for channel, group in frame.groupby("canal", sort=False):
        rows.append(
            {
                "canal": channel,
                "nombre": P.CHANNELS.get(channel, channel),
                "publicaciones": len(group),
                "con_metricas": int(group["tomado_en"].notna().sum()),
                **_sums(group),
            }
        )
    order = list(P.CHANNELS)
    return sorted(rows, key=lambda r: order.index(r["canal"]) if r["canal"] in order else len(order))


def _per_need(frame) -> list[dict]:
    rows = []
    for (need_id, title), group in frame.groupby(["necesidad", "titulo"], sort=True):
        channels = list(dict.fromkeys(group["canal"]))
        rows.append(
            {
                "necesidad": int(need_id),
                "titulo": title,
                "canales": channels,
                "publicaciones": len(group),
                **_sums(group),
            }
        )
    return rows


def _timeliness_summary(pd, needs: list[dict]) -> dict:
    n = len(needs)
    on_time = sum(1 for d in needs if d.get("a_tiempo") is True)
    late = sum(1 for d in needs if d.get("a_tiempo") is False)
    per_activity = pd.DataFrame([d.get("tiempo_por_actividad_segundos") or {} for d in needs])
    medians = {}
    if not per_activity.empty:
        columns = sorted(per_activity.columns, key=int)
        medians = {
            str(c): round(float(per_activity[c].median()) / 3600, 2) for c in columns if per_activity[c].notna().any()
        }
    total = pd.Series([d.get("tiempo_total_horas") for d in needs], dtype="float64")
    rounds = {cp: [int((d.get("rondas_control") or {}).get(str(cp), 0)) for d in needs] for cp in P.CONTROL_POINTS}
    returns = {
        cp: [int((d.get("devoluciones_control") or {}).get(str(cp), 0)) for d in needs] for cp in P.CONTROL_POINTS
    }
    return {
        "necesidades_publicadas": n,
        "a_tiempo": on_time,
        "fuera_de_plazo": late,
        "porcentaje_a_tiempo": round(100 * on_time / (on_time + late), 1) if on_time + late else None,
        "mediana_tiempo_total_horas": round(float(total.median()), 2) if total.notna().any() else None,
        "mediana_por_actividad_horas": medians,
        "rondas_control": {str(cp): sum(v) for cp, v in rounds.items()},
        "promedio_rondas_control": {str(cp): round(sum(v) / n, 2) if n else None for cp, v in rounds.items()},
        "devoluciones_control": {str(cp): sum(v) for cp, v in returns.items()},
        "necesidades_con_devoluciones": sum(1 for i in range(n) if any(returns[cp][i] for cp in returns)),
    }


def _need_row(d: dict) -> dict:
    return {
        "necesidad": d.get("necesidad"),
        "titulo": d.get("titulo", ""),
        "fecha_limite": d.get("fecha_limite"),
        "publicado_en": d.get("publicado_en"),
        "a_tiempo": d.get("a_tiempo"),
        "tiempo_total_horas": d.get("tiempo_total_horas"),
        "rondas_control": d.get("rondas_control") or {},
        "devoluciones_control": d.get("devoluciones_control") or {},
    }


def _local(value) -> str:
    """A UTC instant as Bogotá wall time for the CSV; empty when missing (None or NaT)."""
    if value is None or value != value:
        return ""
    return bogota(value).strftime("%Y-%m-%d %H:%M")


def _cell(text: str) -> str:
    """Text as Excel shows it, never as a formula: a leading =, +, -, @ gets a quote (CSV injection)."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(pd, frame, needs: list[dict]) -> bytes:
    """One row per publication; ';' and a BOM, so Excel in Spanish opens it in columns with its accents."""
    verdict = {d["necesidad"]: d.get("a_tiempo") for d in needs}
    deadline = {d["necesidad"]: d.get("fecha_limite") for d in needs}
    out = pd.DataFrame(
        {
            "necesidad": frame["necesidad"].astype("Int64"),
            "titulo": frame["titulo"].map(_cell),
            "canal": frame["canal"].map(lambda c: P.CHANNELS.get(c, c)),
            "publicado_en": frame["publicado_en"].map(_local),
            "url": frame["url"].map(_cell),
            **{k: frame[k] for k in METRIC_KEYS},
            "metricas_tomadas_en": frame["tomado_en"].map(_local),
            "fecha_limite": frame["necesidad"].map(lambda n: deadline.get(n) or ""),
            "a_tiempo": frame["necesidad"].map(lambda n: {True: "sí", False: "no"}.get(verdict.get(n), "")),
        },
        columns=CSV_COLUMNS,
    )
    return out.to_csv(sep=";", index=False, decimal=",", lineterminator="\r\n").encode("utf-8-sig")


def _forget(storage, key: str) -> None:
    """Remove a superseded report file (a key, or a legacy absolute path); a failure only leaves it behind."""
    try:
        storage.delete(key)
    except Exception as exc:  # noqa: BLE001 - the new report is kept; the old file is only clutter
        log.warning("No se pudo borrar el archivo de informe reemplazado %s: %s", key, exc)


def _store(
    office, kind: str, start: date, end: date, data: dict, files: list[str], now: datetime
) -> tuple[Report, list[str]]:
    """Insert or replace the period's row; returns it with the files it listed before."""
    for attempt in (1, 2):
        try:
            with office.session() as s:
                row = s.scalar(
                    select(Report)
                    .where(Report.kind == kind, Report.period_start == start, Report.period_end == end)
                    .with_for_update()
                )
                previous: list[str] = []
                if row is None:
                    row = Report(kind=kind, period_start=start, period_end=end, created_at=now)
                    s.add(row)
                else:
                    previous = list(row.files or [])
                    if "correo" in (row.data or {}):  # a rebuilt report was already mailed: not again
                        data = dict(data, correo=row.data["correo"])
                row.data, row.files = data, files
                s.flush()
                return row, previous
        except IntegrityError:  # a concurrent build inserted the same period first
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _drop_superseded_running(office, row: Report) -> None:
    """The month so far is kept once: older cut-offs of the same month go, with their files."""
    with office.session() as s:
        older = list(
            s.scalars(
                select(Report).where(
                    Report.kind == RUNNING, Report.period_start == row.period_start, Report.id != row.id
                )
            )
        )
        for old in older:
            for f in old.files or []:
                if f not in row.files:
                    _forget(office.storage, f)
            s.delete(old)


# --------------------------------------------------------------------------------------------
# Mail to the head of the OAC
# --------------------------------------------------------------------------------------------


def numero(value: Any, decimals: int | None = None) -> str:
    """12345 → '12.345', 2.5 → '2,50' (Spanish separators); None → '—'."""
    if value is None:
        return "—"
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 2
    return f"{value:,.{decimals}f}".translate(_SEPARATORS)


_SEPARATORS = str.maketrans({",": ".", ".": ","})


def de_iso(value: str | None) -> str:
    """An ISO date or instant from the report's data, as the `fecha` filter writes it (Bogotá)."""
    if not value:
        return "—"
    return fecha(date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value))


def porcentaje(value: Any) -> str:
    return "—" if value is None else f"{numero(float(value), 1)} %"


def report_mail(report: Report, where: Callable[[str], str] = str) -> tuple[str, str]:
    """Subject and plain-text body: the summary in Spanish and where the files are (``where`` names a key)."""
    d = report.data
    name = KIND_NAMES.get(report.kind, "Informe")
    span = f"del {fecha(report.period_start)} al {fecha(report.period_end)}"
    subject = f"{name} de interacción y oportunidad de la OAC ({span})"
    lines = [
        f"{name} de interacción y oportunidad — Oficina Asesora de Comunicaciones",
        f"Periodo: {span}.",
        "",
        f"Publicaciones en el periodo: {d['publicaciones']} "
        f"(con métricas de las plataformas: {d['publicaciones_con_metricas']}).",
        "",
    ]
    if d["por_canal"]:
        lines.append("Interacción por canal (última lectura de cada publicación):")
        for c in d["por_canal"]:
            parts = [f"{METRIC_LABELS[k].lower()} {numero(c[k])}" for k in METRIC_KEYS if c[k] is not None]
            lines.append(
                f"- {c['nombre']}: {c['publicaciones']} publicación(es)"
                + (f"; {'; '.join(parts)}" if parts else "; sin métricas de la plataforma")
                + "."
            )
        lines.append("")
    o = d["oportunidad"]
    lines.append(f"Oportunidad (procedimiento {P.PROCEDURE_CODE}):")
    lines.append(
        f"- Necesidades publicadas: {o['necesidades_publicadas']}; a tiempo: {o['a_tiempo']}; "
        f"fuera de la fecha límite: {o['fuera_de_plazo']} ({porcentaje(o['porcentaje_a_tiempo'])} a tiempo)."
    )
    lines.append(f"- Mediana del tiempo total de una necesidad: {numero(o['mediana_tiempo_total_horas'], 1)} horas.")
    lines.append(
        f"- Rondas en el punto de control 7 (contenidos): {o['rondas_control']['7']} "
        f"(devoluciones: {o['devoluciones_control']['7']}); en el 12 (diseño): "
        f"{o['rondas_control']['12']} (devoluciones: {o['devoluciones_control']['12']})."
    )
    lines += ["", "Archivos del informe:"] + [f"- {where(f)}" for f in report.files]
    lines += ["", "Mensaje automático del flujo «Métricas de interacción e informes» (Airflow)."]
    return subject, "\n".join(lines) + "\n"


def send_report(office, report_id: int, mailer: Mailer, recipients: list[str] | None = None) -> bool:
    """Mail the report to the head of the OAC once per Report id; False when it had already gone.

    The flag is written after the transport accepted the mail: a crash in between may send it
    twice, never lose it.
    """
    with office.session() as s:
        report = s.get(Report, report_id)
    if report is None:
        raise InvalidInput(f"No existe el informe n.º {report_id}.")
    if (report.data or {}).get("correo", {}).get("enviado_en"):
        log.info("Informe %s ya enviado el %s: no se reenvía", report_id, report.data["correo"]["enviado_en"])
        return False
    recipients = recipients if recipients is not None else office.team.emails_for(P.HEAD)
    if not recipients:
        raise InvalidInput(
            "No hay correo de la Jefe OAC en el archivo del equipo (rol jefe_oac): "
            "regístrelo para recibir los informes."
        )
    subject, body = report_mail(report, office.storage.uri)
    mailer.send(OutgoingMail(tuple(recipients), subject, body, office.cfg.mail_from, f"informe-{report_id}"))
    with office.session() as s:
        row = s.get(Report, report_id)
        row.data = dict(
            row.data or {},
            correo={"enviado_en": utcnow().isoformat(), "destinatarios": recipients, "transporte": mailer.description},
        )
    log.info("Informe %s enviado a %s por %s", report_id, ", ".join(recipients), mailer.description)
    return True
