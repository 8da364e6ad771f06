"""Every DAG parses, follows the office's conventions, and stays cheap to parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
HEAVY = ("pandas", "tweepy", "googleapiclient", "airflow.providers.google", "sqlalchemy.orm", "jinja2", "alembic")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) == len(DAG_FILES)


def test_conventions(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        assert dag.tags and "cvp" in dag.tags, dag_id
        assert dag.catchup is False, dag_id
        for t in dag.tasks:
            assert t.owner == "oac", (dag_id, t.task_id)
            assert t.retries >= 1, (dag_id, t.task_id)
            assert t.task_display_name != t.task_id, f"{dag_id}.{t.task_id} needs a Spanish display name"


def test_necesidad_follows_the_procedure(dagbag):
    from cvp import procedure as P

    dag = dagbag.dags["necesidad_comunicacion"]
    numbers = sorted({int(t.task_display_name.split(".")[0]) for t in dag.tasks})
    assert numbers == [n for n in range(1, 15) if n != 8]  # 8 lives inside the wait of 7 (see doc_md)
    assert "8. Ajustes" in dag.doc_md or "| 8. Ajustes" in dag.doc_md
    assert dag.get_task("revisar_contenidos").task_display_name == "7. Revisar los contenidos"
    assert set(dag.get_task("identificar_necesidad").downstream_task_ids) == {"reunion_equipo", "producir_contenidos"}
    assert dag.get_task("producir_contenidos").trigger_rule == "none_failed_min_one_success"
    for sensor_id in (
        "reunion_equipo",
        "definir_contenidos",
        "producir_contenidos",
        "revisar_contenidos",
        "elaborar_diseno",
        "revisar_diseno",
    ):
        assert type(dag.get_task(sensor_id)).__name__.endswith("Sensor"), sensor_id
    for name, param in dag.params.items():
        schema = param.schema if hasattr(param, "schema") else dag.params.get_param(name).schema
        assert schema.get("title"), name
    required = {
        k
        for k in dag.params
        if not dag.params.get_param(k).has_value and "null" not in dag.params.get_param(k).schema["type"]
    }
    assert required == {"titulo", "necesidad", "fecha_limite"}  # the form cannot be sent without them
    assert set(P.CHANNELS) == set(dag.params.get_param("canales").schema["items"]["enum"])
    # Every task's activity, as its display name numbers it, is the one the records file its events under.
    assert {t.task_id: int(t.task_display_name.split(".")[0]) for t in dag.tasks} == {
        task: n for task, n in P.TASK_ACTIVITY.items() if task in dag.task_ids
    }


WAITS = (
    "reunion_equipo",
    "definir_contenidos",
    "producir_contenidos",
    "revisar_contenidos",
    "elaborar_diseno",
    "revisar_diseno",
    "esperar_publicacion",
)


def test_waits_end_in_the_triggerer_where_no_listener_is_installed(dagbag):
    """The waits keep their cost here: the trigger ends the task, no worker is started just to return."""
    from airflow.listeners.listener import get_listener_manager

    assert not get_listener_manager().has_listeners
    dag = dagbag.dags["necesidad_comunicacion"]
    assert {t: dag.get_task(t).end_from_trigger for t in WAITS} == dict.fromkeys(WAITS, True)


PARSE_WITH_LISTENERS = """
import json
from airflow.dag_processing.dagbag import DagBag
from airflow.listeners.listener import get_listener_manager

bag = DagBag(dag_folder={dags!r})
dag = bag.dags.get("necesidad_comunicacion")
print(json.dumps({{
    "listeners": sorted(getattr(p, "__name__", type(p).__name__) for p in get_listener_manager().pm.get_plugins()),
    "errors": {{k: v[-500:] for k, v in bag.import_errors.items()}},
    "dags": sorted(bag.dags),
    "ends": {{t: dag.get_task(t).end_from_trigger for t in {waits!r}}} if dag else None,
}}))
"""

# Airflow's example plugins (load_examples = True) register an event listener; OpenLineage registers
# its own once a transport is configured (here the console, so nothing leaves the machine).
LISTENER_SETUPS = {
    "ejemplos_de_airflow": {"AIRFLOW__CORE__LOAD_EXAMPLES": "True"},
    "openlineage_consola": {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "console"})},
}


@pytest.mark.parametrize("setup", LISTENER_SETUPS, ids=list(LISTENER_SETUPS))
def test_every_dag_loads_where_listeners_are_installed(setup):
    """With a listener plugin loaded the DAG still loads, and its waits resume on a worker the listener sees."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "plugins"), **LISTENER_SETUPS[setup])
    code = PARSE_WITH_LISTENERS.format(dags=str(ROOT / "dags"), waits=WAITS)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["listeners"], "the setup installed no listener: the test would prove nothing"
    assert report["errors"] == {}
    assert report["dags"] == sorted(
        ["necesidad_comunicacion", "red_distrital_diaria", "metricas_interaccion", "conexiones_canales"]
    )
    assert report["ends"] == dict.fromkeys(WAITS, False)


def test_invalid_params_are_refused_before_a_run(dagbag):
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.dags["necesidad_comunicacion"]
    good = {
        "titulo": "Entrega de títulos",
        "necesidad": "Divulgar la entrega de títulos.",
        "fecha_limite": "2099-01-01",
        "canales": ["x"],
    }

    def validate(conf):
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert validate(good)["canales"] == ["x"]
    for bad in ({"titulo": "x"}, {"canales": ["tiktok"]}, {"canales": []}, {"fuente": "rumor"}, {"necesidad": None}):
        with pytest.raises(ParamValidationError):
            validate(dict(good, **bad))


EMPTY_DAG = """
from datetime import datetime
from airflow.sdk import DAG, task
with DAG("vacio", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    @task
    def t():
        pass
    t()
"""


def _modules_after_parse(path: Path) -> set[str]:
    code = f"import sys, runpy; runpy.run_path({str(path)!r}); print('\\n'.join(sorted(sys.modules)))"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "plugins"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


@pytest.fixture(scope="module")
def empty_dag_modules(tmp_path_factory) -> set[str]:
    path = tmp_path_factory.mktemp("vacio") / "vacio.py"
    path.write_text(EMPTY_DAG)
    return _modules_after_parse(path)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_module_level_is_cheap(path, empty_dag_modules):
    """Parsing imports nothing heavy beyond what an empty DAG imports (bench/bench_parse.py times it)."""
    extra = _modules_after_parse(path) - empty_dag_modules
    heavy = sorted(m for m in extra if m.startswith(HEAVY) or m.startswith(("sqlalchemy", "yaml", "httpx", "requests")))
    assert heavy == []
    assert len(extra) < 40, sorted(extra)


def test_conexiones_canales_checks_daily_in_bogota_then_tells_the_head(dagbag):
    dag = dagbag.dags["conexiones_canales"]
    assert dag.schedule == "0 6 * * *" and dag.timezone.name == "America/Bogota"
    assert dag.max_active_runs == 1
    check, notify = dag.get_task("verificar_conexiones"), dag.get_task("avisar_a_la_jefe")
    assert notify.upstream_task_ids == {"verificar_conexiones"}
    assert notify.trigger_rule == "all_done"  # a platform that did not answer must not hold back the others' notices
    assert "7 días" in dag.doc_md and "1 día" in dag.doc_md and check.task_display_name.startswith("Verificar")


PARSE_WITH_CAPS = """
import json, logging, os
from airflow.dag_processing.dagbag import DagBag

class Seen(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

seen = Seen()
logging.getLogger().addHandler(seen)
report = {{}}
for value in {values!r}:
    if value is None:
        os.environ.pop("CVP_MAX_ACTIVE_NEEDS", None)
    else:
        os.environ["CVP_MAX_ACTIVE_NEEDS"] = value
    seen.messages.clear()
    bag = DagBag(dag_folder={path!r})
    dag = bag.dags.get("necesidad_comunicacion")
    report[repr(value)] = {{
        "max_active_runs": dag.max_active_runs if dag else None,
        "errors": [v[-300:] for v in bag.import_errors.values()],
        "warnings": [m for m in seen.messages if "CVP_MAX_ACTIVE_NEEDS" in m],
    }}
print(json.dumps(report))
"""

CAPS = {None: 500, "": 500, "2": 2, "1200": 1200, " 40 ": 40, "0": 500, "-3": 500, "muchas": 500, "2.5": 500}


def test_how_many_needs_may_be_in_flight_is_configuration_with_a_district_sized_default():
    """CVP_MAX_ACTIVE_NEEDS sets max_active_runs (500 unset); a bad value keeps the DAG, with a Spanish warning."""
    code = PARSE_WITH_CAPS.format(values=list(CAPS), path=str(ROOT / "dags" / "necesidad_comunicacion.py"))
    env = {k: v for k, v in os.environ.items() if k != "CVP_MAX_ACTIVE_NEEDS"}
    env["PYTHONPATH"] = str(ROOT / "plugins")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert {v: report[repr(v)]["max_active_runs"] for v in CAPS} == CAPS
    assert all(report[repr(v)]["errors"] == [] for v in CAPS)
    for value in ("0", "-3", "muchas", "2.5"):
        [warning] = report[repr(value)]["warnings"]
        assert f"CVP_MAX_ACTIVE_NEEDS={value!r} no es un número entero positivo" in warning
        assert "se usa el valor por omisión, 500 necesidades en curso" in warning
    assert all(report[repr(v)]["warnings"] == [] for v in (None, "", "2", "1200", " 40 "))
