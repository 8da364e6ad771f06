"""Activity 1 belongs to the head: anyone else's request is refused and recorded; a run changed from Airflow is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cvp import procedure as P
from cvp.errors import PermissionDenied
from cvp.records.models import Need, Publication
from tests.conftest import NEED


@pytest.mark.parametrize("who", ["tecnico", "profesional", "admin", "lector", "desconocido"])
def test_only_the_head_opens_a_need_and_a_refusal_is_recorded(office, who):
    with pytest.raises(PermissionDenied, match="Jefe OAC"):
        office.register_need(NEED, who, run_id=f"r-{who}")
    with office.session() as s:
        assert s.scalar(select(Need).where(Need.run_id == f"r-{who}")) is None
    [refused] = office.refused_needs()
    assert (refused.run_id, refused.requested_by, refused.title) == (f"r-{who}", who, NEED["titulo"])
    assert "No se creó ninguna necesidad" in refused.reason or "no está en el equipo" in refused.reason


def test_a_retried_refusal_is_recorded_once_and_the_head_still_opens(office):
    for _ in range(2):
        with pytest.raises(PermissionDenied):
            office.check_opener("tecnico", "r-1", NEED)
    assert len(office.refused_needs()) == 1
    assert office.register_need(NEED, "jefe", run_id="r-2").requested_by == "jefe"
    assert office.register_need(NEED, P.SYSTEM, run_id="r-3").requested_by == P.SYSTEM  # a run with no person


def test_the_team_file_may_allow_someone_else_to_open_needs(office, tmp_path, monkeypatch):
    team = tmp_path / "equipo.yml"
    team.write_text(
        "usuarios:\n  jefe: {rol: jefe_oac}\n"
        "  profesional: {rol: profesional, abre_necesidades: true}\n  tecnico: {rol: tecnico}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CVP_TEAM_FILE", str(team))
    from cvp.office import Office

    o = Office(office.url)
    assert o.register_need(NEED, "profesional", run_id="r-p").requested_by == "profesional"
    with pytest.raises(PermissionDenied):
        o.register_need(NEED, "tecnico", run_id="r-t")


def test_a_run_failed_from_airflow_cancels_the_need_with_who_did_it(office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    changed = office.record_run_change("r-1", "failed", "admin")
    assert changed.status == "cancelada"
    again = office.record_run_change("r-1", "failed", "admin")  # the same change heard twice
    events = [e for e in office.events(need.id) if e.action.startswith("ejecucion_")]
    assert again.id == need.id and len(events) == 1
    assert events[0].actor == "admin" and "marcó como fallida" in events[0].summary
    assert "cancelada sin publicar" in events[0].summary
    assert office.record_run_change("otra", "success", "admin") is None


def test_a_run_marked_successful_after_publication_keeps_the_need_published(office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    with office.session() as s:
        s.get(Need, need.id).status = "publicada"
    office.record_run_change("r-1", "success", "jefe")
    assert office.need(need.id).status == "publicada"
    [event] = [e for e in office.events(need.id) if e.action == "ejecucion_exitosa_en_airflow"]
    assert "ya estaba publicada" in event.summary
    with office.session() as s:
        assert s.scalar(select(Publication.id).where(Publication.need_id == need.id)) is None


def test_only_the_head_or_whoever_opens_needs_may_change_a_need_run_from_airflow(office, tmp_path, monkeypatch):
    office.check_run_changer("jefe")
    for who, words in [("profesional", "rol Profesional"), ("admin", "rol Consulta"), ("nadie", "no está en el")]:
        with pytest.raises(PermissionDenied, match="corresponde a la Jefe OAC") as refused:
            office.check_run_changer(who)
        assert words in str(refused.value) and "No se cambió nada" in str(refused.value)
    team = tmp_path / "equipo.yml"
    team.write_text("usuarios:\n  jefe: {rol: jefe_oac}\n  admin: {rol: lector, abre_necesidades: true}\n", "utf-8")
    monkeypatch.setenv("CVP_TEAM_FILE", str(team))
    from cvp.office import Office

    Office(office.url).check_run_changer("admin")


def test_task_changes_and_clears_from_airflow_are_recorded_each_time_without_closing_the_need(office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    office.record_run_change("r-1", "success", "jefe", ("revisar_diseno",))
    office.record_run_change("r-1", "cleared", "jefe")
    office.record_run_change("r-1", "cleared", "jefe")
    office.record_run_change("r-1", "skipped", "jefe", ["reunion_equipo", "definir_contenidos"])
    task, clear, again, skipped = [e for e in office.events(need.id) if "airflow" in e.action]
    assert (task.action, task.activity, task.detail["tareas"]) == ("tarea_exitosa_en_airflow", 12, ["revisar_diseno"])
    assert task.summary == (
        "jefe marcó la tarea «revisar_diseno» como exitosa desde Airflow (la necesidad sigue en curso)."
    )
    assert clear.action == again.action == "ejecucion_limpiada_en_airflow"
    assert "limpió la ejecución (sus tareas vuelven a ejecutarse)" in clear.summary
    assert "marcó las tareas «reunion_equipo», «definir_contenidos» como omitidas" in skipped.summary
    assert skipped.activity == 2
    assert office.need(need.id).status == "en_curso"


def test_a_run_deleted_from_airflow_cancels_the_need(office):
    need = office.register_need(NEED, "jefe", run_id="r-1")
    office.record_run_change("r-1", "deleted", "jefe")
    [event] = [e for e in office.events(need.id) if e.action == "ejecucion_eliminada_en_airflow"]
    assert event.summary == "jefe eliminó la ejecución desde Airflow: la necesidad queda cancelada sin publicar."
    assert office.need(need.id).status == "cancelada" and event.detail["cierra"] is True
