"""Where a need stands (cvp.state): one statement of the procedure's order, for the guards, the lists and the waits.

Issue 10, item 3: a planned need accepted a text, an approval at 7 and a content plan while its run
still waited at activity 2. Every act now asks the same function, which refuses it with a Spanish 409.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from cvp import procedure as P
from cvp import state as S
from cvp import waits
from cvp.errors import Conflict
from cvp.records.db import engine_for, migrate
from cvp.records.models import Need, utcnow
from tests.conftest import NEED, ONE_OFF, tiny_png
from tests.unit.test_office import MEETING, TEXTS

PLAN = {"contenidos": ["Afiche"], "enlaces": ["Enlace DUT"]}


def trail(office, need_id):
    return [(e.activity, e.action) for e in office.events(need_id)]


def stored(office, need_id) -> tuple:
    with office.session() as s:
        n = s.get(Need, need_id)
        return (n.step_activity, n.step_role, n.step_since, n.step_label, n.step_revision_id, n.step_author)


def replayed(office, need_id) -> tuple:
    st = office.standing(need_id).step
    if st is None:
        return (None, None, None, "", None, None)
    return (st.activity, st.role, st.since, st.label, st.revision_id, st.author)


def test_a_planned_need_refuses_every_act_before_its_meeting_and_plan(office):
    need = office.register_need(NEED, "jefe", run_id="r").id
    before = trail(office, need)
    with pytest.raises(Conflict, match="espera el registro de reunión") as refused:
        office.submit_text(need, "profesional", TEXTS)
    assert refused.value.status == 409
    with pytest.raises(Conflict, match="después de la reunión del equipo"):
        office.record_content_plan(need, "jefe", PLAN)
    with pytest.raises(Conflict, match="espera el registro de reunión"):
        office.submit_design(need, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
    assert trail(office, need) == before and office.revisions(need) == [] and office.documents(need) == []

    # A text that slipped in before this guard (stored by an older version) is not approved either.
    with office.session() as s:
        s.execute(
            text(
                "INSERT INTO revisions (need_id, kind, number, state, author, created_at, texts, title, note, "
                "checks, filename, stored_path, media_type, size, sha256, alt_text) VALUES (:n, 'texto', 1, "
                "'presentado', 'profesional', :at, '{}', '', '', '[]', '', '', '', 0, '', '')"
            ),
            {"n": need, "at": utcnow().replace(tzinfo=None)},
        )
    [legacy] = office.revisions(need)
    with pytest.raises(Conflict, match="actividad 2"):
        office.decide(need, legacy.id, 7, P.APPROVED, "jefe")
    assert office.revisions(need)[0].decision is None

    office.record_meeting(need, "jefe", MEETING)
    with pytest.raises(Conflict, match="espera el plan de contenidos"):
        office.submit_text(need, "profesional", TEXTS)
    office.record_content_plan(need, "jefe", PLAN)
    assert S.TEXT_DECISION in office.standing(need).allowed  # the slipped-in text is now the one to review


def test_a_one_off_need_has_no_meeting_nor_plan(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r").id
    for act in (office.record_meeting, office.record_content_plan):
        with pytest.raises(Conflict, match="acción puntual"):
            act(need, "jefe", MEETING if act == office.record_meeting else PLAN)
    assert office.documents(need) == []
    assert office.standing(need).allowed == (S.TEXT, S.CANCEL)


def test_what_may_be_done_next_follows_the_procedure_and_the_columns_follow_every_act(office):
    """At each moment: the allowed actions, the stored columns equal to the records' replay, and the DAG's wait."""
    need = office.register_need(NEED, "jefe", run_id="r").id
    seen = []

    def at(activity, allowed):
        st = office.standing(need)
        assert (st.step.activity, st.allowed) == (activity, allowed), st.refusals
        assert stored(office, need) == replayed(office, need)
        with office.session() as s:  # the sensor of this step still waits; the ones before it are met
            met = waits.conditions_met(s, [(need, c) for c in P.WAIT_CONDITIONS])
        assert (need, st.wait) not in met
        assert all((need, c) in met for c in seen)
        seen.extend(
            c for c in [st.wait] if c and c not in seen and c not in (P.WAIT_TEXT_APPROVED, P.WAIT_DESIGN_APPROVED)
        )

    at(2, (S.MEETING, S.CANCEL))
    office.record_meeting(need, "jefe", MEETING)
    at(3, (S.PLAN, S.CANCEL))
    office.record_content_plan(need, "jefe", PLAN)
    at(5, (S.TEXT, S.CANCEL))
    t1 = office.submit_text(need, "profesional", TEXTS)
    at(7, (S.TEXT_DECISION, S.CANCEL))
    office.decide(need, t1.id, 7, P.REJECTED, "jefe", "Precisar la cifra")
    at(8, (S.TEXT, S.CANCEL))
    t2 = office.submit_text(need, "profesional", TEXTS)
    at(7, (S.TEXT_DECISION, S.CANCEL))
    office.decide(need, t2.id, 7, P.APPROVED, "jefe")
    at(10, (S.DESIGN, S.CANCEL))
    d1 = office.submit_design(need, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
    at(12, (S.DESIGN_DECISION, S.CANCEL))
    office.decide(need, d1.id, 12, P.REJECTED, "jefe", "Logo más grande")
    at(10, (S.DESIGN, S.CANCEL))
    assert office.standing(need).step.comment == "Logo más grande"
    d2 = office.submit_design(need, "tecnico", tiny_png(9, 9), "a.png", alt_text="Afiche")
    office.decide(need, d2.id, 12, P.APPROVED, "jefe")
    st = office.standing(need)
    assert (st.step.role, st.step.activity, st.allowed, st.wait) == (P.SYSTEM, 13, (S.CANCEL,), None)
    with pytest.raises(Conflict, match="ya fue aprobada"):
        office.submit_design(need, "tecnico", tiny_png(), "b.png", alt_text="Afiche")

    office.cancel_need(need, "jefe", "El evento se aplazó")
    assert office.standing(need).allowed == () and office.standing(need).step is None
    assert stored(office, need) == (None, None, None, "", None, None)
    with pytest.raises(Conflict, match="ya no está en curso"):
        office.cancel_need(need, "jefe", "otra vez")


def test_the_migration_fills_the_columns_of_needs_already_in_course(cvp_env):
    """Rows written before migration 0007 get where they stand; closed needs stay empty."""
    cvp_env.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{cvp_env / 'antes.db'}"
    migrate(url, "0006")
    created = (utcnow() - timedelta(days=3)).replace(tzinfo=None)
    submitted = (utcnow() - timedelta(days=1)).replace(tzinfo=None)
    with engine_for(url).begin() as conn:
        for nid, one_off, status in ((1, 1, "en_curso"), (2, 0, "en_curso"), (3, 1, "publicada")):
            conn.execute(
                text(
                    "INSERT INTO needs (id, run_id, title, description, source, source_reference, "
                    "audiences, channels, one_off, deadline, department, requested_by, status, created_at) "
                    "VALUES (:id, :run, 'Necesidad', 'Descripción', 'plan_accion', '', '[]', '[\"x\"]', "
                    ":one_off, '2099-12-15', 'comunicaciones', 'jefe', :status, :at)"
                ),
                {"id": nid, "run": f"r{nid}", "one_off": one_off, "status": status, "at": created},
            )
        conn.execute(
            text(
                "INSERT INTO revisions (need_id, kind, number, state, author, created_at, texts, title, note, "
                "checks, filename, stored_path, media_type, size, sha256, alt_text) VALUES (1, 'texto', 1, "
                "'presentado', 'profesional', :at, '{}', '', '', '[]', '', '', '', 0, '', '')"
            ),
            {"at": submitted},
        )
    migrate(url)
    with engine_for(url).connect() as conn:
        rows = conn.execute(
            select(Need.id, Need.step_activity, Need.step_role, Need.step_since, Need.step_author).order_by(Need.id)
        ).all()
    engine_for(url).dispose()
    assert [tuple(r) for r in rows] == [
        (1, 7, P.HEAD, submitted.replace(tzinfo=rows[0][3].tzinfo), "profesional"),
        (2, 2, P.HEAD, created.replace(tzinfo=rows[1][3].tzinfo), None),
        (3, None, None, None, None),
    ]


def test_every_new_office_keeps_the_columns_even_where_python_reuses_a_freed_sessionmakers_id(sqlite_url):
    """A flaky CI failure (an empty inbox): ``event.contains`` keys on ``id(target)``, so a new sessionmaker
    reusing a freed one's id looked already registered and its acts left the columns empty. With the
    cyclic GC off, as in the failing run between two collections, every office must still keep them."""
    import gc

    from cvp.office import Office

    gc.disable()
    try:
        for _ in range(20):
            office = Office(sqlite_url)
            need_id = office.register_need(ONE_OFF, "jefe").id
            assert stored(office, need_id)[:2] == (5, P.PROFESSIONAL)
            del office
    finally:
        gc.enable()
