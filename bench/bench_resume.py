"""Resume latency of a human approval: our deferred RecordSensor vs Airflow 3.3's ApprovalOperator (HITL).

One real stack (scheduler, dag-processor, triggerer, api-server; LocalExecutor on SQLite) runs
bench/dags/bench_wait.py. Each round, for each DAG, a run waits at ``esperar_aprobacion`` (ours:
``deferred`` in the triggerer; HITL: ``awaiting_input``); after a settle pause, t0 is taken just
before the decision is written (ours: ``Office.decide`` on the records database, as the /cvp forms
do; HITL: ``PATCH .../hitlDetails``), and the run is polled every 0.1 s until ``siguiente`` succeeds.
The times come from the task instances' own timestamps (same machine, UTC) relative to t0:

- wake:        the waiting task is set back to ``scheduled`` (ours: trigger poll + triggerer event
               handling; HITL: done inside the PATCH request)
- queued:      the scheduler queued it to a worker
- sensor_done: the waiting task ends ``success`` (a worker ran ``execute_complete``)
- next_start:  ``siguiente`` starts on a worker
- next_done:   ``siguiente`` ends

A stamp the waiting task did not get on resume (e.g. ``queued`` when the trigger ends the task
itself) is shown as "—". If RecordSensor has ``end_from_trigger``, the variant with it off
(bench_cvp_wait_worker: the event resumes the task on a worker) is measured too.

Rounds rotate which DAG goes first; one warm-up round of each is not counted. Then a few "fast"
probes (BENCH_FAST_PROBES, default 3) approve as soon as the waiting state shows, to see whether the
answer survives (see ``fast_probe``). Figures on a
shared machine are noisy: compare the ratio ours/HITL, measured in the same run.

    .venv/bin/python bench/bench_resume.py            # BENCH_ROUNDS=5 BENCH_SETTLE=3 BENCH_FAST_PROBES=3 BENCH_BACKGROUND=0

BENCH_BACKGROUND=N first parks N runs of ours at the approval (never approved), so every round
is measured with N waits in the triggerer.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (  # noqa: E402
    CVP_DAG,
    CVP_WORKER_DAG,
    HITL_DAG,
    NEXT_TASK,
    WAIT_TASK,
    Api,
    OfficeSide,
    env_float,
    env_int,
    machine,
    parse_ts,
    ratio,
    running_stack,
    summary,
    utc_iso,
    write_result,
)

METRICS = ("call", "wake", "queued", "sensor_done", "next_start", "next_done")
LABELS = {
    "call": "escritura de la decisión (llamada)",
    "wake": "tarea de espera → scheduled",
    "queued": "tarea de espera → queued",
    "sensor_done": "tarea de espera → success",
    "next_start": "«siguiente» arranca",
    "next_done": "«siguiente» termina",
}


def measure(api: Api, dag_id: str, run_id: str, t0: float, call_s: float, timeout: float = 120) -> dict:
    """Poll every 0.1 s until ``siguiente`` ends, then read the task instances' timestamps."""
    deadline = time.monotonic() + timeout
    observed: dict[str, float] = {}
    while time.monotonic() < deadline:
        states = api.task_states(dag_id, run_id)
        now = time.time()
        if states.get(WAIT_TASK) == "success":
            observed.setdefault("sensor_done", now - t0)
        if states.get(NEXT_TASK) in ("running", "success"):
            observed.setdefault("next_start", now - t0)
        if states.get(NEXT_TASK) == "success":
            observed.setdefault("next_done", now - t0)
            break
        if "failed" in states.values() or "upstream_failed" in states.values():
            raise RuntimeError(f"{dag_id}/{run_id}: {states}")
        time.sleep(0.1)
    else:
        raise TimeoutError(f"{dag_id}/{run_id} did not finish: {api.task_states(dag_id, run_id)}")
    tis = api.task_instances(dag_id, run_id)
    wait, nxt = tis[WAIT_TASK], tis[NEXT_TASK]

    def since(ts: str | None) -> float | None:
        v = parse_ts(ts)
        return None if v is None or v < t0 - 0.05 else v - t0  # a stamp from before t0 is the first try's

    return {
        "run_id": run_id,
        "t0": utc_iso(t0),
        "call": call_s,
        "wake": since(wait.get("scheduled_when")),
        "queued": since(wait.get("queued_when")),
        "sensor_done": since(wait.get("end_date")),
        "next_start": since(nxt.get("start_date")),
        "next_done": since(nxt.get("end_date")),
        "observed_by_polling": observed,
    }


def round_cvp(api: Api, office: OfficeSide, dag_id: str, tag: str, settle: float) -> dict:
    run_id = f"{dag_id}-{tag}-{uuid.uuid4().hex[:6]}"
    office.prepare(run_id)
    api.trigger(dag_id, run_id)
    api.wait_task(dag_id, run_id, WAIT_TASK, ("deferred",), every=0.2)
    time.sleep(settle)
    t0 = time.time()
    office.approve(run_id)
    call_s = time.time() - t0
    return measure(api, dag_id, run_id, t0, call_s)


def round_hitl(api: Api, dag_id: str, tag: str, settle: float) -> dict:
    run_id = f"{dag_id}-{tag}-{uuid.uuid4().hex[:6]}"
    api.trigger(dag_id, run_id)
    api.wait_task(dag_id, run_id, WAIT_TASK, ("awaiting_input",), every=0.2)
    time.sleep(settle)
    t0 = time.time()
    status, body = api.approve_hitl(dag_id, run_id)
    call_s = time.time() - t0
    if status != 200:
        raise RuntimeError(f"PATCH hitlDetails {run_id}: {status} {body}")
    return measure(api, dag_id, run_id, t0, call_s)


def fmt(v: float | None) -> str:
    return "   —  " if v is None else f"{v:6.2f}"


def fast_probe(api: Api, office: OfficeSide, key: str, tag: str, timeout: float = 120) -> dict:
    """Approve as soon as the waiting state is seen (0.1 s polling): is the answer kept, and how fast?

    Airflow 3.3.2 can lose an answer given before the scheduler has processed the executor event of
    the worker that parked the task: the stale "success" arrives while the resumed task is already
    ``queued``, the scheduler treats it as killed externally and retries it (a new try, a new wait).
    """
    dag_id, kind, _ = VARIANTS[key]
    run_id = f"{dag_id}-rapida-{tag}-{uuid.uuid4().hex[:6]}"
    if kind == "cvp":
        office.prepare(run_id)
    api.trigger(dag_id, run_id)
    api.wait_task(dag_id, run_id, WAIT_TASK, ("deferred",) if kind == "cvp" else ("awaiting_input",), every=0.1)
    t0 = time.time()
    if kind == "cvp":
        office.approve(run_id)
    else:
        api.approve_hitl(dag_id, run_id)
    deadline = time.monotonic() + timeout
    answers = 1
    seen: list[str] = []
    while time.monotonic() < deadline:
        tis = api.task_instances(dag_id, run_id)
        wait, nxt = tis.get(WAIT_TASK, {}), tis.get(NEXT_TASK, {})
        if wait.get("state") and (not seen or seen[-1] != wait["state"]):
            seen.append(wait["state"])
        if nxt.get("state") == "success":
            break
        if kind == "hitl" and wait.get("state") == "awaiting_input" and wait.get("try_number", 1) > answers:
            time.sleep(1)
            api.approve_hitl(dag_id, run_id)  # the first answer was lost with its try: answer again
            answers += 1
        if wait.get("state") == "failed":
            break
        time.sleep(0.1)
    tis = api.task_instances(dag_id, run_id)
    wait, nxt = tis[WAIT_TASK], tis[NEXT_TASK]
    end = parse_ts(nxt.get("end_date"))
    return {
        "run_id": run_id,
        "try_number": wait.get("try_number"),
        "answer_lost": wait.get("try_number", 1) > 1,
        "answers_given": answers,
        "wait_states_seen": seen,
        "final": {k: v["state"] for k, v in tis.items()},
        "next_done": None if end is None else end - t0,
    }


VARIANTS = {  # key: (dag_id, kind, label)
    "cvp": (CVP_DAG, "cvp", "nuestro RecordSensor"),
    "cvp_worker": (CVP_WORKER_DAG, "cvp", "nuestro, end_from_trigger=False"),
    "hitl": (HITL_DAG, "hitl", "HITL ApprovalOperator"),
}


def run_round(api: Api, office: OfficeSide, key: str, tag: str, settle: float) -> dict:
    dag_id, kind, _ = VARIANTS[key]
    return round_cvp(api, office, dag_id, tag, settle) if kind == "cvp" else round_hitl(api, dag_id, tag, settle)


def cell(s: dict) -> str:
    return "—" if s["median"] is None else f"{s['median']:.2f} [{s['min']:.2f}–{s['max']:.2f}] p95 {s['p95']:.2f}"


def main() -> int:
    rounds = env_int("BENCH_ROUNDS", 5)
    settle = env_float("BENCH_SETTLE", 3.0)
    parallelism = env_int("BENCH_PARALLELISM", 4)
    poll = os.environ.get("CVP_POLL_SECONDS", "0.5")
    data: dict = {
        "benchmark": "resume",
        "rounds": rounds,
        "settle_s": settle,
        "parallelism": parallelism,
        "cvp_poll_seconds": float(poll),
        "machine": machine(),
        "warmup": {},
        "results": {},
    }
    print(
        f"Reanudación tras la aprobación: {rounds} rondas (+1 de calentamiento), pausa {settle:.0f} s, "
        f"CVP_POLL_SECONDS={poll}, parallelism={parallelism}",
        flush=True,
    )

    with running_stack(parallelism=parallelism, label="resume") as stack:
        api = Api(stack, "jefe")
        api.wait_dag(CVP_DAG)
        api.wait_dag(HITL_DAG)
        # The variant exists only while RecordSensor has end_from_trigger (same file: parsed already).
        keys = [k for k in VARIANTS if api.call("GET", f"/api/v2/dags/{VARIANTS[k][0]}")[0] == 200]
        data["variants"] = {k: {"dag_id": VARIANTS[k][0], "label": VARIANTS[k][2]} for k in keys}
        print("Variantes: " + ", ".join(f"{k} ({VARIANTS[k][0]})" for k in keys), flush=True)
        office = OfficeSide(stack)
        background = env_int("BENCH_BACKGROUND", 0)
        data["background_waiting"] = background
        if background:  # runs of ours parked at the approval for the whole measurement, never approved
            t = time.perf_counter()
            parked = [f"fondo-{i}-{uuid.uuid4().hex[:6]}" for i in range(background)]
            for r in parked:
                office.prepare(r)
                api.trigger(CVP_DAG, r)
            from bench_waiting_cost import wait_all

            wait_all(api, CVP_DAG, parked, WAIT_TASK, ("deferred",))
            data["background_parked_after_s"] = time.perf_counter() - t
            print(
                f"{background} ejecuciones esperando de fondo (listas en {data['background_parked_after_s']:.0f} s)",
                flush=True,
            )
        for k in keys:
            data["warmup"][k] = run_round(api, office, k, "warmup", settle)
            data["results"][k] = []
        for i in range(rounds):
            order = keys[i % len(keys) :] + keys[: i % len(keys)]  # rotate who goes first
            for k in order:
                r = run_round(api, office, k, str(i), settle)
                data["results"][k].append(r)
                print(
                    f"  ronda {i + 1} {k:<10}: llamada {r['call']:.3f} s, scheduled {fmt(r['wake'])} s, "
                    f"success {fmt(r['sensor_done'])} s, siguiente arranca {fmt(r['next_start'])} s",
                    flush=True,
                )

        probes = env_int("BENCH_FAST_PROBES", 3)
        data["fast_probes"] = {k: [] for k in keys}
        if probes:
            print(f"Aprobación inmediata (apenas se ve el estado de espera), {probes} por variante:", flush=True)
        for i in range(probes):
            for k in keys:
                p = fast_probe(api, office, k, str(i))
                data["fast_probes"][k].append(p)
                print(
                    f"  {k:<10}: intento {p['try_number']}, respuesta {'PERDIDA' if p['answer_lost'] else 'conservada'}"
                    f", estados {'→'.join(p['wait_states_seen'])}, «siguiente» termina {fmt(p['next_done'])} s",
                    flush=True,
                )

    data["summary"] = {k: {m: summary([r[m] for r in data["results"][k]]) for m in METRICS} for k in keys}
    hitl = data["summary"]["hitl"]
    data["ratio_over_hitl"] = {
        k: {m: ratio(data["summary"][k][m]["median"], hitl[m]["median"]) for m in METRICS} for k in keys if k != "hitl"
    }
    data["difference_over_hitl_s"] = {
        k: {
            m: (data["summary"][k][m]["median"] - hitl[m]["median"])
            if data["summary"][k][m]["median"] is not None and hitl[m]["median"] is not None
            else None
            for m in METRICS
        }
        for k in keys
        if k != "hitl"
    }

    print()
    print("Segundos desde t0 (justo antes de escribir la decisión); mediana [mín–máx] de %d rondas" % rounds)
    ours = [k for k in keys if k != "hitl"]
    print(f"{'':34}" + "".join(f"{VARIANTS[k][2]:>32}" for k in keys) + "".join(f"{k + '/HITL':>16}" for k in ours))
    for m in METRICS:
        cells = "".join(f"{cell(data['summary'][k][m]):>32}" for k in keys)
        ratios = ""
        for k in ours:
            r, d = data["ratio_over_hitl"][k][m], data["difference_over_hitl_s"][k][m]
            ratios += f"{('—' if r is None else f'{r:.2f}× ({d:+.2f})'):>16}"
        print(f"{LABELS[m]:34}{cells}{ratios}")
    if data["fast_probes"] and any(data["fast_probes"].values()):
        print("\nAprobación inmediata: respuestas perdidas (la tarea pasó a un nuevo intento)")
        for k, ps in data["fast_probes"].items():
            lost = sum(p["answer_lost"] for p in ps)
            print(
                f"  {VARIANTS[k][2]:<34} {lost}/{len(ps)}; «siguiente» termina (mediana) "
                f"{fmt(summary([p['next_done'] for p in ps])['median'])} s"
            )
    path = write_result("bench_resume", data)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
