"""The waiting line in the forms: needs held back by CVP_MAX_ACTIVE_NEEDS, read from Airflow's own database.

Web tests have no Airflow database; here each test gets one (SQLite, the tables the line reads)
seeded with runs of necesidad_comunicacion, and Airflow's session factory points at it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, event, insert
from sqlalchemy.orm import scoped_session, sessionmaker

from cvp_airflow.web import waiting_line as wl

DAG_ID = "necesidad_comunicacion"
LONG_AGO = datetime.now(UTC) - timedelta(minutes=5)


class AirflowDb:
    """Airflow's metadata database for one test, with a counter of the statements it runs."""

    def __init__(self, engine):
        self.engine = engine
        self.statements = self.seeded = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args, **_kw):
        self.statements += 1

    def register(self, limit: int, dag_id: str = DAG_ID) -> None:
        from airflow.models.dag import DagModel

        with self.engine.begin() as conn:
            conn.execute(
                insert(DagModel.__table__).values(
                    dag_id=dag_id,
                    bundle_name="dags-folder",
                    max_active_runs=limit,
                    max_active_tasks=16,
                    max_consecutive_failed_dag_runs=0,
                    has_task_concurrency_limits=False,
                )
            )

    def runs(self, state: str, count: int, *, queued_at: datetime = LONG_AGO, dag_id: str = DAG_ID) -> None:
        from airflow.models.dagrun import DagRun

        start, first = self.statements, self.seeded
        self.seeded += count
        with self.engine.begin() as conn:
            conn.execute(
                insert(DagRun.__table__),
                [
                    dict(
                        dag_id=dag_id,
                        run_id=f"r{first + i}",
                        run_type="manual",
                        state=state,
                        queued_at=queued_at,
                        run_after=queued_at,
                        logical_date=None,
                        data_interval_end=None,
                    )
                    for i in range(count)
                ],
            )
        self.statements = start  # seeding is not the line's cost


@pytest.fixture
def airflow_db(tmp_path, monkeypatch):
    from airflow import settings
    from airflow.models.base import Base
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.tasklog import LogTemplate

    engine = create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    Base.metadata.create_all(engine, tables=[DagModel.__table__, DagRun.__table__, LogTemplate.__table__])
    monkeypatch.setattr(settings, "Session", scoped_session(sessionmaker(bind=engine, expire_on_commit=False)))
    monkeypatch.setattr(wl, "_broker_cache", {})
    monkeypatch.setenv("CVP_QUEUE_GRACE_SECONDS", "30")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    db = AirflowDb(engine)
    yield db
    settings.Session.remove()
    engine.dispose()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_needs_held_back_by_the_cap_are_counted_and_explained_in_the_forms(web, airflow_db):
    airflow_db.register(limit=2)
    airflow_db.runs("running", 2)
    airflow_db.runs("queued", 3)
    airflow_db.runs("queued", 1, queued_at=datetime.now(UTC))  # just triggered: on its way, not held back
    airflow_db.runs("success", 4)
    airflow_db.runs("queued", 5, dag_id="red_distrital_diaria")  # another DAG's line is not the needs'

    r = web.as_("lector").get("/cvp/api/cola")
    assert r.status_code == 200, r.text
    line = r.json()
    assert (line["conocida"], line["en_cola"], line["en_curso"], line["maximo"], line["retenidas"]) == (
        True,
        3,
        2,
        2,
        True,
    )
    assert line["desde"].startswith(LONG_AGO.strftime("%Y-%m-%dT%H:%M"))
    assert line["intermediario"] is None
    sentence = (
        "3 necesidades esperan para empezar: hay 2 necesidades en curso y el máximo configurado es 2 "
        "(variable CVP_MAX_ACTIVE_NEEDS). Empezarán solas, en orden de llegada, a medida que otras "
        "terminen o se cancelen."
    )
    assert line["mensaje"] == sentence

    for user, path in (("jefe", "/cvp/"), ("profesional", "/cvp/"), ("lector", "/cvp/necesidades")):
        page = web.as_(user).get(path)
        assert page.status_code == 200, (path, page.text[-500:])
        assert "data-cola" in page.text, path
        shown = text_of(page.text)
        assert f"Necesidades en cola. {sentence} La más antigua espera desde" in shown, path
        assert "data-cola-desconocida" not in page.text and "data-intermediario" not in page.text


def test_one_need_waiting_is_said_in_the_singular(web, airflow_db):
    airflow_db.register(limit=1)
    airflow_db.runs("running", 1)
    airflow_db.runs("queued", 1)
    assert (
        web.as_("lector")
        .get("/cvp/api/cola")
        .json()["mensaje"]
        .startswith("1 necesidad espera para empezar: hay 1 necesidades en curso y el máximo configurado es 1 ")
    )


def test_under_the_cap_nothing_is_held_back_and_the_forms_say_nothing(web, airflow_db):
    airflow_db.register(limit=500)
    airflow_db.runs("running", 7)
    airflow_db.runs("queued", 2)  # queued for minutes with room left: not the cap's doing
    line = web.as_("lector").get("/cvp/api/cola").json()
    assert (line["conocida"], line["en_cola"], line["en_curso"], line["maximo"]) == (True, 2, 7, 500)
    assert line["retenidas"] is False and line["mensaje"] is None
    for user, path in (("jefe", "/cvp/"), ("lector", "/cvp/necesidades")):
        html = web.as_(user).get(path).text
        assert "data-cola" not in html and "Necesidades en cola" not in html


def test_the_line_is_read_with_the_same_statements_whatever_its_length(web, airflow_db):
    airflow_db.register(limit=2)
    airflow_db.runs("running", 2)
    airflow_db.runs("queued", 1)
    web.as_("lector").get("/cvp/api/cola")  # warm
    costs = {}
    for queued in (1, 300):
        if queued > 1:
            airflow_db.runs("queued", queued - 1)
            airflow_db.runs("running", 100)
        for user, path in (("lector", "/cvp/api/cola"), ("jefe", "/cvp/"), ("lector", "/cvp/necesidades")):
            airflow_db.statements = 0
            r = web.as_(user).get(path)
            assert r.status_code == 200, r.text[-500:]
            costs[queued, path] = airflow_db.statements
    assert web.as_("lector").get("/cvp/api/cola").json()["en_cola"] == 300
    paths = ("/cvp/api/cola", "/cvp/", "/cvp/necesidades")
    assert {p: costs[1, p] for p in paths} == {p: costs[300, p] for p in paths}
    assert 1 <= max(costs.values()) <= 3, costs


def test_an_unreadable_airflow_database_is_said_and_the_broker_still_checked(web, airflow_db, monkeypatch, caplog):
    from airflow import settings

    unreachable = create_engine("sqlite:////nonexistent-cvp-dir/airflow.db")
    monkeypatch.setattr(settings, "Session", scoped_session(sessionmaker(bind=unreachable)))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1

    r = web.as_("lector").get("/cvp/api/cola")
    assert r.status_code == 200, r.text
    line = r.json()
    assert line["conocida"] is False and line["retenidas"] is False
    assert (line["en_cola"], line["en_curso"], line["maximo"], line["desde"]) == (None, None, None, None)
    assert line["mensaje"] == wl.UNREADABLE and "no se sabe si hay necesidades esperando" in line["mensaje"]
    assert line["intermediario"].startswith("El intermediario de tareas (Redis, 127.0.0.1:1) no responde")
    assert "No se pudo leer la cola de necesidades en la base de Airflow" in caplog.text

    for user, path in (("jefe", "/cvp/"), ("lector", "/cvp/necesidades")):
        page = web.as_(user).get(path)
        assert page.status_code == 200, page.text[-500:]
        shown = text_of(page.text)
        assert f"Cola de necesidades desconocida. {wl.UNREADABLE}" in shown
        assert "Las tareas no avanzan. El intermediario de tareas (Redis, 127.0.0.1:1) no responde" in shown


def test_a_dag_not_yet_registered_is_said_not_a_bare_null(web, airflow_db):
    airflow_db.register(limit=3, dag_id="otro_flujo")
    line = web.as_("lector").get("/cvp/api/cola").json()
    assert line["conocida"] is False and line["mensaje"] == wl.UNREGISTERED and line["intermediario"] is None
