"""The lists at scale (issue 16): keyset pages, filters and counts read from the stored standing, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cvp import inbox, publishing
from cvp import procedure as P
from cvp.errors import InvalidInput
from cvp.mail import MailboxMailer
from cvp.office import Office
from cvp.publishers.outbox import OutboxPublisher
from cvp.records.models import utcnow
from tests.conftest import NEED, ONE_OFF, tiny_png
from tests.unit.test_office import TEXTS


@pytest.fixture
def office_any(records_url):
    o = Office(records_url)
    o.mailer = MailboxMailer(o.cfg.mailbox_dir)
    return o


def all_pages(fetch, limit):
    items, after, pages = [], None, 0
    while True:
        page = fetch(after=after, limit=limit)
        items += page.items
        pages += 1
        if page.next is None:
            return items, pages
        after = page.next


def seed(office, monkeypatch, count=7):
    """One-off needs opened a day apart (oldest first), every other one with its text submitted."""
    ids = []
    for i in range(count):
        with monkeypatch.context() as m:
            m.setattr(office.records, "now", lambda i=i: utcnow() - timedelta(days=count - i))
            need = office.register_need(
                dict(ONE_OFF, titulo=f"Necesidad {i}", fecha_limite=f"2099-12-{10 + i}"), "jefe", run_id=f"r{i}"
            ).id
        ids.append(need)
    for need in ids[::2]:
        office.submit_text(need, "profesional", TEXTS)
    return ids


def test_inbox_pages_cover_every_wait_once_oldest_first_with_counts(office_any, monkeypatch):
    ids = seed(office_any, monkeypatch)
    planned = office_any.register_need(NEED, "jefe", run_id="planned").id
    with office_any.session() as s:
        full = inbox.inbox(s, "profesional", P.PROFESSIONAL)
        paged, pages = all_pages(lambda **kw: inbox.inbox_page(s, "profesional", P.PROFESSIONAL, **kw), 2)
        first = inbox.inbox_page(s, "profesional", P.PROFESSIONAL, limit=2)
        head = inbox.inbox_page(s, "jefe", P.HEAD, limit=50)
        sevens = inbox.inbox_page(s, "jefe", P.HEAD, activity=7)
        others = inbox.others_page(s, "jefe", P.HEAD)
        others_counted_apart = inbox.others_page(s, "jefe", P.HEAD, mine_total=5)
        listed = inbox.needs_page(s, status="en_curso", role=P.PROFESSIONAL, limit=2)
        by_run = inbox.needs_page(s, status="todas", run_id="planned")
    assert [st.need_id for st in paged] == [st.need_id for st in full] == ids[1::2]
    assert pages == 2 and first.total == 3 and len(first.items) == 2 and first.next
    assert [st.since for st in paged] == sorted(st.since for st in paged)
    assert [(st.need_id, st.activity) for st in head.items] == [(n, 7) for n in ids[::2]] + [(planned, 2)]
    assert head.total == 5 and head.next is None
    assert [st.need_id for st in sevens.items] == ids[::2] and sevens.total == 4
    assert {st.need_id for st in others.items} == set(ids[1::2]) and others.total == 3
    assert others_counted_apart.total == 3 and others_counted_apart.items == others.items
    assert listed.total == 3 and [n.id for n, _ in listed.items] == ids[1:4:2]
    assert all(st.role == P.PROFESSIONAL and st.activity == 5 for _, st in listed.items)
    assert [(n.id, st.activity) for n, st in by_run.items] == [(planned, 2)]


def test_a_page_key_that_is_not_one_is_a_spanish_refusal(office):
    with office.session() as s:
        for bad in ("x", "1.2.3", "9" * 30 + ".1", "1." + "9" * 20):
            with pytest.raises(InvalidInput, match="clave de página"):
                inbox.inbox_page(s, "jefe", P.HEAD, after=bad)
        with pytest.raises(InvalidInput, match="clave de página"):
            inbox.calendar_page(s, date(2099, 12, 1), date(2099, 12, 31), after="1.1_x_-")


def test_calendar_pages_and_counts_agree_with_the_whole_month(office_any, monkeypatch):
    seed(office_any, monkeypatch, count=5)
    scheduled = office_any.register_need(
        dict(ONE_OFF, titulo="Programada", publicar_en="2099-12-01T23:30:00"), "jefe", run_id="s"
    ).id
    need = office_any.register_need(dict(ONE_OFF, titulo="Publicada"), "jefe", run_id="p").id
    t = office_any.submit_text(need, "profesional", TEXTS)
    office_any.decide(need, t.id, 7, P.APPROVED, "jefe")
    d = office_any.submit_design(need, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
    office_any.decide(need, d.id, 12, P.APPROVED, "jefe")
    office_any.deliver_final(need)
    publishing.publish_once(office_any, OutboxPublisher(office_any.cfg.outbox_dir, "x"), need, "x")
    today = datetime.now(UTC).astimezone(inbox.TIMEZONE).date()
    first, last = min(today, date(2099, 12, 1)), date(2099, 12, 31)
    with office_any.session() as s:
        whole = inbox.calendar(s, first, last)
        paged, pages = all_pages(lambda **kw: inbox.calendar_page(s, first, last, **kw), 2)
        counts = inbox.calendar_counts(s, first, last)
        x_only = inbox.calendar_page(s, first, last, channel="x", limit=50).items
        x_counts = inbox.calendar_counts(s, first, last, channel="x")
        due = inbox.calendar_page(s, first, last, kind=inbox.DEADLINE_KIND, limit=50).items
    assert pages > 2 and paged == whole
    assert (today, "x", "publicada", need) in [(e.day, e.channel, e.kind, e.need_id) for e in whole]
    assert (date(2099, 12, 1), "facebook", "programada", scheduled) in [
        (e.day, e.channel, e.kind, e.need_id) for e in whole
    ]
    # The published need's Facebook is still due on its deadline; its X is not.
    assert [(e.channel, e.kind) for e in whole if e.need_id == need] == [
        ("x", "publicada"),
        ("facebook", "fecha_limite"),
    ]
    tally: dict = {}
    for e in whole:
        tally.setdefault(e.day, dict.fromkeys(inbox.KIND_NAMES, 0))[e.kind] += 1
    assert counts == tally
    assert {e.channel for e in x_only} == {"x"} and sum(sum(c.values()) for c in x_counts.values()) == len(x_only)
    assert due and {e.kind for e in due} == {inbox.DEADLINE_KIND}
