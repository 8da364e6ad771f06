"""Shared pieces of the stack benchmarks: a throw-away Airflow stack on free ports, a small REST client,
the office's side of a need, and per-component CPU/RSS sampling.

The stack is the product's own (scripts/stack.py), with ``dags_folder=bench/dags`` and a temporary
AIRFLOW_HOME; it is always stopped, and any task process it left behind is killed by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT / "scripts"))

from stack import COMPONENTS, Stack, StackApi, free_port  # noqa: E402

CVP_DAG = "bench_cvp_wait"
HITL_DAG = "bench_hitl_wait"
CVP_WORKER_DAG = "bench_cvp_wait_worker"
WAIT_TASK = "esperar_aprobacion"
NEXT_TASK = "siguiente"

sys.path.insert(0, str(ROOT))
from tests.conftest import NEED  # noqa: E402  (a valid need, shared with the tests)

TEXTS = {"x": "Hoy entregamos 118 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 118 títulos."}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def parse_ts(value: str | None) -> float | None:
    """An API timestamp (ISO 8601 with offset) as POSIX seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def summary(values: list[float]) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "p95": None}
    ranked = sorted(vals)
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "p95": ranked[max(0, -(-95 * len(ranked) // 100) - 1)],
    }  # nearest rank


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = os.environ.get("BENCH_TAG", "").strip()
    path = RESULTS / (f"{name}-{tag}.json" if tag else f"{name}.json")
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_at_start": os.getloadavg(),
        "measured_at": datetime.now(UTC).isoformat(),
    }


# --- REST client ----------------------------------------------------------------------------------


class Api(StackApi):
    """The stack's REST client; a failed trigger stops the benchmark."""

    def trigger(self, dag_id: str, run_id: str, conf: dict | None = None):
        status, body = self.trigger_dag(dag_id, run_id, conf)
        if status != 200:
            raise RuntimeError(f"trigger {dag_id}/{run_id}: {status} {body}")
        return body

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {k: v["state"] for k, v in self.task_instances(dag_id, run_id).items()}

    def wait_task(
        self, dag_id: str, run_id: str, task_id: str, states, timeout: float = 180, every: float = 0.5
    ) -> str:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.task_states(dag_id, run_id).get(task_id)
            if state in states:
                return state
            if state in ("failed", "upstream_failed"):
                raise RuntimeError(f"{dag_id}/{run_id}/{task_id} {state}: {self.task_states(dag_id, run_id)}")
            time.sleep(every)
        raise TimeoutError(f"{dag_id}/{run_id}/{task_id} never reached {states} (last {state})")

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has parsed and serialized the DAG."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.call("GET", f"/api/v2/dags/{dag_id}")
            if status == 200:
                status, _ = self.call("GET", f"/api/v2/dags/{dag_id}/details")
                if status == 200:
                    return
            time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} not parsed in {timeout:.0f} s")

    def approve_hitl(self, dag_id: str, run_id: str, task_id: str = WAIT_TASK, map_index: int = -1):
        return self.call(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
            {"chosen_options": ["Approve"], "params_input": {}},
        )

    def pool(self, name: str = "default_pool") -> dict:
        return self.call("GET", f"/api/v2/pools/{name}")[1]


# --- the office's side --------------------------------------------------------------------------


class OfficeSide:
    """Registers needs with a first text (so the sensor waits for the approval) and approves them."""

    def __init__(self, stack: Stack):
        for k, v in stack.env({}).items():
            if k.startswith("CVP_"):
                os.environ[k] = v
        from cvp.office import Office

        self.office = Office(stack.records_url)
        self.pending: dict[str, tuple[int, int]] = {}

    def prepare(self, run_id: str) -> None:
        need = self.office.register_need(dict(NEED, accion_puntual=True), "jefe", run_id=run_id)  # straight to 5
        rev = self.office.submit_text(need.id, "profesional", dict(TEXTS))
        self.pending[run_id] = (need.id, rev.id)

    def approve(self, run_id: str) -> None:
        need_id, rev_id = self.pending.pop(run_id)
        self.office.decide(need_id, rev_id, 7, "aprobado", "jefe")


# --- the stack ----------------------------------------------------------------------------------


def _descendants(pids: list[int]) -> set[int]:
    import psutil

    found: set[int] = set()
    for pid in pids:
        try:
            p = psutil.Process(pid)
            found.add(pid)
            found.update(c.pid for c in p.children(recursive=True))
        except psutil.Error:
            pass
    return found


def component_pids(stack: Stack) -> dict[str, int]:
    pids = {}
    for c in COMPONENTS:
        try:
            pids[c] = int(stack.pidfile(c).read_text())
        except (FileNotFoundError, ValueError):
            pass
    return pids


@contextlib.contextmanager
def running_stack(parallelism: int = 4, label: str = "bench"):
    """Yield a started, healthy Stack on free ports with bench/dags, in a temporary AIRFLOW_HOME.

    The triggerer holds up to 10,000 triggers (Airflow's default is 1,000) and its records watcher
    writes its counters to ``watcher.json`` in the home, so queries are counted, not estimated.
    """
    home = Path(tempfile.mkdtemp(prefix=f"cvp-{label}-"))
    stack = Stack(
        home,
        port=free_port(),
        log_port=free_port(),
        trigger_log_port=free_port(),
        parallelism=parallelism,
        dags_folder=BENCH / "dags",
        extra_env={
            "CVP_WATCH_STATS_FILE": str(home / "watcher.json"),
            "AIRFLOW__TRIGGERER__CAPACITY": os.environ.get("BENCH_TRIGGERER_CAPACITY", "10000"),
        },
    )
    seen: set[int] = set()
    ok = False
    try:
        t0 = time.perf_counter()
        with _quiet(home / "setup.log"):
            stack.setup()
        stack.start()
        stack.wait_ready()
        print(f"[stack] listo en {time.perf_counter() - t0:.0f} s: {stack.base_url} (AIRFLOW_HOME={home})", flush=True)
        stack._bench_seen = seen  # type: ignore[attr-defined]
        yield stack
        ok = True
    finally:
        # Task processes put themselves in their own process group: note them before the group kill.
        seen |= _descendants(list(component_pids(stack).values()))
        stack.stop()
        _kill_leftovers(seen)
        if not ok:
            for name in COMPONENTS:
                log = home / "logs" / f"{name}.log"
                if log.exists():
                    print(f"===== {name} (últimas líneas)\n" + log.read_text(errors="replace")[-3000:], file=sys.stderr)
        if os.environ.get("BENCH_KEEP_HOME"):
            print(f"[stack] AIRFLOW_HOME conservado: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
        print("[stack] detenido", flush=True)


def watcher_stats(stack: Stack) -> dict:
    """The triggerer's records watcher counters (queries, reads, checks…), as it last wrote them."""
    try:
        return json.loads((stack.home / "watcher.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


@contextlib.contextmanager
def _quiet(log: Path):
    """Send this process's stdout/stderr (and its children's) to a file for the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _kill_leftovers(pids: set[int]) -> None:
    import psutil

    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.is_running() and "airflow" in " ".join(p.cmdline()):
                procs.append(p)
        except psutil.Error:
            pass
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=5)


# --- sampling -----------------------------------------------------------------------------------

WORKER_TITLE = "airflow worker -- LocalExecutor"


def process_census(stack: Stack) -> dict:
    """Processes per component, LocalExecutor workers busy/idle, and task processes (children of workers)."""
    import psutil

    out: dict = {"components": {}, "workers_total": 0, "workers_busy": 0, "task_processes": 0, "busy_titles": []}
    for comp, pid in component_pids(stack).items():
        tree = _descendants([pid])
        out["components"][comp] = len(tree)
        if comp != "scheduler":
            continue
        for p_pid in tree:
            try:
                p = psutil.Process(p_pid)
                title = " ".join(p.cmdline())
            except psutil.Error:
                continue
            if title.startswith(WORKER_TITLE):
                out["workers_total"] += 1
                if not title.rstrip().endswith("<idle>"):
                    out["workers_busy"] += 1
                    out["busy_titles"].append(title)
                with contextlib.suppress(psutil.Error):
                    out["task_processes"] += len(p.children())
    return out


def sample_components(stack: Stack, seconds: float, every: float = 0.5) -> dict:
    """CPU seconds (user+system) and mean/max RSS of each component's whole process tree over a window.

    CPU is summed per PID as the growth since the PID was first seen (a PID born inside the window
    counts in full), so short-lived children are counted as long as one sample catches them.
    """
    import psutil

    pids = component_pids(stack)
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    owner: dict[int, str] = {}
    rss: dict[str, list[float]] = {c: [] for c in pids}
    nproc: dict[str, list[int]] = {c: [] for c in pids}

    def cpu(p) -> float:
        t = p.cpu_times()
        return t.user + t.system

    def tick(initial: bool) -> None:
        for comp, root in pids.items():
            total_rss = 0
            n = 0
            for pid in _descendants([root]):
                try:
                    p = psutil.Process(pid)
                    c = cpu(p)
                    r = p.memory_info().rss
                except psutil.Error:
                    continue
                if pid not in first:
                    first[pid] = c if initial else 0.0
                    owner[pid] = comp
                last[pid] = c
                total_rss += r
                n += 1
            rss[comp].append(total_rss / 2**20)
            nproc[comp].append(n)

    start = time.monotonic()
    tick(True)
    while time.monotonic() - start < seconds:
        time.sleep(every)
        tick(False)
    elapsed = time.monotonic() - start
    result = {}
    for comp in pids:
        cpu_s = sum(last[p] - first[p] for p in last if owner[p] == comp)
        result[comp] = {
            "cpu_s": cpu_s,
            "cpu_pct": 100 * cpu_s / elapsed,
            "rss_mib_mean": statistics.mean(rss[comp]),
            "rss_mib_max": max(rss[comp]),
            "processes_max": max(nproc[comp]),
        }
    result["total"] = {
        "cpu_s": sum(v["cpu_s"] for v in result.values()),
        "rss_mib_mean": sum(v["rss_mib_mean"] for v in result.values() if isinstance(v, dict)),
        "processes_max": sum(v["processes_max"] for v in result.values()),
    }
    result["total"]["cpu_pct"] = 100 * result["total"]["cpu_s"] / elapsed
    result["window_s"] = elapsed
    return result
