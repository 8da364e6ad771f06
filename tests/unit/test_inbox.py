"""What waits on whom, the timeline and the calendar, derived from the records (no Airflow)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from cvp import inbox
from cvp import procedure as P
from cvp.records.models import Need, Publication, Revision, utcnow
from tests.conftest import NEED, tiny_png
from tests.unit.test_office import MEETING, TEXTS

PLAN = {"contenidos": ["Afiche"], "enlaces": ["Enlace DUT"]}


def step_of(office, need_id):
    with office.session() as s:
        return inbox.next_step(s, s.get(Need, need_id))


def inbox_of(office, username, role):
    with office.session() as s:
        return inbox.inbox(s, username, role)


def test_steps_follow_the_procedure_from_meeting_to_publication(office):
    need = office.register_need(NEED, "jefe", run_id="r").id
    st = step_of(office, need)
    assert (st.role, st.activity) == (P.HEAD, 2)
    office.record_meeting(need, "jefe", MEETING)
    assert (step_of(office, need).role, step_of(office, need).activity) == (P.HEAD, 3)
    office.record_content_plan(need, "jefe", PLAN)
    assert (step_of(office, need).role, step_of(office, need).activity) == (P.PROFESSIONAL, 5)

    rev1 = office.submit_text(need, "profesional", TEXTS)
    st = step_of(office, need)
    assert (st.role, st.activity, st.revision_id, st.author) == (P.HEAD, 7, rev1.id, "profesional")
    office.decide(need, rev1.id, 7, P.REJECTED, "jefe", "Precisar la cifra")
    st = step_of(office, need)
    assert (st.role, st.activity, st.comment) == (P.PROFESSIONAL, 8, "Precisar la cifra")
    rev2 = office.submit_text(need, "profesional", TEXTS, note="cifra")
    assert step_of(office, need).revision_id == rev2.id
    office.decide(need, rev2.id, 7, P.APPROVED, "jefe")
    assert (step_of(office, need).role, step_of(office, need).activity) == (P.TECHNICIAN, 10)

    d1 = office.submit_design(need, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
    assert (step_of(office, need).activity, step_of(office, need).revision_id) == (12, d1.id)
    office.decide(need, d1.id, 12, P.REJECTED, "jefe", "Logo más grande")
    st = step_of(office, need)
    assert (st.role, st.activity, st.comment) == (P.TECHNICIAN, 10, "Logo más grande")
    assert "Rediseñar" in st.label
    d2 = office.submit_design(need, "tecnico", tiny_png(9, 9), "a.png", alt_text="Afiche")
    office.decide(need, d2.id, 12, P.APPROVED, "jefe")
    assert step_of(office, need).role == P.SYSTEM

    with office.session() as s:
        s.execute(update(Need).where(Need.id == need).values(status="publicada"))
    assert step_of(office, need) is None


def test_one_off_need_waits_on_the_professional_first(office):
    need = office.register_need(dict(NEED, accion_puntual=True), "jefe", run_id="r").id
    st = step_of(office, need)
    assert (st.role, st.activity) == (P.PROFESSIONAL, 5)


def test_inbox_is_per_role_oldest_first_and_never_offers_own_work(office, monkeypatch):
    first = office.register_need(dict(NEED, accion_puntual=True), "jefe", run_id="a").id
    second = office.register_need(dict(NEED, accion_puntual=True, titulo="Segunda necesidad"), "jefe", run_id="b").id
    third = office.register_need(NEED, "jefe", run_id="c").id
    # The first need's text was submitted later but the need is older: the wait, not the need, orders.
    with monkeypatch.context() as m:  # submitted three days ago (a revision is never changed afterwards)
        m.setattr(office.records, "now", lambda: utcnow() - timedelta(days=3))
        rev_b = office.submit_text(second, "profesional", TEXTS)
    rev_a = office.submit_text(first, "profesional", TEXTS)

    head = inbox_of(office, "jefe", P.HEAD)
    assert [(st.need_id, st.activity) for st in head] == [(second, 7), (third, 2), (first, 7)]
    assert [st.revision_id for st in head if st.activity == 7] == [rev_b.id, rev_a.id]
    assert inbox_of(office, "profesional", P.PROFESSIONAL) == []
    assert inbox_of(office, "admin", P.READER) == []
    # Someone who is both author and head (a changed team file) is not offered their own revision.
    assert [st.need_id for st in inbox_of(office, "profesional", P.HEAD)] == [third]


def test_age_against_the_deadline():
    st = inbox.Step(1, "t", P.HEAD, 7, "x", since=datetime(2026, 11, 1, 15, tzinfo=UTC), deadline=date(2026, 11, 5))
    assert st.days_waiting(datetime(2026, 11, 3, 16, tzinfo=UTC)) == 2
    assert st.days_left(date(2026, 11, 3)) == 2
    assert st.days_left(date(2026, 11, 7)) == -2
    # 23:30 in Bogotá is already the next day in UTC: the office's day is Bogotá's.
    assert inbox.today_bogota(datetime(2026, 11, 4, 4, 30, tzinfo=UTC)) == date(2026, 11, 3)


def test_timeline_lists_every_activity_with_who_and_when(office):
    need = office.register_need(dict(NEED, accion_puntual=True), "jefe", run_id="r").id
    rev = office.submit_text(need, "profesional", TEXTS)
    office.decide(need, rev.id, 7, P.REJECTED, "jefe", "Ajustar")
    with office.session() as s:
        entries = inbox.timeline(s, s.get(Need, need))
    assert [e.activity for e in entries] == list(range(1, 15))
    status = {e.activity: e.status for e in entries}
    assert status[1] == status[5] == status[7] == inbox.DONE
    assert status[2] == status[3] == status[4] == inbox.SKIPPED
    assert status[8] == inbox.CURRENT
    assert status[12] == inbox.PENDING
    seven = entries[6]
    assert [(e.actor, e.action) for e in seven.events] == [("jefe", "texto_devuelto")]
    assert seven.events[0].detail["comentario"] == "Ajustar" and seven.events[0].at is not None


def test_calendar_shows_published_and_scheduled_pieces_by_bogota_day(office):
    published = office.register_need(NEED, "jefe", run_id="p").id  # channels x, facebook
    scheduled = office.register_need(
        dict(NEED, titulo="Programada", publicar_en="2099-12-01T23:30:00"), "jefe", run_id="s"
    ).id
    by_deadline = office.register_need(dict(NEED, titulo="Sin hora", fecha_limite="2099-12-10"), "jefe", run_id="d").id
    late_evening = datetime(2099, 12, 3, 3, 0, tzinfo=UTC)  # 2 Dec, 22:00 in Bogotá
    with office.session() as s:
        rev = Revision(need_id=published, kind=P.TEXT, number=1, author="p", created_at=utcnow())
        s.add(rev)
        s.flush()
        s.add(
            Publication(
                need_id=published,
                text_revision_id=rev.id,
                design_revision_id=rev.id,
                channel="x",
                state="publicado",
                fingerprint="f",
                url="https://x.com/cvp/1",
                published_at=late_evening,
            )
        )
    with office.session() as s:
        entries = inbox.calendar(s, date(2099, 12, 1), date(2099, 12, 31))
    got = [(e.day, e.channel, e.kind, e.need_id) for e in entries]
    assert (date(2099, 12, 2), "x", "publicada", published) in got
    # Scheduled at 23:30 Bogotá on 1 Dec (04:30 UTC on the 2nd) stays on the 1st.
    assert (date(2099, 12, 1), "x", "programada", scheduled) in got
    assert (date(2099, 12, 1), "facebook", "programada", scheduled) in got
    assert (date(2099, 12, 10), "x", "fecha_limite", by_deadline) in got
    # The published need's other channel is still due on its deadline (15 Dec); X is not repeated.
    assert (date(2099, 12, 15), "facebook", "fecha_limite", published) in got
    assert (date(2099, 12, 15), "x", "fecha_limite", published) not in got
    assert [e.day for e in entries] == sorted(e.day for e in entries)
    with office.session() as s:
        assert inbox.calendar(s, date(2099, 11, 1), date(2099, 11, 30)) == []


@pytest.mark.parametrize("role", [P.HEAD, P.PROFESSIONAL, P.TECHNICIAN])
def test_inbox_empty_without_needs(office, role):
    assert inbox_of(office, "x", role) == []


def test_an_unconfirmed_publication_waits_on_the_professional_and_the_head_sees_it(office, monkeypatch):
    """Built through the ledger: the call dies mid-way, the next attempt cannot find the post."""
    from cvp import publishing
    from cvp.publishers.outbox import OutboxPublisher

    class DiesDuringTheCall(OutboxPublisher):
        def publish(self, piece):
            raise RuntimeError("worker killed")

    def ready(run_id):
        need = office.register_need(dict(NEED, accion_puntual=True, titulo=f"Pieza {run_id}"), "jefe", run_id=run_id).id
        t = office.submit_text(need, "profesional", TEXTS)
        office.decide(need, t.id, 7, P.APPROVED, "jefe")
        d = office.submit_design(need, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
        office.decide(need, d.id, 12, P.APPROVED, "jefe")
        office.deliver_final(need)
        return need

    def lose(need, channel):
        with pytest.raises(RuntimeError):
            publishing.publish_once(office, DiesDuringTheCall(office.cfg.outbox_dir, channel), need, channel)
        with pytest.raises(publishing.Unconfirmed):
            publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, channel), need, channel)
        return next(p for p in office.publications(need) if p.channel == channel)

    lost = ready("perdida")
    assert step_of(office, lost).role == P.SYSTEM and inbox_of(office, "profesional", P.PROFESSIONAL) == []
    row_x = lose(lost, "x")
    lose(lost, "facebook")
    # The text to write has waited longer than the unconfirmed publication (opened two days ago): it comes first.
    with monkeypatch.context() as m:
        m.setattr(office.records, "now", lambda: utcnow() - timedelta(days=2))
        writing = office.register_need(dict(NEED, accion_puntual=True, titulo="Por escribir"), "jefe", run_id="w").id

    st = step_of(office, lost)
    assert (st.role, st.activity, st.since) == (P.PROFESSIONAL, 14, row_x.updated_at)
    assert st.is_unconfirmed_publication and not st.is_decision
    assert st.label == (
        "Verificar la publicación sin confirmar en X (Twitter) y Facebook: confirmarla o autorizar el reenvío"
    )
    assert [(s.need_id, s.activity) for s in inbox_of(office, "profesional", P.PROFESSIONAL)] == [
        (writing, 5),
        (lost, 14),
    ]
    assert [(s.need_id, s.activity) for s in inbox_of(office, "jefe", P.HEAD)] == [(lost, 14)]
    assert inbox_of(office, "tecnico", P.TECHNICIAN) == [] and inbox_of(office, "lector", P.READER) == []
    with office.session() as s:
        timeline = {e.activity: e.status for e in inbox.timeline(s, s.get(Need, lost))}
    assert timeline[14] == inbox.CURRENT

    # Resolved (one confirmed, one authorized to resend): back to the system, out of both inboxes.
    publishing.confirm(office, row_x.id, "https://x.com/CVPBogota/status/1", "1", "profesional")
    assert "Facebook" in step_of(office, lost).label and "X (Twitter)" not in step_of(office, lost).label
    fb = next(p for p in office.publications(lost) if p.channel == "facebook")
    publishing.allow_retry(office, fb.id, "jefe")
    assert step_of(office, lost).role == P.SYSTEM
    assert [s.need_id for s in inbox_of(office, "profesional", P.PROFESSIONAL)] == [writing]
    assert inbox_of(office, "jefe", P.HEAD) == []
