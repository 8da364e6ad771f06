"""The dashboard's aggregations on a few hand-made records whose answers are known.

The week of Monday 2 to Sunday 8 November 2026 (Bogotá):
- A (X and Facebook, plan de acción, ciudadanía, Urbanizaciones): opened Mon 09:00, text returned once
  at point 7 ("Precisar la cifra"), published Wed 10:00 (X) and 11:00 (Facebook), deadline Fri: on time.
- B (Facebook, comité, medios, Dirección General): opened Tue 08:00, published Thu 08:00, deadline Wed: late.
- C (X): opened Wed, text approved, cancelled mid-way on Thu.
- D (X): opened in October, waits for its text.
Engagement: A's X post read twice in the period and once after it; A's Facebook post without
impressions (the platform gave none); B's post never read.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime, timedelta

import pytest

from cvp import charts, dashboard, dashboard_tables
from cvp import procedure as P
from cvp.config import TIMEZONE
from cvp.errors import InvalidInput
from cvp.records.models import Decision, EngagementSnapshot, Event, Need, Publication, Revision

WEEK = dashboard.Period(date(2026, 11, 2), date(2026, 11, 8))
NOW = datetime(2026, 11, 8, 23, 0, tzinfo=TIMEZONE).astimezone(UTC)


def at(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=TIMEZONE).astimezone(UTC)


def need(s, nid, title, channels, created, deadline, status, *, source="plan_accion", audiences=("ciudadania",),
         department="urbanizaciones_titulacion", step_role=None, step_since=None) -> Need:  # fmt: skip
    n = Need(
        id=nid,
        title=title,
        description="",
        source=source,
        audiences=list(audiences),
        channels=list(channels),
        one_off=True,
        deadline=deadline,
        department=department,
        requested_by="jefe",
        status=status,
        created_at=created,
        step_role=step_role,
        step_activity=10 if step_role else None,
        step_since=step_since,
    )
    s.add(n)
    s.flush()
    return n


def events(s, nid, *acts):
    for activity, when, action in acts:
        s.add(Event(need_id=nid, activity=activity, action=action, actor="x", at=when))
    s.flush()


def decide(s, nid, kind, number, cp, decision, when, comment=""):
    rev = Revision(need_id=nid, kind=kind, number=number, state=decision, author="p", created_at=when)
    s.add(rev)
    s.flush()
    s.add(
        Decision(
            need_id=nid,
            revision_id=rev.id,
            control_point=cp,
            decision=decision,
            comment=comment,
            decided_by="jefe",
            decided_at=when,
        )
    )
    s.flush()
    return rev


def publish(s, nid, channel, text, design, when) -> Publication:
    pub = Publication(
        need_id=nid,
        text_revision_id=text.id,
        design_revision_id=design.id,
        channel=channel,
        state=P.PublicationState.PUBLISHED,
        fingerprint="f",
        url=f"https://{channel}.example/{nid}",
        published_at=when,
    )
    s.add(pub)
    s.flush()
    return pub


def snap(s, pub, when, **metrics):
    values = dict.fromkeys(("impresiones", "alcance", "reacciones", "comentarios", "compartidos", "reproducciones"))
    values.update(metrics)
    s.add(EngagementSnapshot(publication_id=pub.id, channel=pub.channel, taken_at=when, metrics=values))


@pytest.fixture
def seeded(office):
    return seed(office)


@pytest.fixture
def seeded_any(records_url):
    """The same week on SQLite and on PostgreSQL (the raw columns' types differ by driver)."""
    from cvp.office import Office

    return seed(Office(records_url))


def seed(office, first_id: int = 1):
    """The week's records; needs A, B, C, D get ids first_id .. first_id + 3 (1 to 4 by default)."""
    a_id, b_id, c_id, d_id = range(first_id, first_id + 4)
    with office.session() as s:
        a0 = at(2, 9)
        need(s, a_id, "Entrega de títulos", ["x", "facebook"], a0, date(2026, 11, 6), P.NeedStatus.PUBLISHED)
        decide(s, a_id, P.TEXT, 1, 7, P.REJECTED, a0 + timedelta(hours=12), "Precisar la cifra de títulos.")
        text = decide(s, a_id, P.TEXT, 2, 7, P.APPROVED, a0 + timedelta(hours=22))
        design = decide(s, a_id, P.DESIGN, 1, 12, P.APPROVED, a0 + timedelta(hours=30))
        ax = publish(s, a_id, "x", text, design, at(4, 10))
        afb = publish(s, a_id, "facebook", text, design, at(4, 11))
        events(
            s,
            a_id,
            (1, a0, "necesidad_registrada"),
            (6, a0 + timedelta(hours=10), "texto_presentado"),
            (7, a0 + timedelta(hours=12), "texto_devuelto"),
            (6, a0 + timedelta(hours=20), "texto_presentado"),
            (7, a0 + timedelta(hours=22), "texto_aprobado"),
            (12, a0 + timedelta(hours=30), "diseno_aprobado"),
            (14, a0 + timedelta(hours=50), "publicado"),
        )
        snap(s, ax, at(4, 20), impresiones=100, reacciones=5, comentarios=1, compartidos=0)
        snap(s, ax, at(5, 20), impresiones=300, reacciones=10, comentarios=2, compartidos=3)
        snap(s, ax, at(9, 20), impresiones=999, reacciones=99, comentarios=9, compartidos=9)  # after the week
        snap(s, afb, at(5, 21), reacciones=7)

        b0 = at(3, 8)
        need(s, b_id, "Obras en Usme", ["facebook"], b0, date(2026, 11, 4), P.NeedStatus.PUBLISHED, source="comite",
             audiences=("medios",), department="direccion_general")  # fmt: skip
        bt = decide(s, b_id, P.TEXT, 1, 7, P.APPROVED, b0 + timedelta(hours=2))
        bd = decide(s, b_id, P.DESIGN, 1, 12, P.APPROVED, b0 + timedelta(hours=4))
        publish(s, b_id, "facebook", bt, bd, at(5, 8))
        events(s, b_id, (1, b0, "necesidad_registrada"), (14, at(5, 8), "publicado"))

        c0 = at(4, 9)
        need(s, c_id, "Feria de vivienda", ["x"], c0, date(2026, 11, 20), P.NeedStatus.CANCELLED)
        decide(s, c_id, P.TEXT, 1, 7, P.APPROVED, c0 + timedelta(hours=3))
        events(s, c_id, (1, c0, "necesidad_registrada"), (1, at(5, 15), "necesidad_cancelada"))

        need(s, d_id, "Boletín", ["x"], at(20, 9, month=10), date(2026, 11, 30), P.NeedStatus.IN_COURSE)
        events(s, d_id, (1, at(20, 9, month=10), "necesidad_registrada"))
    return office


def build(office, period=WEEK, **filters):
    with office.session() as s:
        return dashboard.build(s, period, dashboard.Filters(**filters), now=NOW)


def test_procedure_indicators(seeded_any):
    d = build(seeded_any)
    assert {k: d.summary[k] for k in ("abiertas", "publicadas", "canceladas", "a_tiempo")} == {
        "abiertas": 3,
        "publicadas": 2,
        "canceladas": 1,
        "a_tiempo": 1,
    }
    assert d.summary["porcentaje_a_tiempo"] == 50.0
    assert d.flow["abiertas"].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert d.flow["publicadas"].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert d.flow["canceladas"].tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert dict(zip(d.timeliness["necesidad"], d.timeliness["a_tiempo"], strict=True)) == {1: True, 2: False}

    durations = d.durations.set_index("actividad", drop=False)
    total = d.durations.iloc[0]
    assert (total["necesidades"], total["mediana_horas"]) == (2, 49.0)
    assert total["p90_horas"] == pytest.approx(49.8)
    assert durations.loc[6, "mediana_horas"] == 18.0 and durations.loc[7, "mediana_horas"] == 4.0
    assert durations.loc[14, "necesidades"] == 2 and durations.loc[14, "mediana_horas"] == 34.0
    assert durations.loc[14, "p90_horas"] == pytest.approx(45.2)


def test_rounds_and_why_texts_came_back(seeded):
    d = build(seeded)
    rounds = d.rounds.set_index("punto_control")
    # A returned once then approved, B approved, C approved although cancelled afterwards (decided in the week).
    assert rounds.loc[7, ["revisiones", "aprobadas", "devueltas", "necesidades_con_devolucion"]].tolist() == [
        4,
        3,
        1,
        1,
    ]
    assert rounds.loc[12, ["revisiones", "aprobadas", "devueltas"]].tolist() == [2, 2, 0]
    assert d.returns["comentario"].tolist() == ["Precisar la cifra de títulos."]


def test_waiting_now_by_role_and_age(seeded):
    # D, a one-off need without a text, waits for the professional (activity 5) since it was opened.
    w = build(seeded).waiting.set_index("rol")
    assert w.loc[P.PROFESSIONAL, "15 días o más"] == 1 and w["total"].sum() == 1
    with seeded.session() as s:
        s.get(Need, 4).step_since = at(6, 12)  # as if the step had begun on Friday
    w = build(seeded).waiting.set_index("rol")
    assert w.loc[P.PROFESSIONAL, "0 a 2 días"] == 1 and w["total"].sum() == 1


def test_engagement_missing_is_never_zero(seeded_any):
    d = build(seeded_any)
    ch = d.engagement_channels.set_index("canal")
    assert ch.loc["x", ["publicaciones", "con_metricas", "impresiones", "interacciones"]].tolist() == [1, 1, 300, 15]
    assert ch.loc["facebook", "publicaciones"] == 2 and ch.loc["facebook", "con_metricas"] == 1
    assert math.isnan(ch.loc["facebook", "impresiones"])  # no platform figure: missing, not 0
    assert ch.loc["facebook", "interacciones"] == 7
    top = d.top
    assert top["necesidad"].tolist()[:2] == [1, 1] and top.iloc[0]["canal"] == "x"
    assert math.isnan(top.iloc[-1]["interacciones"])  # B's post never read stays missing, ranked last

    daily = d.engagement_daily.set_index(["dia", "canal"])
    assert daily.loc[(date(2026, 11, 4), "x")].tolist() == [100, 6]
    assert daily.loc[(date(2026, 11, 8), "x")].tolist() == [300, 15]  # the reading after the week is not counted
    assert (date(2026, 11, 3), "x") not in daily.index  # before the first reading: nothing, not zero
    assert math.isnan(daily.loc[(date(2026, 11, 6), "facebook"), "impresiones"])
    assert daily.loc[(date(2026, 11, 6), "facebook"), "interacciones"] == 7


def test_filters_change_the_numbers(seeded):
    only_x = build(seeded, channel="x")
    assert (only_x.summary["abiertas"], only_x.summary["publicadas"], only_x.summary["canceladas"]) == (2, 1, 1)
    assert only_x.engagement_channels["canal"].tolist() == ["x"]
    direction = build(seeded, department="direccion_general")
    assert (direction.summary["abiertas"], direction.summary["publicadas"], direction.summary["a_tiempo"]) == (1, 1, 0)
    assert build(seeded, audience="medios").summary["publicadas"] == 1
    assert build(seeded, source="comite").rounds.set_index("punto_control").loc[7, "revisiones"] == 1
    with pytest.raises(InvalidInput):
        dashboard.Filters(channel="tiktok")


def test_empty_period(seeded):
    d = build(seeded, dashboard.Period(date(2025, 1, 6), date(2025, 1, 12)))
    assert d.summary["abiertas"] == d.summary["publicadas"] == d.summary["canceladas"] == 0
    assert d.summary["porcentaje_a_tiempo"] is None
    assert d.engagement_daily.empty and d.engagement_channels.empty and d.top.empty
    assert d.rounds["revisiones"].tolist() == [0, 0] and d.returns.empty
    assert d.durations.iloc[0]["necesidades"] == 0
    tables = d.tables()
    assert set(tables) == set(dashboard_tables.TABLE_TITLES)
    for svg in charts.all_charts(d).values():
        assert svg.startswith("<svg") and "<title" in svg


def test_periods():
    today = date(2026, 11, 5)  # a Thursday
    assert dashboard.period_for("semana", today) == dashboard.Period(date(2026, 11, 2), today, "semana")
    assert dashboard.period_for("mes", today).start == date(2026, 11, 1)
    with pytest.raises(InvalidInput):
        dashboard.period_for("rango", today, date(2026, 11, 5), date(2026, 11, 1))
    with pytest.raises(InvalidInput):
        dashboard.period_for("rango", today)


def test_xlsx_one_sheet_per_table(seeded):
    from openpyxl import load_workbook

    d = build(seeded)
    book = load_workbook(io.BytesIO(dashboard_tables.to_xlsx(d)))
    assert book.sheetnames == ["Periodo", *dashboard_tables.SHEET_NAMES.values()]
    assert set(dashboard_tables.SHEET_NAMES) == set(dashboard_tables.TABLE_TITLES)
    sheet = book["Interacción por canal"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Canal", "Publicaciones", "Con métricas")
    assert sum(r[1] for r in rows[1:]) == 3
    facebook = next(r for r in rows[1:] if r[0] == "Facebook")
    assert facebook[3] is None  # impressions missing: an empty cell, not 0


def test_charts_are_accessible_svg_with_colombian_numbers(seeded):
    d = build(seeded)
    svgs = charts.all_charts(d)
    assert set(svgs) == set(charts.CHART_TITLES)
    svg = svgs["interaccion_por_dia"]
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<title id=" in svg and "<desc id=" in svg and "Interacción" in svg
    assert "<script" not in svg and "<?xml" not in svg
    assert charts.numero(1234.5, 1) == "1.234,5" and charts.numero(1234567) == "1.234.567"


def test_a_chart_is_drawn_again_only_when_its_data_changes(seeded):
    d = build(seeded)
    first = charts.all_charts(d)
    assert charts.all_charts(d) == first == charts.all_charts(d, cached=False)  # the same data draws the same SVG
    d.flow.loc[0, "abiertas"] = 7  # another day's numbers: that chart only is drawn again
    again = charts.all_charts(d)
    assert again["flujo_necesidades"] != first["flujo_necesidades"]
    assert "se abrieron 9 necesidades" in again["flujo_necesidades"]
    assert {k for k in first if again[k] == first[k]} == set(first) - {"flujo_necesidades"}


def test_long_periods_are_drawn_by_week(seeded_any):
    # 70 days: weeks from Monday 28 September; the reading of 9 November now falls inside the period.
    d = build(seeded_any, dashboard.Period(date(2026, 10, 1), date(2026, 12, 9)))
    assert d.period.step == 7 and d.period.points[0] == date(2026, 9, 28)
    weekly = d.engagement_daily.set_index(["dia", "canal"])
    assert weekly.loc[(date(2026, 11, 2), "x")].tolist() == [300, 15]  # the week's last reading
    assert weekly.loc[(date(2026, 11, 9), "x")].tolist() == [999, 117]
    assert weekly.loc[(date(2026, 12, 7), "x")].tolist() == [999, 117]  # kept, not zero, after the last reading
    assert math.isnan(weekly.loc[(date(2026, 11, 9), "facebook"), "impresiones"])
    assert d.flow.columns[0] == "semana" and d.flow["abiertas"].sum() == 4  # D was opened on 20 October
    assert d.tables()["interaccion_por_dia"].columns[0] == "Semana del"
    assert charts.all_charts(d)["interaccion_por_dia"].count("<path") > 0


def test_a_fixed_number_of_statements_whatever_the_volume(seeded):
    from sqlalchemy import event

    def statements(period) -> int:
        seen = []
        with seeded.session() as s:
            bind = s.get_bind()
            listener = lambda *a, **k: seen.append(a[2])  # noqa: E731 - (conn, cursor, statement, ...)
            event.listen(bind, "before_cursor_execute", listener)
            try:
                dashboard.build(s, period, now=NOW)
            finally:
                event.remove(bind, "before_cursor_execute", listener)
        return len([q for q in seen if q.lstrip().upper().startswith(("SELECT", "WITH"))])

    week = statements(WEEK)
    assert week == 7  # publications, last readings, series, needs, audit trail, decisions, waiting needs
    assert statements(dashboard.Period(date(2026, 1, 1), date(2026, 12, 31))) == week


def test_the_tablero_imports_no_airflow_and_no_gui(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, datetime, pandas as pd, cvp.dashboard as D, cvp.charts as C, cvp.dashboard_tables; "
        "d = D.Dashboard(D.Period(datetime.date(2026, 11, 2), datetime.date(2026, 11, 8)), D.Filters(), "
        "datetime.datetime.now(datetime.UTC), pd.DataFrame(columns=['dia', 'canal', 'impresiones', 'interacciones']), "
        "pd.DataFrame(columns=['canal', 'publicaciones']), pd.DataFrame(), "
        "pd.DataFrame({'dia': [datetime.date(2026, 11, 2)], 'abiertas': [1], 'publicadas': [0], 'canceladas': [0]}), "
        "durations=pd.DataFrame(columns=['tramo', 'actividad', 'necesidades', 'mediana_horas', 'p90_horas']), "
        "rounds=pd.DataFrame({'punto_control': [7], 'que_se_revisa': ['Texto'], 'revisiones': [0], "
        "'aprobadas': [0], 'devueltas': [0]}), "
        "waiting=pd.DataFrame({'rol': ['jefe_oac'], 'total': [0]})); C.all_charts(d); "
        "print([m for m in sys.modules if m.startswith('airflow') or m in ('matplotlib.pyplot', 'tkinter', 'PyQt5')])"
    )
    env = {"PATH": "/usr/bin:/bin", "MPLCONFIGDIR": str(tmp_path), "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
