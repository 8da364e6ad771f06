"""One watcher of the records per triggerer process, shared by every wait in it.

Thousands of needs may wait on people for days. Each wait only registers (need, condition) here and
awaits a future; the watcher reads the append-only trail once per interval (one query on the
primary key, whatever the number of waits), and answers only the waits whose need changed, in
batches (cvp.waits). On PostgreSQL the events table NOTIFYs on insert (migration 0005) and the
watcher LISTENs, so a decision wakes its wait at once; the read by cursor stays as the fallback and
is the only path on SQLite. A database error is retried with backoff and never ends a wait; only an
outage longer than the grace period (CVP_WATCH_GRACE_SECONDS) fails the waits, with a Spanish message.

Nothing here imports Airflow: the trigger (triggers.py) resolves the records URL and awaits ``wait``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import time
import weakref
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "cvp_eventos"  # NOTIFY channel of migration 0005
LOOKBACK_IDS = 1000  # on start, events this far back are read again (a write in flight may commit late)
MAX_BACKOFF = 30.0
LISTEN_KEEPALIVE = 60.0


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class RecordsUnavailable(Exception):
    """The records database has not answered for longer than the grace period."""


class RecordsWatcher:
    """Answers ``await wait(need_id, condition)`` for every wait of one records database in this process."""

    def __init__(
        self, url: str, *, poll_seconds: float | None = None, grace_seconds: float | None = None, listen: bool = True
    ):
        self.url = url
        self.poll_seconds = poll_seconds if poll_seconds is not None else _setting("CVP_POLL_SECONDS", 0.5)
        self.grace_seconds = grace_seconds if grace_seconds is not None else _setting("CVP_WATCH_GRACE_SECONDS", 600)
        self.listen = listen and url.startswith("postgresql")
        self._waiters: dict[tuple[int, str], set[asyncio.Future]] = {}
        self._by_need: dict[int, set[str]] = {}
        self._pending: set[tuple[int, str]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self._cursor: int | None = None
        self._gaps: dict[int, float] = {}
        self._sessions = None
        self.listening = False
        self.stats = {"queries": 0, "reads": 0, "checks": 0, "answered": 0, "notifications": 0, "errors": 0}
        # For the benchmarks: the counters, rewritten at most once a second (bench/bench_waiting_cost.py).
        self._stats_file = os.environ.get("CVP_WATCH_STATS_FILE")
        self._stats_written = 0.0

    # --- the waits' side ------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return sum(len(f) for f in self._waiters.values())

    async def wait(self, need_id: int, condition: str) -> dict:
        """The condition's summary once it holds (``{"cancelled": True}`` if the need was withdrawn)."""
        from cvp import procedure as P

        if condition not in P.WAIT_CONDITIONS:
            raise ValueError(f"Condición de espera desconocida: {condition!r}")
        key = (need_id, condition)
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(future)
        self._by_need.setdefault(need_id, set()).add(condition)
        self._pending.add(key)
        self._wake.set()
        self._ensure_running()
        try:
            return await future
        finally:
            self._forget(key, future)

    def _forget(self, key: tuple[int, str], future: asyncio.Future) -> None:
        futures = self._waiters.get(key)
        if futures is None:
            return
        futures.discard(future)
        if not futures:
            del self._waiters[key]
            self._pending.discard(key)
            conditions = self._by_need.get(key[0])
            if conditions is not None:
                conditions.discard(key[1])
                if not conditions:
                    del self._by_need[key[0]]

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            # A context of its own: the watcher's log lines belong to the triggerer, not to the first wait's task.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="cvp-records-watcher", context=contextvars.Context()
            )

    # --- the loop ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        failing_since: float | None = None
        backoff = self.poll_seconds
        try:
            while self._waiters:
                self._wake.clear()
                pending, self._pending = self._pending, set()
                try:
                    await self._step(pending)
                except Exception as exc:  # noqa: BLE001 - any database error: retried, the waits keep waiting
                    self._pending |= {k for k in pending if k in self._waiters}
                    self.stats["errors"] += 1
                    now = time.monotonic()
                    failing_since = failing_since or now
                    if now - failing_since >= self.grace_seconds:
                        self._fail_all(
                            RecordsUnavailable(
                                f"La base de registros no responde desde hace {now - failing_since:.0f} s "
                                f"(límite CVP_WATCH_GRACE_SECONDS={self.grace_seconds:.0f} s): "
                                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                            )
                        )
                        failing_since = None
                        continue
                    backoff = min(max(backoff * 2, self.poll_seconds), MAX_BACKOFF)
                    log.warning(
                        "La base de registros no responde (%s); las esperas siguen, nuevo intento en %.1f s",
                        type(exc).__name__,
                        backoff,
                    )
                    await asyncio.sleep(backoff)
                    continue
                if failing_since is not None:
                    log.info("La base de registros responde de nuevo tras %.0f s", time.monotonic() - failing_since)
                failing_since, backoff = None, self.poll_seconds
                self._write_stats()
                if self.listen and (self._listener is None or self._listener.done()):
                    self._listener = asyncio.get_running_loop().create_task(self._listen(), name="cvp-records-listen")
                if not self._pending:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            if self._listener is not None:
                self._listener.cancel()
                self._listener = None
            self.listening = False

    async def _step(self, pending: set[tuple[int, str]]) -> None:
        """Read what changed since the cursor; answer the new waits and those whose need changed."""
        needs = await asyncio.to_thread(self._read_changes)
        keys = set(pending)
        for need_id in needs:
            keys.update((need_id, c) for c in self._by_need.get(need_id, ()))
        keys &= self._waiters.keys()
        if not keys:
            return
        met = await asyncio.to_thread(self._check, keys)
        for key, info in met.items():
            for future in self._waiters.get(key, ()):
                if not future.done():
                    future.set_result(info)
                    self.stats["answered"] += 1

    def _write_stats(self) -> None:
        if not self._stats_file or time.monotonic() - self._stats_written < 1.0:
            return
        self._stats_written = time.monotonic()
        tmp = f"{self._stats_file}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {
                    **self.stats,
                    "waiting": self.waiting,
                    "listening": self.listening,
                    "pid": os.getpid(),
                    "at": time.time(),
                },
                f,
            )
        os.replace(tmp, self._stats_file)

    def _fail_all(self, exc: Exception) -> None:
        for futures in list(self._waiters.values()):
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
        log.error("%s", exc)

    # --- the database (in a worker thread) -----------------------------------------------------------

    def _session(self):
        if self._sessions is None:
            from sqlalchemy import event
            from sqlalchemy.orm import sessionmaker

            from cvp.records.db import engine_for

            engine = engine_for(self.url)

            def count(*_args) -> None:
                self.stats["queries"] += 1

            event.listen(engine, "before_cursor_execute", count)
            self._sessions = sessionmaker(engine)
        return self._sessions()

    def _read_changes(self) -> set[int]:
        from cvp import waits

        with self._session() as s, s.begin():
            if self._cursor is None:
                self._cursor = max(0, waits.latest_event_id(s) - LOOKBACK_IDS)
            changes = waits.changes_since(s, self._cursor, self._gaps, time.monotonic())
        self._cursor, self._gaps = changes.cursor, changes.gaps
        self.stats["reads"] += 1
        return changes.needs

    def _check(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], dict]:
        from cvp import waits

        with self._session() as s, s.begin():
            met = waits.conditions_met(s, keys)
        self.stats["checks"] += len(keys)
        return met

    # --- PostgreSQL: LISTEN ------------------------------------------------------------------------

    def _notified(self, *_args: Any) -> None:
        self.stats["notifications"] += 1
        self._wake.set()

    async def _listen(self) -> None:
        """Hold one LISTEN connection; on loss, reconnect with backoff (the cursor read covers the gap)."""
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        params = {
            "user": url.username,
            "password": url.password,
            "host": url.host or "127.0.0.1",
            "port": url.port or 5432,
            "database": url.database,
        }
        backoff = 1.0
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(**params, timeout=10)
            except Exception as exc:  # noqa: BLE001 - any failure to listen: the cursor read still works
                log.warning(
                    "Sin LISTEN en la base de registros (%s); se usa solo la lectura periódica", type(exc).__name__
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            try:
                conn.add_termination_listener(lambda _c: lost.set())  # noqa: B023 - this connection's event
                await conn.add_listener(CHANNEL, self._notified)
                self.listening, backoff = True, 1.0
                self._wake.set()  # a notification may have come while we were not listening
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), LISTEN_KEEPALIVE)
                    except TimeoutError:
                        await conn.execute("SELECT 1")
            except Exception:  # noqa: BLE001, S110 - a lost connection: listen again after the pause
                pass
            finally:
                self.listening = False
                if not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(backoff)


_WATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shared_watcher(url: str) -> RecordsWatcher:
    """The watcher of ``url`` for the running event loop (one per triggerer process)."""
    loop = asyncio.get_running_loop()
    per_loop = _WATCHERS.setdefault(loop, {})
    if url not in per_loop:
        per_loop[url] = RecordsWatcher(url)
    return per_loop[url]
