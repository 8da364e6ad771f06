"""Period reports built from records made through the Office's actions, as the procedure makes them."""

from __future__ import annotations

import email
import email.policy
import io
import statistics
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from cvp import engagement, metrics, publishing, reports
from cvp import procedure as P
from cvp.config import TIMEZONE
from cvp.errors import InvalidInput
from cvp.records.models import Need, Report
from tests.conftest import NEED, ONE_OFF, tiny_png
from tests.unit.test_engagement import Fixed, Platform
from tests.unit.test_office import TEXTS

TITLE_B = 'Obras en Usme <script>alert("x")</script> & "Cía"'


def today() -> date:
    return datetime.now(TIMEZONE).date()


def run_need(
    office, run_id: str, *, title: str = NEED["titulo"], returns_at_7: int = 0, late: bool = False, remote: str = ""
) -> int:
    """A need through activities 1 to 14 on X and Facebook, with its metrics logged at the end."""
    need = office.register_need(dict(ONE_OFF, titulo=title), "jefe", run_id=run_id)
    if late:  # the form refuses past deadlines, so the deadline passes while the piece is in production
        with office.session() as s:
            s.get(Need, need.id).deadline = today() - timedelta(days=1)
    for _ in range(returns_at_7):
        text = office.submit_text(need.id, "profesional", TEXTS)
        office.decide(need.id, text.id, 7, P.REJECTED, "jefe", "Precisar la cifra de títulos.")
    text = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, text.id, 7, P.APPROVED, "jefe")
    design = office.submit_design(need.id, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need.id, design.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need.id)
    publishing.publish_once(
        office, Platform("x", f"18940{remote}", f"https://x.com/CVPBogota/status/18940{remote}"), need.id, "x"
    )
    publishing.publish_once(
        office, Platform("facebook", f"104_{remote}", f"https://www.facebook.com/104_{remote}"), need.id, "facebook"
    )
    metrics.log_metrics(office, need.id)
    return need.id


SINCE = datetime.now(UTC) - timedelta(days=35)


@pytest.fixture
def out():
    """The reports' folder in the office's store (files are kept as store keys, not local paths)."""
    return "informes"


@pytest.fixture
def period(office):
    """Two needs published today: one on time on the first round, one late after a return at control point 7."""
    a = run_need(office, "ra", remote="1")
    b = run_need(office, "rb", title=TITLE_B, returns_at_7=1, late=True, remote="2")
    # An older reading, then the latest one: the report must use the latest.
    engagement.collect(
        office, {"x": Fixed("x", impresiones=10, reacciones=1), "facebook": Fixed("facebook", reacciones=1)}, SINCE
    )
    engagement.collect(
        office,
        {
            "x": Fixed("x", impresiones=1000, reacciones=40, comentarios=3, compartidos=7),
            "facebook": Fixed("facebook", impresiones=None, reacciones=25, comentarios=4, compartidos=6),
        },
        SINCE,
    )
    return a, b


def test_report_numbers(office, period, out):
    a, b = period
    report = reports.build_report(office, today(), today(), out)

    d = report.data
    assert report.kind == reports.CUSTOM and d["publicaciones"] == 4 and d["publicaciones_con_metricas"] == 4
    channels = {c["canal"]: c for c in d["por_canal"]}
    assert [c["canal"] for c in d["por_canal"]] == ["x", "facebook"]
    assert channels["x"]["publicaciones"] == 2
    assert (channels["x"]["impresiones"], channels["x"]["reacciones"], channels["x"]["compartidos"]) == (2000, 80, 14)
    assert channels["facebook"]["impresiones"] is None  # the platform gave none: not zero
    assert channels["facebook"]["reacciones"] == 50 and channels["facebook"]["comentarios"] == 8
    needs = {n["necesidad"]: n for n in d["por_necesidad"]}
    assert needs[b]["titulo"] == TITLE_B and needs[b]["canales"] == ["x", "facebook"]
    assert needs[a]["reacciones"] == 65 and needs[a]["impresiones"] == 1000

    o = d["oportunidad"]
    assert (o["necesidades_publicadas"], o["a_tiempo"], o["fuera_de_plazo"], o["porcentaje_a_tiempo"]) == (
        2,
        1,
        1,
        50.0,
    )
    assert o["rondas_control"] == {"7": 3, "12": 2} and o["devoluciones_control"] == {"7": 1, "12": 0}
    assert o["promedio_rondas_control"] == {"7": 1.5, "12": 1.0} and o["necesidades_con_devoluciones"] == 1
    logged = [doc.data for n in (a, b) for doc in office.documents(n) if doc.kind == "metricas"]
    for act in ("5", "7", "12", "14"):
        expected = statistics.median(m["tiempo_por_actividad_segundos"][act] for m in logged) / 3600
        assert o["mediana_por_actividad_horas"][act] == round(expected, 2)
    assert o["mediana_tiempo_total_horas"] == round(statistics.median(m["tiempo_total_horas"] for m in logged), 2)
    assert {n["necesidad"]: n["a_tiempo"] for n in d["necesidades"]} == {a: True, b: False}

    with office.session() as s:
        [row] = s.scalars(select(Report))
    assert row.id == report.id and row.data == d and row.files == report.files


def test_html_is_spanish_and_escapes_user_text(office, period, out):
    report = reports.build_report(office, today(), today(), out)
    html_path = next(f for f in report.files if f.endswith(".html"))
    page = office.storage.read_text(html_path)
    assert '<html lang="es">' in page and "Interacción por canal" in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Cía&#34;" in page
    assert "<script>" not in page
    assert f"del {today().day} de {reports.fecha(today()).split(' de ', 1)[1]}" in page  # Bogotá date in words
    assert "2.000" in page  # Spanish thousands separator
    assert "7. Revisar los contenidos" in page and "50,0 %" in page


def test_csv_opens_with_pandas_for_excel(office, period, out):
    a, b = period
    report = reports.build_report(office, today(), today(), out)
    csv_path = next(f for f in report.files if f.endswith(".csv"))
    assert office.storage.read_bytes(csv_path)[:3] == b"\xef\xbb\xbf"  # BOM: Excel reads UTF-8

    frame = pd.read_csv(io.BytesIO(office.storage.read_bytes(csv_path)), sep=";", encoding="utf-8-sig")
    assert list(frame.columns) == reports.CSV_COLUMNS
    assert len(frame) == 4
    late = frame[frame["necesidad"] == b]
    assert set(late["titulo"]) == {TITLE_B} and set(late["a_tiempo"]) == {"no"}
    assert set(frame[frame["necesidad"] == a]["a_tiempo"]) == {"sí"}
    x_row = frame[(frame["necesidad"] == a) & (frame["canal"] == "X (Twitter)")].iloc[0]
    assert (x_row["impresiones"], x_row["reacciones"]) == (1000, 40) and pd.isna(x_row["alcance"])
    assert frame[frame["canal"] == "Facebook"]["impresiones"].isna().all()  # empty cell, not zero
    assert x_row["url"] == "https://x.com/CVPBogota/status/189401"
    assert x_row["publicado_en"].startswith(today().isoformat())  # Bogotá wall time


def test_csv_cells_never_become_formulas(office, out):
    need = run_need(office, "rf", title='=HIPERVINCULO("http://x.test";"Entrega")', remote="9")
    report = reports.build_report(office, today(), today(), out)
    frame = pd.read_csv(io.BytesIO(office.storage.read_bytes(report.files[1])), sep=";", encoding="utf-8-sig")
    assert set(frame[frame["necesidad"] == need]["titulo"]) == {'\'=HIPERVINCULO("http://x.test";"Entrega")'}


def test_rebuild_replaces_the_same_row_and_does_not_resend(office, period, out):
    first = reports.build_report(office, today(), today(), out, kind=reports.WEEKLY)
    assert reports.send_report(office, first.id, office.mailer) is True

    engagement.collect(office, {"x": Fixed("x", impresiones=5000, reacciones=90)}, SINCE)
    again = reports.build_report(office, today(), today(), out, kind=reports.WEEKLY)

    assert again.id == first.id and again.files == first.files
    assert {c["canal"]: c["impresiones"] for c in again.data["por_canal"]}["x"] == 10000
    assert "correo" in again.data  # the mail already sent is remembered across rebuilds
    assert reports.send_report(office, again.id, office.mailer) is False
    with office.session() as s:
        assert len(list(s.scalars(select(Report)))) == 1
    assert len(list(office.cfg.mailbox_dir.glob("*.eml"))) == 1
    assert sorted(k.rsplit("/", 1)[1] for k in office.storage.list(out)) == sorted(
        p.rsplit("/", 1)[1] for p in first.files
    )


def test_the_mail_goes_to_the_head_with_summary_and_files(office, period, out):
    report = reports.build_report(office, today(), today(), out, kind=reports.MONTHLY)
    assert reports.send_report(office, report.id, office.mailer)

    [eml] = office.cfg.mailbox_dir.glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "jefe.oac@cajaviviendapopular.gov.co"
    assert msg["Subject"].startswith("Informe mensual de interacción y oportunidad de la OAC")
    body = msg.get_content()
    assert "Necesidades publicadas: 2; a tiempo: 1; fuera de la fecha límite: 1 (50,0 % a tiempo)" in body
    assert "- X (Twitter): 2 publicación(es); impresiones 2.000; reacciones 80" in body
    assert all(f in body for f in report.files)
    with office.session() as s:
        sent = s.get(Report, report.id).data["correo"]
    assert sent["destinatarios"] == ["jefe.oac@cajaviviendapopular.gov.co"] and sent["enviado_en"]


def test_without_an_address_for_the_head_nothing_is_sent(office, period, out):
    report = reports.build_report(office, today(), today(), out)
    with pytest.raises(InvalidInput, match="jefe_oac"):
        reports.send_report(office, report.id, office.mailer, recipients=[])
    with office.session() as s:
        assert "correo" not in s.get(Report, report.id).data


def test_a_period_without_publications(office, out):
    report = reports.build_report(office, date(2026, 11, 9), date(2026, 11, 15), out)
    assert report.kind == reports.WEEKLY
    assert report.data["publicaciones"] == 0 and report.data["por_canal"] == []
    assert report.data["oportunidad"]["necesidades_publicadas"] == 0
    assert report.data["oportunidad"]["porcentaje_a_tiempo"] is None
    page = office.storage.read_text(report.files[0])
    assert "No hubo publicaciones en el periodo." in page
    assert (
        list(pd.read_csv(io.BytesIO(office.storage.read_bytes(report.files[1])), sep=";", encoding="utf-8-sig").columns)
        == reports.CSV_COLUMNS
    )


def test_publications_outside_the_period_are_not_counted(office, period, out):
    yesterday = today() - timedelta(days=1)
    report = reports.build_report(office, yesterday, yesterday, out)
    assert report.data["publicaciones"] == 0 and report.data["oportunidad"]["necesidades_publicadas"] == 0


def test_the_running_month_is_kept_once(office, out):
    first = reports.build_report(office, date(2026, 11, 1), date(2026, 11, 5), out, kind=reports.RUNNING)
    later = reports.build_report(office, date(2026, 11, 1), date(2026, 11, 6), out, kind=reports.RUNNING)
    with office.session() as s:
        rows = list(s.scalars(select(Report)))
    assert [r.id for r in rows] == [later.id] and later.id != first.id
    assert sorted(k.rsplit("/", 1)[1] for k in office.storage.list(out)) == sorted(
        p.rsplit("/", 1)[1] for p in later.files
    )


def test_a_period_that_ends_before_it_starts_is_refused(office, out):
    with pytest.raises(InvalidInput, match="antes de empezar"):
        reports.build_report(office, date(2026, 11, 5), date(2026, 11, 4), out)


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2026, 11, 16), [(reports.WEEKLY, date(2026, 11, 9), date(2026, 11, 15))]),
        (date(2026, 12, 1), [(reports.MONTHLY, date(2026, 11, 1), date(2026, 11, 30))]),
        (
            date(2026, 6, 1),
            [
                (reports.WEEKLY, date(2026, 5, 25), date(2026, 5, 31)),
                (reports.MONTHLY, date(2026, 5, 1), date(2026, 5, 31)),
            ],
        ),
        (
            date(2027, 3, 1),
            [
                (reports.WEEKLY, date(2027, 2, 22), date(2027, 2, 28)),
                (reports.MONTHLY, date(2027, 2, 1), date(2027, 2, 28)),
            ],
        ),
        (date(2026, 11, 18), [(reports.RUNNING, date(2026, 11, 1), date(2026, 11, 18))]),
    ],
)
def test_which_reports_are_due(day, expected):
    assert [(p.kind, p.start, p.end) for p in reports.periods_for(day)] == expected


def test_kind_of_a_period():
    assert reports.kind_of(date(2026, 11, 9), date(2026, 11, 15)) == reports.WEEKLY
    assert reports.kind_of(date(2026, 2, 1), date(2026, 2, 28)) == reports.MONTHLY
    assert reports.kind_of(date(2026, 2, 1), date(2026, 3, 31)) == reports.CUSTOM


def test_spanish_numbers():
    assert reports.numero(1234567) == "1.234.567"
    assert reports.numero(2.5, 1) == "2,5"
    assert reports.numero(None) == "—"
    assert reports.porcentaje(66.66) == "66,7 %"


def test_collection_and_rebuild_on_sqlite_and_postgresql(records_url, out):
    from cvp.mail import MailboxMailer
    from cvp.office import Office

    office = Office(records_url)
    office.mailer = MailboxMailer(office.cfg.mailbox_dir)
    run_need(office, "rp", remote="7")
    assert (
        engagement.collect(office, {"x": Fixed("x", reacciones=3), "facebook": Fixed("facebook", reacciones=4)}, SINCE)
        == 2
    )
    first = reports.build_report(office, today(), today(), out, kind=reports.WEEKLY)
    assert reports.send_report(office, first.id, office.mailer)
    again = reports.build_report(office, today(), today(), out, kind=reports.WEEKLY)
    assert again.id == first.id and again.data["correo"]["destinatarios"] == ["jefe.oac@cajaviviendapopular.gov.co"]
    assert {c["canal"]: c["reacciones"] for c in again.data["por_canal"]} == {"x": 3, "facebook": 4}
    assert reports.send_report(office, again.id, office.mailer) is False
