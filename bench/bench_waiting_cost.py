"""What waiting runs cost: K runs parked at the approval, ours (deferred) vs HITL (awaiting_input).

One real stack runs bench/dags/bench_wait.py. After one warm-up run of each DAG, the CPU seconds
(user+system) and RSS of each component's whole process tree (scheduler with its LocalExecutor
workers and task processes, dag-processor, triggerer, api-server) are sampled every 0.5 s over a
window, in four phases of the same run:

1. idle:       no run waiting (baseline)
2. cvp:        K runs of bench_cvp_wait with the RecordSensor ``deferred`` (K triggers polling)
3. hitl:       K runs of bench_hitl_wait with the ApprovalOperator ``awaiting_input``
4. idle_after: everything approved and finished (baseline again, to see drift)

Before each window: the LocalExecutor workers that are busy, the task processes alive (children of
the workers) and the default pool's slots, i.e. whether a waiting run holds a worker slot or a process.
The benchmark itself does not call the API during a window.

    .venv/bin/python bench/bench_waiting_cost.py      # BENCH_WAITING=20 BENCH_SAMPLE_SECONDS=20 BENCH_SETTLE=10
"""

from __future__ import annotations

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (  # noqa: E402
    CVP_DAG,
    HITL_DAG,
    NEXT_TASK,
    WAIT_TASK,
    Api,
    OfficeSide,
    env_float,
    env_int,
    machine,
    process_census,
    ratio,
    running_stack,
    sample_components,
    watcher_stats,
    write_result,
)

COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")


def count_in(api: Api, dag_id: str, task_id: str, states: tuple) -> int:
    query = "&".join(f"state={s}" for s in states)
    _, body = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?task_id={task_id}&{query}&limit=1")
    return int(body.get("total_entries", 0))


def wait_all(
    api: Api,
    dag_id: str,
    run_ids: list[str],
    task_id: str,
    states: tuple,
    timeout: float | None = None,
    already: int = 0,
) -> None:
    """Until ``len(run_ids)`` more task instances of ``task_id`` are in ``states`` than ``already`` were."""
    timeout = timeout or max(300.0, 1.5 * len(run_ids))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_in(api, dag_id, task_id, states) - already >= len(run_ids):
            return
        time.sleep(2)
    raise TimeoutError(
        f"runs of {dag_id} never reached {task_id} {states}: "
        f"{count_in(api, dag_id, task_id, states) - already}/{len(run_ids)}"
    )


def state_counts(api: Api, dag_id: str) -> dict[str, int]:
    _, body = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=1000")
    counts: dict[str, int] = {}
    for t in body.get("task_instances", []):
        key = f"{t['task_id']}:{t['state']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def snapshot(api: Api, stack, dag_id: str | None) -> dict:
    pool = api.pool()
    return {
        "census": process_census(stack),
        "pool": {
            k: pool.get(k)
            for k in ("slots", "occupied_slots", "running_slots", "queued_slots", "deferred_slots", "open_slots")
        },
        "task_states": state_counts(api, dag_id) if dag_id else {},
    }


def phase(api: Api, stack, name: str, dag_id: str | None, seconds: float) -> dict:
    before = snapshot(api, stack, dag_id)
    watched = watcher_stats(stack)
    print(
        f"  [{name}] muestreo {seconds:.0f} s; trabajadores ocupados {before['census']['workers_busy']}"
        f"/{before['census']['workers_total']}, procesos de tarea {before['census']['task_processes']}, "
        f"pool ocupado {before['pool']['occupied_slots']}/{before['pool']['slots']}",
        flush=True,
    )
    sample = sample_components(stack, seconds)
    time.sleep(1.2)  # the watcher rewrites its counters once a second
    later = watcher_stats(stack)
    sample["records_queries"] = later.get("queries", 0) - watched.get("queries", 0)
    sample["records_queries_per_s"] = sample["records_queries"] / sample["window_s"]
    sample["watcher_waiting"] = later.get("waiting", 0) if later.get("at", 0) > time.time() - 5 else 0
    after = snapshot(api, stack, dag_id)
    return {"before": before, "sample": sample, "after": after}


def main() -> int:
    k = env_int("BENCH_WAITING", 20)
    seconds = env_float("BENCH_SAMPLE_SECONDS", 20.0)
    settle = env_float("BENCH_SETTLE", 10.0)
    parallelism = env_int("BENCH_PARALLELISM", 4)
    poll = os.environ.get("CVP_POLL_SECONDS", "0.5")
    data: dict = {
        "benchmark": "waiting_cost",
        "waiting_runs": k,
        "window_s": seconds,
        "settle_s": settle,
        "parallelism": parallelism,
        "cvp_poll_seconds": float(poll),
        "machine": machine(),
        "phases": {},
    }
    print(
        f"Costo de la espera: K={k} ejecuciones esperando, ventana {seconds:.0f} s, pausa {settle:.0f} s, "
        f"CVP_POLL_SECONDS={poll}, parallelism={parallelism}",
        flush=True,
    )

    with running_stack(parallelism=parallelism, label="waiting") as stack:
        api = Api(stack, "jefe")
        api.wait_dag(CVP_DAG)
        api.wait_dag(HITL_DAG)
        office = OfficeSide(stack)

        # Warm-up: one run of each to the end, so both phases find the workers equally warm.
        w1, w2 = f"warm-cvp-{uuid.uuid4().hex[:6]}", f"warm-hitl-{uuid.uuid4().hex[:6]}"
        office.prepare(w1)
        api.trigger(CVP_DAG, w1)
        api.trigger(HITL_DAG, w2)
        api.wait_task(CVP_DAG, w1, WAIT_TASK, ("deferred",))
        api.wait_task(HITL_DAG, w2, WAIT_TASK, ("awaiting_input",))
        time.sleep(3)  # an approval within ~1 s of parking can be lost to a retry (see bench_resume.py)
        office.approve(w1)
        api.approve_hitl(HITL_DAG, w2)
        api.wait_task(CVP_DAG, w1, NEXT_TASK, ("success",))
        api.wait_task(HITL_DAG, w2, NEXT_TASK, ("success",))

        time.sleep(settle)
        data["phases"]["idle"] = phase(api, stack, "idle", None, seconds)

        runs = [f"wait-cvp-{i}-{uuid.uuid4().hex[:6]}" for i in range(k)]
        done_before = count_in(api, CVP_DAG, NEXT_TASK, ("success",))
        t = time.perf_counter()
        for r in runs:
            office.prepare(r)
            api.trigger(CVP_DAG, r)
        wait_all(api, CVP_DAG, runs, WAIT_TASK, ("deferred",))
        data["cvp_all_waiting_after_s"] = time.perf_counter() - t
        time.sleep(settle)
        data["phases"]["cvp"] = phase(api, stack, "cvp", CVP_DAG, seconds)
        for r in runs:
            office.approve(r)
        wait_all(api, CVP_DAG, runs, NEXT_TASK, ("success",), already=done_before)

        hruns = [f"wait-hitl-{i}-{uuid.uuid4().hex[:6]}" for i in range(k)]
        done_before = count_in(api, HITL_DAG, NEXT_TASK, ("success",))
        t = time.perf_counter()
        for r in hruns:
            api.trigger(HITL_DAG, r)
        wait_all(api, HITL_DAG, hruns, WAIT_TASK, ("awaiting_input",))
        data["hitl_all_waiting_after_s"] = time.perf_counter() - t
        time.sleep(settle)
        data["phases"]["hitl"] = phase(api, stack, "hitl", HITL_DAG, seconds)
        for r in hruns:
            status, body = api.approve_hitl(HITL_DAG, r)
            if status != 200:
                raise RuntimeError(f"PATCH {r}: {status} {body}")
        wait_all(api, HITL_DAG, hruns, NEXT_TASK, ("success",), already=done_before)

        time.sleep(settle)
        data["phases"]["idle_after"] = phase(api, stack, "idle_after", None, seconds)

    ph = {n: p["sample"] for n, p in data["phases"].items()}
    base = {c: (ph["idle"][c]["cpu_s"] + ph["idle_after"][c]["cpu_s"]) / 2 for c in (*COMPONENTS, "total")}
    base_rss = {
        c: (ph["idle"][c]["rss_mib_mean"] + ph["idle_after"][c]["rss_mib_mean"]) / 2 for c in (*COMPONENTS, "total")
    }
    comparison = {}
    for c in (*COMPONENTS, "total"):
        cv, hv = ph["cvp"][c], ph["hitl"][c]
        comparison[c] = {
            "cpu_ratio_cvp_over_hitl": ratio(cv["cpu_s"], hv["cpu_s"]),
            "cpu_ratio_cvp_over_idle": ratio(cv["cpu_s"], base[c]),
            "cpu_ratio_hitl_over_idle": ratio(hv["cpu_s"], base[c]),
            "extra_cpu_ms_per_waiting_run_per_s_cvp": 1000 * (cv["cpu_s"] - base[c]) / k / seconds,
            "extra_cpu_ms_per_waiting_run_per_s_hitl": 1000 * (hv["cpu_s"] - base[c]) / k / seconds,
            "rss_ratio_cvp_over_hitl": ratio(cv["rss_mib_mean"], hv["rss_mib_mean"]),
            "extra_rss_mib_cvp": cv["rss_mib_mean"] - base_rss[c],
            "extra_rss_mib_hitl": hv["rss_mib_mean"] - base_rss[c],
        }
    data["comparison"] = comparison

    print()
    print(
        f"CPU (s en {seconds:.0f} s, suma de usuario+sistema del árbol de procesos) y RSS medio (MiB), "
        f"K={k} ejecuciones esperando"
    )
    head = f"{'componente':<14}" + "".join(
        f"{n:>20}" for n in ("inactiva", "nuestro (deferred)", "HITL (awaiting)", "inactiva después")
    )
    print(head + f"{'CPU nuestro/HITL':>18}{'RSS nuestro/HITL':>18}")
    for c in (*COMPONENTS, "total"):
        cells = "".join(
            f"{ph[n][c]['cpu_s']:>8.2f} s {ph[n][c]['rss_mib_mean']:>6.0f} M"
            for n in ("idle", "cvp", "hitl", "idle_after")
        )
        cr = comparison[c]["cpu_ratio_cvp_over_hitl"]
        rr = comparison[c]["rss_ratio_cvp_over_hitl"]
        print(f"{c:<14}{cells}{('—' if cr is None else f'{cr:.2f}×'):>18}{('—' if rr is None else f'{rr:.2f}×'):>18}")
    t = comparison["total"]
    print(
        f"\nCPU adicional sobre la pila inactiva, por ejecución en espera: nuestro "
        f"{t['extra_cpu_ms_per_waiting_run_per_s_cvp']:.2f} ms/s, HITL {t['extra_cpu_ms_per_waiting_run_per_s_hitl']:.2f} ms/s "
        f"(triggerer: nuestro {comparison['triggerer']['extra_cpu_ms_per_waiting_run_per_s_cvp']:.2f} ms/s)"
    )
    print(
        "Consultas a la base de registros por segundo (contadas por el vigilante del triggerer): "
        + ", ".join(f"{n} {ph[n]['records_queries_per_s']:.2f}" for n in ("idle", "cvp", "hitl", "idle_after"))
        + f" (esperas registradas durante «cvp»: {ph['cvp']['watcher_waiting']})"
    )
    print("Trabajadores y procesos durante la espera:")
    for n in ("idle", "cvp", "hitl", "idle_after"):
        b = data["phases"][n]["before"]
        print(
            f"  {n:<11} trabajadores ocupados {b['census']['workers_busy']}/{b['census']['workers_total']}, "
            f"procesos de tarea {b['census']['task_processes']}, pool: ocupados {b['pool']['occupied_slots']} "
            f"(running {b['pool']['running_slots']}, deferred {b['pool']['deferred_slots']}), "
            f"procesos por componente {b['census']['components']}; estados {b['task_states']}"
        )
    path = write_result("bench_waiting_cost", data)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
