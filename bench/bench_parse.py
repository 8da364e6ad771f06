"""Parse time of each DAG file vs an empty one-task DAG, and import time of the domain modules.

Each measurement runs in a fresh Python subprocess with the stack's environment (plugins on the
path, a throw-away AIRFLOW_HOME). Parsing is timed as the dag-processor pays it: the ``airflow.*``
modules the file imports are pre-imported first (``[dag_processor] parsing_pre_import_modules``,
on by default, only the modules named in the file's own import lines, and in the parent before the
fork, so lazy attributes such as ``airflow.sdk.task`` are paid on every parse), then
``DagBag.process_file`` is timed. Two floors: an empty one-task DAG (EmptyOperator) and the same
with its task written with ``@task``. Imports of ``cvp.office`` and ``cvp.checks``
are timed from a bare interpreter. Medians of N repetitions; ratios to the empty DAG's parse time,
measured in the same run, are what compare between machines.

    .venv/bin/python bench/bench_parse.py              # BENCH_REPEAT=7
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import ROOT, Stack, env_int, machine, ratio, summary, write_result  # noqa: E402

VENV_PY = ROOT / ".venv" / "bin" / "python"

EMPTY_DAG = '''\
"""An empty one-task DAG: the floor of what parsing a file costs."""
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="vacio", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="t")
'''

TASK_DAG = '''\
"""The same, with its one task written with @task (which makes airflow.sdk import the decorators)."""
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id="vacio_task", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    @task
    def t():
        return None

    t()
'''
EMPTY = "(DAG vacío de una tarea)"
EMPTY_TASK = "(DAG vacío, una tarea @task)"

PARSE = textwrap.dedent("""
    import importlib, json, sys, time
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.file import iter_airflow_imports
    path = sys.argv[1]
    for module in iter_airflow_imports(path):
        try:
            importlib.import_module(module)
        except Exception:
            pass
    before = set(sys.modules)
    bag = DagBag(dag_folder="/nonexistent", collect_dags=False, load_op_links=False)
    t = time.perf_counter()
    bag.process_file(path, only_if_updated=False, safe_mode=False)
    dt = time.perf_counter() - t
    heavy = ("pandas", "tweepy", "googleapiclient", "sqlalchemy", "jinja2", "alembic", "PIL", "yaml")
    loaded = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(heavy))
    print(json.dumps({"s": dt, "dags": len(bag.dags), "errors": {k: str(v)[-300:] for k, v in bag.import_errors.items()},
                      "new_modules": len(set(sys.modules) - before), "heavy_loaded": loaded}))
""")

IMPORT = textwrap.dedent("""
    import importlib, json, sys, time
    before = set(sys.modules)
    t = time.perf_counter()
    importlib.import_module(sys.argv[1])
    dt = time.perf_counter() - t
    heavy = ("pandas", "tweepy", "googleapiclient", "sqlalchemy", "jinja2", "alembic", "PIL", "yaml", "airflow")
    loaded = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(heavy))
    print(json.dumps({"s": dt, "new_modules": len(set(sys.modules) - before), "heavy_loaded": loaded}))
""")


def run(code: str, arg: str, env: dict) -> dict:
    out = subprocess.run(
        [str(VENV_PY), "-c", code, arg], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(f"{arg}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    repeat = env_int("BENCH_REPEAT", 7)
    home = Path(tempfile.mkdtemp(prefix="cvp-parse-"))
    try:
        empty = home / "vacio.py"
        empty.write_text(EMPTY_DAG)
        env = Stack(home).env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        task_dag = home / "vacio_task.py"
        task_dag.write_text(TASK_DAG)
        files = {EMPTY: empty, EMPTY_TASK: task_dag}
        files.update({str(p.relative_to(ROOT)): p for p in sorted((ROOT / "dags").glob("*.py"))})
        files.update({str(p.relative_to(ROOT)): p for p in sorted((ROOT / "bench" / "dags").glob("*.py"))})
        modules = ["cvp.office", "cvp.checks"]

        # One untimed pass of each, so .pyc files exist and every repetition measures the same thing.
        for p in files.values():
            run(PARSE, str(p), env)
        for m in modules:
            run(IMPORT, m, env)

        parse: dict[str, list[dict]] = {name: [] for name in files}
        imports: dict[str, list[dict]] = {m: [] for m in modules}
        for _ in range(repeat):  # interleaved, so drift on a noisy machine spreads over every file
            for name, p in files.items():
                parse[name].append(run(PARSE, str(p), env))
            for m in modules:
                imports[m].append(run(IMPORT, m, env))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    base = summary([r["s"] for r in parse[EMPTY]])["median"]
    base_task = summary([r["s"] for r in parse[EMPTY_TASK]])["median"]
    data = {
        "benchmark": "parse",
        "repeat": repeat,
        "machine": machine(),
        "empty_dag_median_s": base,
        "empty_task_dag_median_s": base_task,
        "files": {},
        "imports": {},
    }
    print(
        f"Tiempo de análisis por archivo (DagBag.process_file, airflow.* ya importado), mediana de {repeat} "
        "procesos nuevos"
    )
    print(f"{'archivo':<40}{'mediana':>10}{'mín':>9}{'máx':>9}{'× vacío':>9}{'× @task':>9}  DAG  pesados cargados")
    for name, runs in parse.items():
        s = summary([r["s"] for r in runs])
        errors = runs[-1]["errors"]
        data["files"][name] = dict(
            s,
            ratio_to_empty=ratio(s["median"], base),
            ratio_to_empty_task=ratio(s["median"], base_task),
            dags=runs[-1]["dags"],
            import_errors=errors,
            heavy_loaded=runs[-1]["heavy_loaded"],
            new_modules=runs[-1]["new_modules"],
        )
        print(
            f"{name:<40}{s['median'] * 1000:>8.0f} ms{s['min'] * 1000:>6.0f} ms{s['max'] * 1000:>6.0f} ms"
            f"{ratio(s['median'], base):>8.1f}×{ratio(s['median'], base_task):>8.2f}×  {runs[-1]['dags']:>3}  {', '.join(runs[-1]['heavy_loaded']) or '—'}"
            + (f"  ERRORES: {errors}" if errors else "")
        )
    print(f"\nImportación desde un intérprete vacío, mediana de {repeat}")
    for m, runs in imports.items():
        s = summary([r["s"] for r in runs])
        data["imports"][m] = dict(
            s,
            ratio_to_empty_dag_parse=ratio(s["median"], base),
            ratio_to_empty_task_dag_parse=ratio(s["median"], base_task),
            heavy_loaded=runs[-1]["heavy_loaded"],
            new_modules=runs[-1]["new_modules"],
        )
        print(
            f"{m:<40}{s['median'] * 1000:>8.0f} ms{s['min'] * 1000:>6.0f} ms{s['max'] * 1000:>6.0f} ms"
            f"{ratio(s['median'], base):>8.1f}×{ratio(s['median'], base_task):>8.2f}×  ({runs[-1]['new_modules']} módulos; "
            f"{', '.join(runs[-1]['heavy_loaded']) or '—'})"
        )
    path = write_result("bench_parse", data)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
