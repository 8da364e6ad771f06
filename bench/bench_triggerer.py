"""N needs waiting in one triggerer process: CPU, RSS and records-database queries per second.

Airflow's own trigger runner (``TriggerRunner`` of airflow.jobs.triggerer_job_runner) runs in this
process, without a scheduler: the workloads the supervisor would hand it (one ``RunTrigger`` per
deferred task, kwargs encrypted as in the metadata database) are put in its queue, and its own
``create_triggers`` / ``cleanup_finished_triggers`` run every second as in ``arun``. What is left out
is the supervisor's side (its database sync of the trigger rows), which is Airflow's and the same
for any trigger.

One run, three processes after the records are seeded (so one does not inherit another's memory):
- floor: N of Airflow's own DateTimeTrigger, a day away (what any N triggers cost the runner)
- ours:  N RecordConditionTriggers waiting for an approval that does not come, then
         BENCH_DECISIONS approvals at random moments: decision → trigger event, per decision
Each process first samples the runner with no trigger (idle), then the N triggers (BENCH_WINDOW s).

The records database is a fresh SQLite file (BENCH_RECORDS_URL=postgresql+psycopg2://… to use
PostgreSQL, where the watcher also LISTENs). Queries are counted on the engine, not estimated.

    .venv/bin/python bench/bench_triggerer.py        # BENCH_WAITS=10000 BENCH_WINDOW=30 BENCH_DECISIONS=20
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from datetime import UTC

from benchlib import ROOT, env_float, env_int, machine, write_result  # noqa: E402

HOME = Path(os.environ.get("BENCH_HOME") or tempfile.mkdtemp(prefix="cvp-bench-triggerer-"))
os.environ["BENCH_HOME"] = str(HOME)  # the measuring processes share it
os.environ.setdefault("AIRFLOW_HOME", str(HOME))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{HOME / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(ROOT / "plugins"))


def usage() -> tuple[float, float]:
    import psutil

    p = psutil.Process()
    t = p.cpu_times()
    return t.user + t.system, p.memory_info().rss / 2**20


async def sample(seconds: float) -> dict:
    cpu0, rss0 = usage()
    rss = [rss0]
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        await asyncio.sleep(0.5)
        rss.append(usage()[1])
    cpu1, _ = usage()
    elapsed = time.monotonic() - start
    return {
        "cpu_s": cpu1 - cpu0,
        "core_pct": 100 * (cpu1 - cpu0) / elapsed,
        "rss_mib_mean": statistics.mean(rss),
        "rss_mib_max": max(rss),
        "window_s": elapsed,
    }


def seed(url: str, n: int, decisions: int) -> tuple[list[int], dict[int, int]]:
    """N needs at activity 7 (the head's review), the first ``decisions`` of them with a text to approve."""
    from sqlalchemy import insert, select

    from cvp.office import Office
    from cvp.records.db import migrate
    from cvp.records.models import Need, utcnow
    from tests.conftest import NEED

    migrate(url)
    office = Office(url)
    run = uuid.uuid4().hex[:6]
    rows = [
        {
            "run_id": f"bench-{run}-{i}",
            "title": f"Necesidad {i}",
            "description": NEED["necesidad"],
            "source": "plan_accion",
            "source_reference": "",
            "audiences": ["ciudadania"],
            "channels": ["x"],
            "one_off": True,
            "deadline": utcnow().date(),
            "department": "comunicaciones",
            "requested_by": "jefe",
            "status": "en_curso",
            "created_at": utcnow(),
        }
        for i in range(n)
    ]
    with office.session() as s:
        s.execute(insert(Need), rows)
        ids = list(s.scalars(select(Need.id).where(Need.run_id.like(f"bench-{run}-%")).order_by(Need.id)))
    texts = {"x": "Hoy entregamos 118 títulos en Ciudad Bolívar."}
    revisions = {need_id: office.submit_text(need_id, "profesional", dict(texts)).id for need_id in ids[:decisions]}
    return ids, revisions


def make_workload(i: int, trigger) -> object:
    from airflow.executors.workloads import RunTrigger
    from airflow.executors.workloads.task import TaskInstanceDTO
    from airflow.models.trigger import Trigger

    classpath, kwargs = trigger.serialize()
    ti = TaskInstanceDTO.model_construct(
        id=uuid.uuid4(),
        dag_id="necesidad_comunicacion",
        task_id="revisar_contenidos",
        run_id=f"run-{i}",
        try_number=1,
        map_index=-1,
        dag_version_id=uuid.uuid4(),
        pool_slots=1,
        priority_weight=1,
        queue="default",
    )
    return RunTrigger.model_construct(
        id=i,
        classpath=classpath,
        ti=ti,
        timeout_after=None,
        dag_data=None,
        encrypted_kwargs=Trigger.encrypt_kwargs(kwargs),
        dag_run_data=None,
        watched_assets=None,
    )


async def measure(mode: str, url: str, ids: list[int], revisions: dict[int, int], window: float) -> dict:
    """In this process: Airflow's runner idle, then with one trigger per id (mode 'floor' or 'ours')."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    stop = asyncio.Event()

    async def runner_loop():  # what TriggerRunner.arun does each second, minus the supervisor sync
        while not stop.is_set():
            await runner.cleanup_finished_triggers()
            await runner.create_triggers()
            await runner.cancel_triggers()
            try:
                await asyncio.wait_for(stop.wait(), 1)
            except TimeoutError:
                pass

    out: dict = {}
    loop_task = asyncio.create_task(runner_loop())
    await asyncio.sleep(3)
    out["idle"] = await sample(min(window, 15))
    t = time.perf_counter()
    if mode == "floor":
        from datetime import datetime, timedelta

        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        moment = datetime.now(UTC) + timedelta(days=1)
        for i, _ in enumerate(ids, start=1):
            runner.to_create.append(make_workload(i, DateTimeTrigger(moment=moment, end_from_trigger=True)))
        while len(runner.triggers) < len(ids) or runner.to_create:
            await asyncio.sleep(0.5)
        watcher = None
    else:
        from cvp_airflow.triggers import RecordConditionTrigger
        from cvp_airflow.watcher import _WATCHERS

        for i, need_id in enumerate(ids, start=1):
            runner.to_create.append(make_workload(i, RecordConditionTrigger(need_id, "texto_aprobado")))
        watcher = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            watchers = list(_WATCHERS.get(asyncio.get_running_loop(), {}).values())  # the one the triggers share
            watcher = watchers[0] if watchers else None
            if watcher and watcher.waiting == len(ids) and watcher.stats["checks"] >= len(ids):
                break
        assert watcher is not None and watcher.waiting == len(ids), "las esperas no se registraron"
    out["all_waiting_after_s"] = time.perf_counter() - t
    await asyncio.sleep(5)
    before = dict(watcher.stats) if watcher else {}
    out["waiting"] = await sample(window)
    if watcher:
        delta = {k: watcher.stats[k] - before[k] for k in before}
        out["waiting"].update(
            queries_per_s=delta["queries"] / out["waiting"]["window_s"],
            reads_per_s=delta["reads"] / out["waiting"]["window_s"],
            checks=delta["checks"],
            listening=watcher.listening,
        )
        out["decision_to_event_s"] = await decide(runner, url, revisions, {n: i for i, n in enumerate(ids, 1)})
    stop.set()
    for details in list(runner.triggers.values()):
        details["task"].cancel()
    await loop_task
    return out


async def decide(runner, url: str, revisions: dict[int, int], trigger_of: dict[int, int]) -> dict:
    from cvp.office import Office

    office = Office(url)
    latencies = []
    for need_id, rev_id in revisions.items():
        seen = len(runner.events)
        t0 = time.perf_counter()
        await asyncio.to_thread(office.decide, need_id, rev_id, 7, "aprobado", "jefe")
        while True:
            if any(e.trigger_id == trigger_of[need_id] for e in list(runner.events)[seen:]):
                latencies.append(time.perf_counter() - t0)
                break
            if time.perf_counter() - t0 > 30:
                latencies.append(None)
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(random.uniform(0.3, 0.8))  # not in step with the watcher's interval
    got = sorted(x for x in latencies if x is not None)
    return {
        "n": len(got),
        "lost": len(latencies) - len(got),
        "median": statistics.median(got) if got else None,
        "p95": got[max(0, int(round(0.95 * len(got))) - 1)] if got else None,
        "max": max(got) if got else None,
    }


def child(args: list[str]) -> int:
    what, url = args[0], args[1]
    if what == "seed":
        ids, revisions = seed(url, int(args[2]), int(args[3]))
        print(json.dumps({"ids": ids, "revisions": revisions}))
        return 0
    given = json.loads(Path(args[2]).read_text())
    revisions = {int(k): v for k, v in given["revisions"].items()}
    print(json.dumps(asyncio.run(measure(what, url, given["ids"], revisions, float(args[3])))))
    return 0


def run_child(*args: str) -> dict:
    import subprocess

    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    n = env_int("BENCH_WAITS", 10_000)
    window = env_float("BENCH_WINDOW", 30.0)
    n_decisions = env_int("BENCH_DECISIONS", 20)
    url = os.environ.get("BENCH_RECORDS_URL") or f"sqlite:///{HOME / 'registros.db'}"
    data: dict = {
        "benchmark": "triggerer",
        "waits": n,
        "window_s": window,
        "decisions": n_decisions,
        "records": url.split(":", 1)[0],
        "cvp_poll_seconds": float(os.environ.get("CVP_POLL_SECONDS", 0.5)),
        "machine": machine(),
    }
    os.environ["AIRFLOW_CONN_CVP_RECORDS"] = json.dumps(
        {"conn_type": "sqlite", "host": url.split(":///", 1)[1]}
        if url.startswith("sqlite")
        else {"conn_type": "postgres", "extra": {"sqlalchemy_url": url}}
    )
    print(f"Triggerer con {n} esperas: ventana {window:.0f} s, base de registros {data['records']}", flush=True)
    t = time.perf_counter()
    seeded = run_child("seed", url, str(n), str(n_decisions))
    data["seed_s"] = time.perf_counter() - t
    ids_file = HOME / "sembrado.json"
    ids_file.write_text(json.dumps(seeded))
    for mode, label in (("floor", "DateTimeTrigger de Airflow"), ("ours", "RecordConditionTrigger")):
        r = data[mode] = run_child(mode, url, str(ids_file), str(window))
        w, i = r["waiting"], r["idle"]
        r["extra_core_pct"] = w["core_pct"] - i["core_pct"]
        r["extra_rss_mib"] = w["rss_mib_mean"] - i["rss_mib_mean"]
        extra = f", {w['queries_per_s']:.2f} consultas/s a los registros" if "queries_per_s" in w else ""
        print(
            f"  {label:<28} inactivo {i['core_pct']:.2f} % / {i['rss_mib_mean']:.0f} MiB → con {n}: "
            f"{w['core_pct']:.2f} % de un núcleo (+{r['extra_core_pct']:.2f}), RSS +{r['extra_rss_mib']:.0f} MiB"
            f"{extra}; {n} activos en {r['all_waiting_after_s']:.1f} s",
            flush=True,
        )
    d = data["ours"]["decision_to_event_s"]
    print(
        f"  decisión → evento del trigger (con {n} esperando): mediana {d['median']:.3f} s, p95 {d['p95']:.3f} s, "
        f"máx {d['max']:.3f} s ({d['n']} decisiones, {d['lost']} perdidas)"
    )
    ours, floor = data["ours"], data["floor"]
    data["ours_over_floor"] = {
        "extra_core_pct": ours["extra_core_pct"] - floor["extra_core_pct"],
        "extra_rss_mib": ours["extra_rss_mib"] - floor["extra_rss_mib"],
    }
    print(
        f"  nuestro sobre el piso de Airflow: +{data['ours_over_floor']['extra_core_pct']:.2f} % de un núcleo, "
        f"+{data['ours_over_floor']['extra_rss_mib']:.0f} MiB"
    )
    print(f"\nJSON: {write_result('bench_triggerer', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]) if len(sys.argv) > 1 else main())
