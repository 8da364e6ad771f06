"""The Red Distrital's agenda of joint actions: every row validated, bad ones reported, each action recorded once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cvp import joint_actions as J
from cvp.errors import Conflict, InvalidInput, PermissionDenied

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "include" / "ejemplos" / "red_distrital_agenda.csv"
HEADER = "fecha,entidad,tema,hashtag,mensaje_sugerido,enlace,publicacion_a_amplificar,canales\n"
GOOD = (
    "2026-12-01,Secretaría del Hábitat,Feria de vivienda,#BogotáCuidadora,Ven a la feria,"
    'https://habitat.gov.co/feria,https://x.com/Habitat/status/111,"x,facebook"\n'
)
DAY = date(2026, 12, 1)


def test_good_rows_are_read_with_their_fields():
    agenda = J.parse_csv(HEADER + GOOD + "2026-12-01,IDU,Obras,Obras2026,,,https://x.com/IDU/status/222,Twitter\n")
    assert agenda.problems == []
    first, second = agenda.rows
    assert (first.day, first.entity, first.theme, first.hashtag) == (
        DAY,
        "Secretaría del Hábitat",
        "Feria de vivienda",
        "#BogotáCuidadora",
    )
    assert first.channels == ("x", "facebook") and first.line == 2
    assert second.hashtag == "#Obras2026" and second.channels == ("x",) and second.line == 3


def test_every_bad_row_is_reported_with_its_line_and_reason_and_the_good_ones_are_kept():
    text = (
        HEADER
        + GOOD
        + "mañana,IDU,Obras,#Obras,Mensaje,,,x\n"  # 3: date
        + "2026-12-01,,Obras,#Obras,Mensaje,,,x\n"  # 4: entity
        + "2026-12-01,IDU,Obras,#con espacio,Mensaje,ftp://no-web,,x\n"  # 5: hashtag and link
        + "2026-12-01,IDU,Obras,#Obras,,,,x\n"  # 6: nothing to post
        + "2026-12-01,IDU,Obras,#Obras,Mensaje,,,tiktok\n"  # 7: channel
        + "2026-12-01,IDU,Obras,#Obras,Mensaje,,,\n"  # 8: no channel
        + "2026-12-01,IDU,Obras,#Obras,Mensaje,,,x,sobra\n"  # 9: one cell too many
        + "2026-12-01,IDU,Obras,#Obras,"
        + "Largo " * 50
        + ",,,x\n"  # 10: too long for X
    )
    agenda = J.parse_csv(text)
    assert [r.line for r in agenda.rows] == [2]
    reasons = {p.line: p.reason for p in agenda.problems}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "fecha «mañana» no es válida" in reasons[3]
    assert "falta la entidad" in reasons[4]
    assert "hashtag «#con espacio» no es válido" in reasons[5] and "no es una dirección web" in reasons[5]
    assert "nada que publicar" in reasons[6]
    assert "«tiktok» no admite acciones conjuntas" in reasons[7]
    assert "no indica canales" in reasons[8]
    assert "más celdas que columnas" in reasons[9]
    assert "ocupa 306 caracteres ponderados y X admite 280" in reasons[10]
    assert str(agenda.problems[0]).startswith("Línea 3: ")


def test_a_row_repeated_in_the_agenda_is_reported_and_kept_once():
    agenda = J.parse_csv(HEADER + GOOD + GOOD.replace('"x,facebook"', '"facebook,x"'))
    assert len(agenda.rows) == 1
    assert [str(p) for p in agenda.problems] == ["Línea 3: repite la acción de la línea 2; se registra una vez."]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "la agenda está vacía"),
        (HEADER, "no trae ninguna acción"),
        ("fecha,entidad\n2026-12-01,IDU\n", "faltan las columnas: tema, hashtag"),
    ],
)
def test_an_empty_or_headless_agenda_says_so(text, reason):
    agenda = J.parse_csv(text)
    assert agenda.rows == [] and reason in agenda.problems[0].reason


def test_json_and_sheet_values_are_validated_the_same_way():
    rows = [
        {
            "fecha": "2026-12-01",
            "entidad": "IDU",
            "tema": "Obras",
            "hashtag": "#Obras",
            "mensaje_sugerido": "Avanzan las obras",
            "enlace": "",
            "publicacion_a_amplificar": "",
            "canales": ["x"],
        },
        "no soy un objeto",
    ]
    agenda = J.parse_json({"acciones": rows})
    assert [r.entity for r in agenda.rows] == ["IDU"]
    assert [str(p) for p in agenda.problems] == ["Línea 2: no es una fila con columnas (se esperaba un objeto)."]
    assert J.parse_json({"acciones": []}).problems[0].reason == "la agenda no trae ninguna acción."
    assert "no trae una lista" in J.parse_json({"otra": 1}).problems[0].reason
    header = HEADER.strip().split(",")
    sheet = {
        "range": "Agenda!A1:H3",
        "majorDimension": "ROWS",
        "values": [
            header,
            ["2026-12-01", "IDU", "Obras", "#Obras", "Avanzan las obras", "", "", "x"],
            ["2026-12-01", "IDU"],
        ],
    }
    agenda = J.parse_sheet_values(sheet)
    assert [r.line for r in agenda.rows] == [2] and agenda.problems[0].line == 3
    assert "vacía" in J.parse_sheet_values({"range": "Agenda!A1:H1"}).problems[0].reason


def test_a_json_file_with_a_syntax_error_names_its_line(tmp_path):
    bad = tmp_path / "agenda.json"
    bad.write_text('{"acciones": [\n{"fecha": }\n]}', encoding="utf-8")
    [problem] = J.read_file(bad).problems
    assert problem.line == 2 and "JSON no es válido" in problem.reason


def test_the_sample_agenda_is_valid_and_dated_with_the_day():
    agenda = J.read_sample(SAMPLE, date(2030, 5, 6))
    assert agenda.problems == [] and len(agenda.rows) == 3
    assert {r.day for r in agenda.rows} == {date(2030, 5, 6)}


def test_recording_twice_creates_nothing_twice_and_keeps_the_refused_rows(office):
    agenda = J.parse_csv(HEADER + GOOD + "2026-12-01,,Obras,#Obras,Mensaje,,,x\n")
    first = J.record_agenda(office, agenda, DAY, "prueba.csv")
    assert len(first.created) == 1 and first.existing == 0
    again = J.record_agenda(office, J.parse_csv(HEADER + GOOD), DAY, "prueba.csv")
    assert again.created == [] and again.existing == 1
    [view] = J.actions_of_day(office, DAY)
    assert view.action.entity == "Secretaría del Hábitat" and view.status is None and view.status_name == "Pendiente"
    loads = J.loads_of_day(office, DAY)
    assert [(lo.created, lo.existing) for lo in loads] == [(1, 0), (0, 1)]
    assert loads[0].problems == [{"linea": 3, "motivo": "falta la entidad."}]


def test_what_each_channel_would_post():
    agenda = J.read_sample(SAMPLE, DAY)
    repost, quote_share, share = agenda.rows
    assert [(p.channel, p.mode, p.target) for p in J.plans(repost)] == [("x", J.REPOST, "1863000000000000001")]
    x, fb = J.plans(quote_share)
    assert x.mode == J.QUOTE and x.text.endswith("#BogotáCuidadora") and x.target == "1863000000000000002"
    assert fb.mode == J.SHARE and fb.target == quote_share.post_url
    no_post = J.replace(quote_share, post_url="", channels=("x", "facebook"))
    x, fb = J.plans(no_post)
    assert x.mode == fb.mode == J.MESSAGE
    assert (
        x.text
        == "Este sábado la Feria de Vivienda abre sus puertas: conoce los subsidios para tu hogar. #BogotáCuidadora https://www.habitatbogota.gov.co/feria"
    )
    assert fb.target == no_post.link
    assert J.with_hashtag("Ya con #bogotácuidadora", "#BogotáCuidadora") == "Ya con #bogotácuidadora"


def test_only_the_head_decides_once_and_a_decline_needs_a_reason(office):
    J.record_agenda(office, J.read_sample(SAMPLE, DAY), DAY, "ejemplo")
    a, b, c = (v.action.id for v in J.actions_of_day(office, DAY))
    with pytest.raises(PermissionDenied):
        J.decide(office, "profesional", a, J.JOIN)
    with pytest.raises(InvalidInput, match="motivo"):
        J.decide(office, "jefe", b, J.DECLINE, "  ")
    with pytest.raises(InvalidInput, match="no reconocida"):
        J.decide(office, "jefe", b, "quizas")
    out = J.decide(office, "jefe", a, J.JOIN)
    assert out.decision.decided_by == "jefe" and out.decision.decided_at is not None and not out.already_recorded
    assert J.decide(office, "jefe", a, J.JOIN).already_recorded
    with pytest.raises(Conflict, match="no se cambia"):
        J.decide(office, "jefe", a, J.DECLINE, "tarde")
    J.decide(office, "jefe", b, J.DECLINE, "No corresponde a la misionalidad de la CVP")
    statuses = {v.action.id: (v.status, v.decision and v.decision.reason) for v in J.actions_of_day(office, DAY)}
    assert statuses == {a: (J.JOIN, ""), b: (J.DECLINE, "No corresponde a la misionalidad de la CVP"), c: (None, None)}
    assert [v.action.id for v in J.waiting(office, today=DAY)] == [c]
    assert J.waiting(office, today=date(2026, 12, 2)) == []


def test_a_recorded_decision_cannot_be_changed_in_the_database(office):
    from sqlalchemy import text

    J.record_agenda(office, J.read_sample(SAMPLE, DAY), DAY, "ejemplo")
    first = J.actions_of_day(office, DAY)[0].action.id
    J.decide(office, "jefe", first, J.JOIN)
    with pytest.raises(Exception, match="no se modifica"), office.session() as s:
        s.execute(text("UPDATE joint_action_decisions SET decision = 'declinar'"))


def test_an_adapted_action_fills_a_one_off_need(office):
    from cvp.needs import parse_need

    J.record_agenda(office, J.read_sample(SAMPLE, DAY), DAY, "ejemplo")
    a = J.actions_of_day(office, DAY)[1].action
    conf = J.need_conf(a, today=DAY)
    need = parse_need(conf, today=DAY)
    assert need.one_off and list(need.channels) == ["x", "facebook"] and "Feria de vivienda" in need.title
    assert "#BogotáCuidadora" in need.description and json.dumps(conf)
    assert J.need_run_id(a) == f"red_distrital_adaptar__{a.id}"


def test_recorded_once_and_decisions_kept_on_both_databases(records_url):
    from sqlalchemy import text

    from cvp.office import Office

    office = Office(records_url)
    agenda = J.read_sample(SAMPLE, DAY)
    assert len(J.record_agenda(office, agenda, DAY, "ejemplo").created) == 3
    assert J.record_agenda(office, agenda, DAY, "ejemplo").existing == 3
    first = J.actions_of_day(office, DAY)[0].action.id
    J.decide(office, "jefe", first, J.DECLINE, "No aplica")
    for statement in ("UPDATE joint_action_decisions SET reason = 'otro'", "DELETE FROM joint_action_decisions"):
        with pytest.raises(Exception, match="decisión registrada"), office.session() as s:
            s.execute(text(statement))
    assert J.action(office, first).decision.reason == "No aplica"


def test_migration_0009_goes_down_and_up_again(records_url):
    from alembic import command

    from cvp.records.db import alembic_config, current_revision, engine_for, migrate

    head = current_revision(records_url)
    command.downgrade(alembic_config(records_url), "0008")
    assert current_revision(records_url) == "0008"
    migrate(records_url)
    assert current_revision(records_url) == head
    engine_for(records_url).dispose()
