"""The shared watcher behind every wait: batch answers, reads independent of how many wait, NOTIFY, outages."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvp import procedure as P
from cvp import waits
from cvp.errors import Conflict, InvalidInput, NotFound
from cvp_airflow.watcher import RecordsUnavailable, RecordsWatcher
from tests.conftest import NEED, ONE_OFF, tiny_png

TEXTS = {"x": "Hoy entregamos títulos.", "facebook": "Hoy entregamos títulos."}
MEETING = {"temas": ["t"], "fuentes": ["f"], "productos": ["p"], "canales": ["x"], "asistentes": ["a"]}


def _act(office, need_id: int, action: str) -> None:
    kind = P.TEXT if action.startswith("texto") else P.DESIGN
    try:
        if action == "reunion":
            office.record_meeting(need_id, "jefe", MEETING)
        elif action == "plan":
            office.record_content_plan(need_id, "jefe", {"contenidos": ["c"], "enlaces": ["e"]})
        elif action == "texto":
            office.submit_text(need_id, "profesional", dict(TEXTS))
        elif action == "diseno":
            office.submit_design(need_id, "tecnico", tiny_png(16, 16), "afiche.png", alt_text="Afiche")
        elif action in ("texto_ok", "texto_no", "diseno_ok", "diseno_no"):
            rev = office.current_revision(need_id, kind)
            if rev is not None:
                office.decide(
                    need_id,
                    rev.id,
                    7 if kind == P.TEXT else 12,
                    P.APPROVED if action.endswith("ok") else P.REJECTED,
                    "jefe",
                    comment="Ajustar",
                )
        elif action == "cancelar":
            office.cancel_need(need_id, "jefe", "Se aplazó")
    except (Conflict, InvalidInput, NotFound):
        pass  # the procedure refused it (order, state): the records stay as they were


ACTIONS = st.sampled_from(
    ["reunion", "plan", "texto", "texto_ok", "texto_no", "diseno", "diseno_ok", "diseno_no", "cancelar"]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(story=st.lists(st.tuples(st.integers(0, 2), ACTIONS), max_size=12))
def test_the_batch_answers_as_one_at_a_time(office, story):
    needs = [office.register_need(ONE_OFF if i == 1 else NEED, "jefe").id for i in range(3)]
    for i, action in story:
        _act(office, needs[i], action)
    keys = [(n, c) for n in [*needs, 999_999] for c in P.WAIT_CONDITIONS]
    with office.session() as s:
        batch = waits.conditions_met(s, keys)
    assert batch == {k: office.condition_met(*k) for k in keys if office.condition_met(*k) is not None}


async def _settle(watcher: RecordsWatcher, seconds: float) -> dict:
    before = dict(watcher.stats)
    await asyncio.sleep(seconds)
    return {k: watcher.stats[k] - before[k] for k in before}


def test_reads_do_not_grow_with_the_waits_and_a_decision_wakes_only_its_own(office):
    async def scenario():
        watcher = RecordsWatcher(office.url, poll_seconds=0.2, listen=False)
        needs = [office.register_need(ONE_OFF, "jefe").id for _ in range(200)]
        revisions = {n: office.submit_text(n, "profesional", dict(TEXTS)).id for n in needs[:2]}
        few = [asyncio.ensure_future(watcher.wait(n, P.WAIT_TEXT_APPROVED)) for n in needs[:2]]
        await asyncio.sleep(0.5)
        with_few = await _settle(watcher, 2.0)
        many = [asyncio.ensure_future(watcher.wait(n, c)) for n in needs[2:] for c in P.WAIT_CONDITIONS]
        await asyncio.sleep(1.0)
        assert watcher.waiting == 2 + 198 * 6
        with_many = await _settle(watcher, 2.0)
        # One indexed read per interval, the same with 2 waits as with 1,190; nothing re-checked.
        assert abs(with_many["queries"] - with_few["queries"]) <= 2, (with_few, with_many)
        assert with_many["checks"] == with_few["checks"] == 0
        assert 5 <= with_many["reads"] <= 12

        checked = watcher.stats["checks"]
        await asyncio.to_thread(office.decide, needs[0], revisions[needs[0]], 7, P.APPROVED, "jefe")
        info = await asyncio.wait_for(few[0], 5)
        assert info["revision_id"] == revisions[needs[0]] and info["rounds"] == 1
        assert not few[1].done() and not any(f.done() for f in many)
        assert watcher.stats["checks"] - checked == 1  # only the need that changed, only its one wait
        for f in [few[1], *many]:
            f.cancel()
        await asyncio.sleep(0.3)
        assert watcher.waiting == 0

    asyncio.run(scenario())


def test_a_wait_registered_after_its_record_answers_at_once(office):
    need = office.register_need(NEED, "jefe").id
    office.record_meeting(need, "jefe", MEETING)

    async def scenario():
        watcher = RecordsWatcher(office.url, poll_seconds=30, listen=False)
        return await asyncio.wait_for(watcher.wait(need, P.WAIT_MEETING), 5)

    assert asyncio.run(scenario())["author"] == "jefe"


def test_an_unknown_condition_is_refused():
    with pytest.raises(ValueError, match="desconocida"):
        asyncio.run(RecordsWatcher("sqlite://", listen=False).wait(1, "sin_tal_condicion"))


# --- PostgreSQL: NOTIFY, outages, late commits ---------------------------------------------------------


@pytest.fixture
def pg_office(pg_url):
    from cvp.office import Office

    return Office(pg_url)


def test_on_postgresql_a_decision_wakes_its_wait_at_once(pg_office):
    office = pg_office
    need = office.register_need(ONE_OFF, "jefe").id
    rev = office.submit_text(need, "profesional", dict(TEXTS))

    async def scenario():
        watcher = RecordsWatcher(office.url, poll_seconds=60)  # the read by cursor would take a minute
        task = asyncio.ensure_future(watcher.wait(need, P.WAIT_TEXT_APPROVED))
        deadline = time.monotonic() + 10
        while not watcher.listening and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert watcher.listening
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await asyncio.to_thread(office.decide, need, rev.id, 7, P.APPROVED, "jefe")
        info = await asyncio.wait_for(task, 5)
        return time.monotonic() - t0, info, watcher.stats

    elapsed, info, stats = asyncio.run(scenario())
    assert info["revision_id"] == rev.id
    assert elapsed < 1.0 and stats["notifications"] >= 1


class Proxy:
    """A TCP relay to PostgreSQL on loopback that a test can take away and bring back on the same port."""

    def __init__(self, target_port: int = 5432):
        self.target_port = target_port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.server.close()
        for w in list(self.writers):
            w.close()
        await self.server.wait_closed()

    async def _relay(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def _through(url: str, port: int) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def test_an_outage_shorter_than_the_grace_loses_no_decision(pg_office):
    office = pg_office
    need = office.register_need(ONE_OFF, "jefe").id
    rev = office.submit_text(need, "profesional", dict(TEXTS))

    async def scenario():
        proxy = Proxy()
        await proxy.start()
        watcher = RecordsWatcher(_through(office.url, proxy.port), poll_seconds=0.2, grace_seconds=60, listen=False)
        task = asyncio.ensure_future(watcher.wait(need, P.WAIT_TEXT_APPROVED))
        await asyncio.sleep(1.0)
        await proxy.stop()
        await asyncio.sleep(1.5)
        await asyncio.to_thread(office.decide, need, rev.id, 7, P.APPROVED, "jefe")  # during the outage
        await asyncio.sleep(1.0)
        assert not task.done() and watcher.stats["errors"] >= 1
        await proxy.start()
        info = await asyncio.wait_for(task, 60)
        await proxy.stop()
        return info

    assert asyncio.run(scenario())["revision_id"] == rev.id


def test_an_outage_longer_than_the_grace_fails_the_waits_in_spanish(pg_office):
    office = pg_office
    need = office.register_need(ONE_OFF, "jefe").id

    async def scenario():
        proxy = Proxy()
        await proxy.start()
        watcher = RecordsWatcher(_through(office.url, proxy.port), poll_seconds=0.2, grace_seconds=1.5, listen=False)
        task = asyncio.ensure_future(watcher.wait(need, P.WAIT_TEXT_SUBMITTED))
        await asyncio.sleep(0.8)
        await proxy.stop()
        with pytest.raises(RecordsUnavailable, match="La base de registros no responde desde hace"):
            await asyncio.wait_for(task, 30)

    asyncio.run(scenario())


def test_an_event_committed_after_a_later_one_is_still_seen(pg_office):
    """PostgreSQL hands out ids at insert: id n may commit after n+1 was read. The gap is read again."""
    from cvp.records.models import Event, utcnow

    office = pg_office
    need = office.register_need(ONE_OFF, "jefe").id
    with office.session() as s:
        cursor = waits.latest_event_id(s)
    slow = office.records.sessions()
    slow.begin()
    slow.add(Event(need_id=need, activity=2, action="lento", actor="jefe", summary="", detail={}, at=utcnow()))
    slow.flush()
    office.record_event(need, 3, "rapido", "jefe", "")
    with office.session() as s:
        first = waits.changes_since(s, cursor, {}, time.monotonic())
    assert first.cursor == cursor + 2 and list(first.gaps) == [cursor + 1]
    slow.commit()
    slow.close()
    with office.session() as s:
        second = waits.changes_since(s, first.cursor, first.gaps, time.monotonic())
    assert second.needs == {need} and second.gaps == {} and second.cursor == first.cursor
