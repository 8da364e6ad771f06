"""The forms at district scale (issue 16): every list page and API with 10,000 needs in course and 100,000 closed.

Seeds a fresh records database (SQLite file, then a throw-away PostgreSQL database) in bulk with
realistic rows: each need with the documents, revisions, decisions, publications and audit events
its place in the procedure implies (in course: 40 % waiting for the head, 30 % for the professional,
20 % for the technician, 10 % for the system; closed: 90 % published, 10 % cancelled), then lets
cvp.state fill where each need in course stands, as migration 0007 does. The forms app is served by
uvicorn in a child process on 127.0.0.1 (a free port), with real Airflow JWTs; the records engine
counts SQL statements. For each list page and API it reports p50/p95 latency, bytes and statements
per request, with 1 client and with 20 concurrent clients.

    .venv/bin/python bench/bench_forms_scale.py
    BENCH_IN_COURSE=10000 BENCH_CLOSED=100000 BENCH_REQUESTS=30 BENCH_CLIENTS=20 BENCH_DATABASES=sqlite,postgresql

PostgreSQL: BENCH_PG_ADMIN_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "plugins"))

from benchlib import env_int, free_port, machine, summary, write_result  # noqa: E402

USERS = {"jefe": "user", "profesional": "user", "tecnico": "user", "lector": "viewer"}
MONTH = datetime.now(UTC).strftime("%Y-%m")
LAST_MONTH = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")  # full of publications
LISTS = [  # (name, user, path)
    ("GET /api/yo (piso: sesión y marco, sin registros)", "lector", "/cvp/api/yo"),
    ("Mi bandeja (página), Jefe", "jefe", "/cvp/"),
    ("Mi bandeja (página), Profesional", "profesional", "/cvp/"),
    ("Necesidades en curso (página)", "lector", "/cvp/necesidades"),
    ("Todas las necesidades (página)", "lector", "/cvp/necesidades?estado=todas"),
    ("Calendario del mes (página)", "lector", f"/cvp/calendario?mes={MONTH}"),
    ("Calendario del mes anterior (página)", "lector", f"/cvp/calendario?mes={LAST_MONTH}"),
    ("GET /api/bandeja, Jefe", "jefe", "/cvp/api/bandeja"),
    ("GET /api/bandeja, Profesional", "profesional", "/cvp/api/bandeja"),
    ("GET /api/necesidades", "lector", "/cvp/api/necesidades"),
    ("GET /api/necesidades?estado=todas", "lector", "/cvp/api/necesidades?estado=todas"),
    ("GET /api/calendario", "lector", f"/cvp/api/calendario?mes={MONTH}"),
    ("GET /api/calendario (mes anterior)", "lector", f"/cvp/api/calendario?mes={LAST_MONTH}"),
]
PLACES = ("Ciudad Bolívar", "Usme", "Bosa", "Kennedy", "San Cristóbal", "Rafael Uribe Uribe", "Suba", "Engativá")
CHANNEL_SETS = (["x", "facebook"], ["x", "facebook", "instagram"], ["facebook", "sitio_web"], ["x"])
# Where the needs in course stand: (share, activity, detail)
IN_COURSE_MIX = (
    (0.10, 2, ""),
    (0.05, 3, ""),
    (0.20, 7, ""),
    (0.05, 12, ""),
    (0.20, 5, ""),
    (0.10, 8, ""),
    (0.15, 10, ""),
    (0.05, 10, "rediseno"),
    (0.10, 13, ""),
)


def env_setup(home: Path) -> None:
    os.environ.setdefault("AIRFLOW_HOME", str(home / "airflow"))
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "bench-" + "x" * 80)
    os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = (
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, r in USERS.items())
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["CVP_DATA_DIR"] = str(home / "datos")
    os.environ.pop("CVP_RECORDS_URL", None)


# --- seeding in bulk ----------------------------------------------------------------------------


class Seeder:
    """Rows as the office writes them, built in memory and inserted with executemany (not act by act)."""

    def __init__(self, seed: int = 16):
        self.rnd = random.Random(seed)
        self.rows: dict[str, list[dict]] = {
            t: [] for t in ("needs", "documents", "revisions", "decisions", "publications", "events")
        }
        self.ids = {t: 0 for t in self.rows}
        self.now = datetime.now(UTC).replace(microsecond=0)

    def _id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def event(self, need: int, activity: int, action: str, actor: str, at: datetime, summary: str) -> None:
        self.rows["events"].append(
            dict(
                id=self._id("events"),
                need_id=need,
                activity=activity,
                action=action,
                actor=actor,
                at=at,
                summary=summary,
                detail={},
            )
        )

    def need(self, *, status: str, created: datetime, deadline: date, one_off: bool, publish_at=None) -> dict:
        nid = self._id("needs")
        place = self.rnd.choice(PLACES)
        row = dict(
            id=nid,
            run_id=f"bench-{nid}",
            title=f"Entrega de títulos en {place} ({nid})",
            description=f"Divulgar la entrega de títulos de propiedad a hogares de {place}. " * 3,
            source="plan_accion",
            source_reference="",
            audiences=["ciudadania", "hogares_beneficiarios"],
            channels=list(self.rnd.choice(CHANNEL_SETS)),
            one_off=one_off,
            deadline=deadline,
            department="urbanizaciones_titulacion",
            requested_by="jefe",
            publish_at=publish_at,
            status=status,
            created_at=created,
            step_label="",
        )
        self.rows["needs"].append(row)
        self.event(nid, 1, "necesidad_registrada", "jefe", created, "Necesidad registrada.")
        return row

    def document(self, need: dict, activity: int, kind: str, at: datetime) -> None:
        self.rows["documents"].append(
            dict(
                id=self._id("documents"),
                need_id=need["id"],
                activity=activity,
                kind=kind,
                data={"temas": ["Entrega"], "contenidos": ["Afiche"]},
                rendered="<p>Registro</p>",
                author="jefe",
                created_at=at,
            )
        )
        self.event(need["id"], activity, f"{kind}_registrado", "jefe", at, "Registro guardado.")

    def revision(
        self, need: dict, kind: str, number: int, state: str, at: datetime, decided: datetime | None = None
    ) -> None:
        rid = self._id("revisions")
        texts = (
            {c: f"Hoy entregamos títulos en {need['title']}. #CVP" for c in need["channels"]} if kind == "texto" else {}
        )
        self.rows["revisions"].append(
            dict(
                id=rid,
                need_id=need["id"],
                kind=kind,
                number=number,
                state=state,
                author="profesional" if kind == "texto" else "tecnico",
                created_at=at,
                texts=texts,
                title=need["title"],
                note="",
                checks=[],
                filename="afiche.png" if kind == "diseno" else "",
                stored_path=f"archivos/{need['id']}/{uuid.UUID(int=rid).hex}.png" if kind == "diseno" else "",
                media_type="image/png" if kind == "diseno" else "",
                size=48213 if kind == "diseno" else 0,
                sha256=hashlib.sha256(str(rid).encode()).hexdigest() if kind == "diseno" else "",
                alt_text="Afiche" if kind == "diseno" else "",
            )
        )
        self.event(
            need["id"],
            5 if kind == "texto" else 10,
            f"{kind}_presentado",
            "profesional" if kind == "texto" else "tecnico",
            at,
            f"Revisión {number} presentada.",
        )
        if decided is not None:
            point = 7 if kind == "texto" else 12
            self.rows["decisions"].append(
                dict(
                    id=self._id("decisions"),
                    need_id=need["id"],
                    revision_id=rid,
                    control_point=point,
                    decision=state,
                    comment="" if state == "aprobado" else "Precisar la cifra",
                    decided_by="jefe",
                    decided_at=decided,
                    publish_at=None,
                )
            )
            self.event(need["id"], point, f"{kind}_{state}", "jefe", decided, f"Revisión {number}: {state}.")

    def publication(self, need: dict, channel: str, at: datetime, state: str = "publicado") -> None:
        text = next(
            r["id"] for r in reversed(self.rows["revisions"]) if r["need_id"] == need["id"] and r["kind"] == "texto"
        )
        design = next(
            r["id"] for r in reversed(self.rows["revisions"]) if r["need_id"] == need["id"] and r["kind"] == "diseno"
        )
        pid = self._id("publications")
        self.rows["publications"].append(
            dict(
                id=pid,
                need_id=need["id"],
                text_revision_id=text,
                design_revision_id=design,
                channel=channel,
                state=state,
                fingerprint=hashlib.sha256(f"{pid}".encode()).hexdigest(),
                remote_id=str(10**12 + pid),
                url=f"https://example.org/{channel}/{pid}",
                attempts=1,
                error="",
                created_at=at,
                updated_at=at,
                published_at=at if state == "publicado" else None,
            )
        )
        if state == "publicado":
            self.event(need["id"], 14, "publicado", "sistema", at, f"Publicada en {channel}.")

    def in_course(self, activity: int, detail: str) -> None:
        created = self.now - timedelta(days=self.rnd.uniform(1, 60))
        one_off = activity != 2 and activity != 3 and self.rnd.random() < 0.5
        deadline = (self.now + timedelta(days=self.rnd.randint(-20, 75))).date()
        publish_at = (
            self.now + timedelta(days=self.rnd.randint(1, 40), hours=self.rnd.randint(0, 23))
            if self.rnd.random() < 0.2
            else None
        )
        need = self.need(status="en_curso", created=created, deadline=deadline, one_off=one_off, publish_at=publish_at)
        t = created + timedelta(hours=self.rnd.uniform(1, 24))

        def later():
            nonlocal t
            t = min(self.now, t + timedelta(hours=self.rnd.uniform(1, 48)))
            return t

        if activity == 2:
            return
        if not one_off:
            self.document(need, 2, "registro_reunion", later())
            if activity == 3:
                return
            self.document(need, 3, "plan_contenidos", later())
        if activity == 5:
            return
        if activity == 7:
            self.revision(need, "texto", 1, "presentado", later())
            return
        if activity == 8:
            self.revision(need, "texto", 1, "devuelto", later(), later())
            return
        self.revision(need, "texto", 1, "aprobado", later(), later())
        if activity == 10 and not detail:
            return
        if activity == 10:
            self.revision(need, "diseno", 1, "devuelto", later(), later())
            return
        if activity == 12:
            self.revision(need, "diseno", 1, "presentado", later())
            return
        self.revision(need, "diseno", 1, "aprobado", later(), later())

    def closed(self, i: int, total: int) -> None:
        created = self.now - timedelta(days=1095 * (total - i) / total + 5)
        cancelled = self.rnd.random() < 0.1
        need = self.need(
            status="cancelada" if cancelled else "publicada",
            created=created,
            deadline=(created + timedelta(days=self.rnd.randint(5, 30))).date(),
            one_off=self.rnd.random() < 0.5,
        )
        t = created + timedelta(hours=4)
        if cancelled:
            self.event(need["id"], 1, "necesidad_cancelada", "jefe", t, "Necesidad cancelada: se aplazó.")
            return
        self.revision(need, "texto", 1, "aprobado", t, t + timedelta(hours=3))
        self.revision(need, "diseno", 1, "aprobado", t + timedelta(hours=8), t + timedelta(hours=20))
        published = min(self.now - timedelta(hours=1), t + timedelta(days=self.rnd.uniform(1, 3)))
        for channel in need["channels"]:
            self.publication(need, channel, published)

    def build(self, in_course: int, closed: int) -> None:
        for i in range(closed):
            self.closed(i, closed)
        plan = []
        for share, activity, detail in IN_COURSE_MIX:
            plan += [(activity, detail)] * round(share * in_course)
        self.rnd.shuffle(plan)
        for activity, detail in plan[:in_course]:
            self.in_course(activity, detail)

    def insert(self, url: str) -> dict[str, int]:
        from sqlalchemy import insert

        from cvp import state
        from cvp.records.db import engine_for
        from cvp.records.models import Base

        engine = engine_for(url)
        tables = Base.metadata.tables
        with engine.begin() as conn:
            for table in ("needs", "documents", "revisions", "decisions", "publications", "events"):
                rows = self.rows[table]
                for i in range(0, len(rows), 5000):
                    conn.execute(insert(tables[table]), rows[i : i + 5000])
            if engine.dialect.name == "postgresql":
                for table in self.rows:
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our own table names
                        f"(SELECT max(id) FROM {table}))"
                    )
            filled = state.backfill(conn)  # where each need in course stands, as migration 0007 fills it
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # The steady state autovacuum keeps on PostgreSQL (statistics, visibility map).
            conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
        return {**{t: len(r) for t, r in self.rows.items()}, "standing_filled": filled}


# --- the server (child process) -----------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The forms app as the api-server mounts it, plus /_bench/sql (statements counted by the records engine)."""
    import uvicorn
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.models.revoked_token import RevokedToken
    from fastapi import FastAPI
    from sqlalchemy import event

    from cvp.mail import MailboxMailer
    from cvp.office import Office
    from cvp_airflow.web.app import create_app
    from cvp_airflow.web.services import get_mailer, get_office

    RevokedToken.is_revoked = classmethod(lambda cls, jti, session=None: False)  # no Airflow database here
    create_auth_manager()  # Airflow's own login (real JWTs), as the api-server sets it up
    office = Office(url)
    counter = {"statements": 0}

    @event.listens_for(office.engine, "before_cursor_execute")
    def _count(*_args, **_kw):
        counter["statements"] += 1

    sub = create_app()
    sub.dependency_overrides[get_office] = lambda: office
    sub.dependency_overrides[get_mailer] = lambda: MailboxMailer(office.cfg.mailbox_dir)
    parent = FastAPI()

    @parent.get("/_bench/sql")
    def statements() -> dict:
        return dict(counter)

    parent.mount("/cvp", sub)
    uvicorn.run(parent, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def tokens() -> dict[str, str]:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = create_auth_manager()
    return {u: manager.generate_jwt(SimpleAuthManagerUser(username=u, role=r)) for u, r in USERS.items()}


# --- the measurement ----------------------------------------------------------------------------


async def measure(base: str, jwt: dict[str, str], requests: int, clients: int) -> list[dict]:
    import httpx

    limits = httpx.Limits(max_connections=clients + 2)
    out = []
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def sql() -> int:
            return (await http.get("/_bench/sql")).json()["statements"]

        async def one(user: str, path: str) -> tuple[float, int, int]:
            t0 = time.perf_counter()
            r = await http.get(path, cookies={"_token": jwt[user]})
            return time.perf_counter() - t0, r.status_code, len(r.content)

        for name, user, path in LISTS:
            for _ in range(3):  # warm-up: templates compiled, connections open
                await one(user, path)
            single, per_request, sizes, errors = [], [], [], 0
            for _ in range(requests):
                before = await sql()
                elapsed, status, size = await one(user, path)
                per_request.append(await sql() - before)  # the counter itself runs no SQL
                single.append(elapsed)
                sizes.append(size)
                errors += status != 200
            before = await sql()
            rounds = max(1, (requests * 3) // clients)
            t0 = time.perf_counter()
            results = await asyncio.gather(*[one(user, path) for _ in range(rounds * clients)])
            wall = time.perf_counter() - t0
            concurrent_sql = (await sql() - before) / len(results)
            conc = [r[0] for r in results]
            errors_conc = sum(r[1] != 200 for r in results)
            s1, s20 = summary(single), summary(conc)
            out.append(
                {
                    "list": name,
                    "path": path,
                    "user": user,
                    "p50_ms_1": s1["median"] * 1000,
                    "p95_ms_1": s1["p95"] * 1000,
                    "p50_ms_n": s20["median"] * 1000,
                    "p95_ms_n": s20["p95"] * 1000,
                    "clients": clients,
                    "requests_n": len(results),
                    "throughput_n": len(results) / wall,
                    "sql_per_request": max(per_request),
                    "sql_per_request_min": min(per_request),
                    "sql_per_request_n": concurrent_sql,
                    "bytes": max(sizes),
                    "errors": errors + errors_conc,
                }
            )
            print(
                f"  {name:42s} 1: p50 {s1['median'] * 1000:6.1f} ms p95 {s1['p95'] * 1000:6.1f} ms | "
                f"{clients}: p50 {s20['median'] * 1000:7.1f} ms p95 {s20['p95'] * 1000:7.1f} ms | "
                f"SQL {max(per_request)} | {max(sizes) / 1024:6.1f} KB | errores {errors + errors_conc}",
                flush=True,
            )
    return out


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the forms server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_bench/sql", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise TimeoutError("the forms server did not start")


def run_database(kind: str, home: Path, in_course: int, closed: int, requests: int, clients: int) -> dict:
    from sqlalchemy import create_engine

    from cvp.records.db import engine_for, migrate

    admin = None
    if kind == "sqlite":
        url = f"sqlite:///{home / f'registros-{uuid.uuid4().hex[:6]}.db'}"
    else:
        admin_url = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
        name = f"cvp_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    proc = None
    try:
        migrate(url)
        t0 = time.perf_counter()
        seeder = Seeder()
        seeder.build(in_course, closed)
        built = time.perf_counter() - t0
        counts = seeder.insert(url)
        seeded = time.perf_counter() - t0
        del seeder
        engine_for(url).dispose()
        print(f"{kind}: {counts} (built {built:.0f} s, seeded in {seeded:.0f} s)", flush=True)
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)], env=os.environ.copy())
        wait_up(port, proc)
        results = asyncio.run(measure(f"http://127.0.0.1:{port}", tokens(), requests, clients))
        return {
            "database": kind,
            "rows": counts,
            "seed_seconds": seeded,
            "lists": results,
            "loadavg_after": os.getloadavg(),
        }
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if admin is not None:
            engine_for(url).dispose()
            engine_for.cache_clear()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    in_course, closed = env_int("BENCH_IN_COURSE", 10_000), env_int("BENCH_CLOSED", 100_000)
    requests, clients = env_int("BENCH_REQUESTS", 30), env_int("BENCH_CLIENTS", 20)
    databases = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
    data = {
        "machine": machine(),
        "in_course": in_course,
        "closed": closed,
        "requests": requests,
        "clients": clients,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="cvp-bench-forms-") as tmp:
        home = Path(tmp)
        env_setup(home)
        # Airflow's own metadata database, as the api-server has it (the pages ask it for the waiting line).
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            env=os.environ.copy(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"Airflow metadata database migrated in {time.perf_counter() - t0:.0f} s", flush=True)
        for kind in databases:
            data["runs"].append(run_database(kind.strip(), home, in_course, closed, requests, clients))
    path = write_result("bench_forms_scale", data)
    print(f"\n{json.dumps({'written': str(path)})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
