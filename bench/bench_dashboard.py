"""The Tablero (issue 11) for a year of a busy office: its data and charts, timed per period.

Seeds a fresh SQLite records database in bulk with a year of work: 5,000 needs (4,500 closed over the
last 365 days, 90 % published on 4 or 5 channels and 10 % cancelled; 500 in course, as
bench_forms_scale.py spreads them), 20,000 publications and 200,000 engagement snapshots (one reading a
day for each publication's first ten days; the website never gives metrics, YouTube only views), with
their revisions, decisions (a return at point 7 for one need in five, with its comment) and audit
events. Then it times, in-process and for each period the page offers, what ``GET /cvp/tablero``
does besides the login and the HTML: ``cvp.dashboard.build`` (the SQL and pandas), ``charts.all_charts``
(matplotlib to SVG) and ``Dashboard.tables`` (the tables beside the charts); and the XLSX download.

    .venv/bin/python bench/bench_dashboard.py
    BENCH_NEEDS=5000 BENCH_PUBLICATIONS=20000 BENCH_SNAPSHOTS_PER_PUB=10 BENCH_REPEAT=7
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench_forms_scale import IN_COURSE_MIX, Seeder  # noqa: E402
from benchlib import env_int, machine, write_result  # noqa: E402

GOAL_MS = 300
CHANNELS_4 = ["x", "facebook", "instagram", "sitio_web"]
CHANNELS_5 = ["x", "facebook", "instagram", "youtube", "sitio_web"]
SOURCES = ("plan_accion", "plan_estrategico", "comite", "plan_mejoramiento")
DEPARTMENTS = ("urbanizaciones_titulacion", "reasentamientos", "mejoramiento_vivienda", "direccion_general")


class YearSeeder(Seeder):
    """bench_forms_scale's rows, over one year, with 4-5 channels per need, returns and snapshots."""

    def __init__(self, publications: int, closed: int, per_pub: int):
        super().__init__(seed=11)
        self.rows["engagement_snapshots"] = []
        self.ids["engagement_snapshots"] = 0
        self.per_pub = per_pub
        published = round(closed * 0.9)
        self.five_share = max(0.0, min(1.0, publications / published - 4))  # 4 + share = publications per need

    def need(self, **kw) -> dict:
        row = super().need(**kw)
        row["source"] = self.rnd.choice(SOURCES)
        row["department"] = self.rnd.choice(DEPARTMENTS)
        row["channels"] = list(CHANNELS_5 if self.rnd.random() < self.five_share else CHANNELS_4)
        return row

    def closed(self, i: int, total: int) -> None:
        created = self.now - timedelta(days=360 * (total - i) / total + 3, hours=self.rnd.uniform(0, 12))
        cancelled = self.rnd.random() < 0.1
        need = self.need(
            status="cancelada" if cancelled else "publicada",
            created=created,
            deadline=(created + timedelta(days=self.rnd.randint(2, 10))).date(),
            one_off=self.rnd.random() < 0.5,
        )
        t = created + timedelta(hours=self.rnd.uniform(1, 8))
        if cancelled:
            self.event(need["id"], 1, "necesidad_cancelada", "jefe", t, "Necesidad cancelada: se aplazó.")
            return
        if self.rnd.random() < 0.2:
            self.revision(need, "texto", 1, "devuelto", t, t + timedelta(hours=2))
            t += timedelta(hours=self.rnd.uniform(3, 20))
            self.revision(need, "texto", 2, "aprobado", t, t + timedelta(hours=2))
        else:
            self.revision(need, "texto", 1, "aprobado", t, t + timedelta(hours=3))
        t += timedelta(hours=self.rnd.uniform(5, 30))
        self.revision(need, "diseno", 1, "aprobado", t, t + timedelta(hours=self.rnd.uniform(1, 12)))
        published = min(self.now - timedelta(hours=1), t + timedelta(days=self.rnd.uniform(0.5, 4)))
        for channel in need["channels"]:
            self.publication(need, channel, published)
            self.snapshots(self.rows["publications"][-1])

    def snapshots(self, pub: dict) -> None:
        grow = self.rnd.uniform(0.5, 3)
        for day in range(1, self.per_pub + 1):
            at = pub["published_at"] + timedelta(days=day)
            if at > self.now:
                break
            n = grow * day
            if pub["channel"] == "sitio_web":
                metrics = {}
            elif pub["channel"] == "youtube":
                metrics = {"reproducciones": int(300 * n)}
            else:
                metrics = {
                    "impresiones": int(1000 * n),
                    "alcance": int(700 * n),
                    "reacciones": int(40 * n),
                    "comentarios": int(5 * n),
                    "compartidos": int(8 * n),
                }
            full = dict.fromkeys(
                ("impresiones", "alcance", "reacciones", "comentarios", "compartidos", "reproducciones")
            )
            full.update(metrics)
            self.rows["engagement_snapshots"].append(
                dict(
                    id=self._id("engagement_snapshots"),
                    publication_id=pub["id"],
                    channel=pub["channel"],
                    taken_at=at,
                    metrics={**full, "plataforma": {}},
                )
            )

    def insert(self, url: str) -> dict[str, int]:
        from sqlalchemy import insert

        from cvp.records.db import engine_for
        from cvp.records.models import Base, refresh_engagement_days

        snaps = self.rows.pop("engagement_snapshots")
        counts = super().insert(url)
        engine = engine_for(url)
        with engine.begin() as conn:
            for i in range(0, len(snaps), 10000):
                conn.execute(insert(Base.metadata.tables["engagement_snapshots"]), snaps[i : i + 10000])
            # What collection keeps with each snapshot (bulk rows bypass the session that would write them).
            refresh_engagement_days(conn, {snap["publication_id"] for snap in snaps})
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        self.rows["engagement_snapshots"] = snaps
        return {**counts, "engagement_snapshots": len(snaps)}


def timed(fn, repeat: int) -> tuple[list[float], list[float], object]:
    """Wall and CPU milliseconds of each call (CPU time is what the page costs this process on a busy machine)."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return wall, cpu, result


def stats(ms: list[float]) -> dict:
    ranked = sorted(ms)
    return {
        "p50": statistics.median(ms),
        "p95": ranked[max(0, -(-95 * len(ranked) // 100) - 1)],
        "min": ranked[0],
        "max": ranked[-1],
    }


def main() -> int:
    needs = env_int("BENCH_NEEDS", 5000)
    publications = env_int("BENCH_PUBLICATIONS", 20000)
    per_pub = env_int("BENCH_SNAPSHOTS_PER_PUB", 10)
    repeat = env_int("BENCH_REPEAT", 7)
    in_course = needs // 10
    home = Path(tempfile.mkdtemp(prefix="cvp-bench-tablero-"))
    os.environ["CVP_DATA_DIR"] = str(home / "datos")
    os.environ.pop("CVP_RECORDS_URL", None)

    from sqlalchemy.orm import Session

    from cvp import charts
    from cvp import dashboard as D
    from cvp import dashboard_tables as T
    from cvp.config import bogota_date
    from cvp.records.db import engine_for, migrate
    from cvp.records.models import Base  # noqa: F401 - the tables, for the seeder

    url = f"sqlite:///{home / 'registros.db'}"
    migrate(url)
    t = time.perf_counter()
    seeder = YearSeeder(publications, needs - in_course, per_pub)
    seeder.build(in_course=in_course, closed=needs - in_course)
    assert sum(s for s, _, _ in IN_COURSE_MIX) > 0.99
    counts = seeder.insert(url)
    seed_s = time.perf_counter() - t
    print(f"Sembrado en {seed_s:.0f} s: " + ", ".join(f"{k} {v:,}".replace(",", ".") for k, v in counts.items()))

    engine = engine_for(url)
    today = bogota_date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    cases = [
        ("Esta semana", D.period_for(D.THIS_WEEK, today), D.Filters()),
        ("Este mes", D.period_for(D.THIS_MONTH, today), D.Filters()),
        ("Mes anterior completo", D.Period(last_month_end.replace(day=1), last_month_end), D.Filters()),
        ("Mes anterior, canal X", D.Period(last_month_end.replace(day=1), last_month_end), D.Filters(channel="x")),
        (
            "Mes anterior, dependencia y público",
            D.Period(last_month_end.replace(day=1), last_month_end),
            D.Filters(department="reasentamientos", audience="ciudadania"),
        ),  # fmt: skip
        ("Trimestre", D.Period(today - timedelta(days=90), today), D.Filters()),
        ("Año completo (rango)", D.Period(today - timedelta(days=364), today), D.Filters()),
    ]
    charts.all_charts  # noqa: B018 - imported; matplotlib itself is imported by the warm-up below
    with Session(engine) as s:  # warm-up: imports (pandas, matplotlib, openpyxl) and SQLite's cache
        charts.all_charts(D.build(s, cases[0][1]))

    rows = []
    for name, period, filters in cases:
        with Session(engine) as s:
            data_ms, data_cpu, d = timed(lambda s=s, p=period, f=filters: D.build(s, p, f), repeat)
        cold_ms, cold_cpu, _ = timed(lambda d=d: charts.all_charts(d, cached=False), repeat)
        charts.all_charts(d)  # drawn once into the cache: the next views of the same data
        warm_ms, warm_cpu, _ = timed(lambda d=d: charts.all_charts(d), repeat)
        tables_ms, tables_cpu, _ = timed(lambda d=d: d.tables(), repeat)
        xlsx_ms, _, _ = timed(lambda d=d: T.to_xlsx(d), max(1, repeat // 2))

        def page(*parts):
            return [sum(p) for p in zip(*parts, strict=True)]

        rows.append(
            {
                "caso": name,
                "dias": period.days,
                "publicaciones": int(d.summary["publicaciones"]),
                "filas_interaccion_por_dia": int(len(d.engagement_daily)),
                "datos_ms": stats(data_ms),
                "datos_cpu_ms": stats(data_cpu),
                "graficos_ms": stats(cold_ms),
                "graficos_cpu_ms": stats(cold_cpu),
                "graficos_en_cache_ms": stats(warm_ms),
                "tablas_ms": stats(tables_ms),
                "pagina_ms": stats(page(data_ms, cold_ms, tables_ms)),
                "pagina_cpu_ms": stats(page(data_cpu, cold_cpu, tables_cpu)),
                "pagina_en_cache_ms": stats(page(data_ms, warm_ms, tables_ms)),
                "xlsx_ms": stats(xlsx_ms),
            }
        )

    print()
    head = ("Caso", "días", "pubs", "datos", "gráficos", "tablas", "página", "p95", "CPU", "caché", "XLSX")
    print("{:38} {:>5} {:>6} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}".format(*head))
    for r in rows:
        print(
            f"{r['caso']:38} {r['dias']:>5} {r['publicaciones']:>6} {r['datos_ms']['p50']:>5.0f}ms "
            f"{r['graficos_ms']['p50']:>7.0f}ms {r['tablas_ms']['p50']:>5.0f}ms {r['pagina_ms']['p50']:>5.0f}ms "
            f"{r['pagina_ms']['p95']:>5.0f}ms {r['pagina_cpu_ms']['p50']:>5.0f}ms "
            f"{r['pagina_en_cache_ms']['p50']:>5.0f}ms {r['xlsx_ms']['p50']:>5.0f}ms"
        )
    print(
        "\np50 de milisegundos de pared; «página» = datos + gráficos dibujados + tablas; «CPU» = su tiempo de CPU; "
        "«caché» = la página con los gráficos ya dibujados (mismos datos)."
    )
    print(f"Carga del equipo al empezar: {os.getloadavg()[0]:.1f}")
    print(f"Objetivo: página <= {GOAL_MS} ms. Repeticiones: {repeat}.")
    write_result(
        "bench_dashboard",
        {
            "machine": machine(),
            "counts": counts,
            "seed_seconds": seed_s,
            "repeat": repeat,
            "goal_ms": GOAL_MS,
            "cases": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
