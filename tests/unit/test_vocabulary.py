"""The procedure's vocabulary in one home (issue 14): states, channels, review tables, Bogotá time, commands."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from cvp import commands, publishing
from cvp import procedure as P
from cvp.checks import check_text
from cvp.checks.limits import check_instagram_text
from cvp.config import bogota, bogota_date, bogota_day_start
from cvp.errors import InvalidInput, PermissionDenied
from cvp.records.models import Need, Publication
from tests.conftest import NEED

ONE_OFF = dict(NEED, accion_puntual=True)  # straight to activity 5


def test_states_are_stored_and_serialised_as_their_plain_strings(records_url):
    """A StrEnum member written by the code is the string the records always held, on SQLite and PostgreSQL."""
    from cvp.office import Office

    office = Office(records_url)
    need = office.register_need(ONE_OFF, "jefe", run_id="vocab")
    with office.session() as s:
        s.get(Need, need.id).status = P.NeedStatus.PUBLISHED
    with office.session() as s:
        raw = s.execute(text("SELECT status FROM needs WHERE id = :id"), {"id": need.id}).scalar_one()
        found = s.scalar(select(Need.id).where(Need.status == P.NeedStatus.PUBLISHED))
    assert (raw, type(raw)) == ("publicada", str) and found == need.id
    assert json.dumps({"estado": P.NeedStatus.PUBLISHED, "tipo": P.TEXT}) == '{"estado": "publicada", "tipo": "texto"}'
    assert f"{P.TEXT}_{P.APPROVED}" == "texto_aprobado"  # the audit trail's action names
    assert [s.value for s in P.PublicationState] == ["pendiente", "enviando", "publicado", "sin_confirmar", "fallido"]
    assert publishing.UNCONFIRMED == "sin_confirmar"
    assert Publication.__table__.c.state.default.arg == P.PublicationState.PENDING


def test_one_review_table_per_revision_kind():
    text, design = P.REVIEWS[P.TEXT], P.REVIEWS[P.DESIGN]
    assert (text.author_role, text.present_activity, text.control_point, text.after_approval) == (
        P.PROFESSIONAL,
        6,
        7,
        9,
    )
    assert (design.author_role, design.present_activity, design.control_point, design.after_approval) == (
        P.TECHNICIAN,
        11,
        12,
        13,
    )
    assert P.REVIEW_AT[7] is text and P.CONTROL_POINT_KIND == {7: P.TEXT, 12: P.DESIGN}
    assert set(P.REVIEW_AT) == set(P.CONTROL_POINTS)
    assert {text.wait_submitted, text.wait_approved, design.wait_submitted, design.wait_approved} == {
        P.WAIT_TEXT_SUBMITTED,
        P.WAIT_TEXT_APPROVED,
        P.WAIT_DESIGN_SUBMITTED,
        P.WAIT_DESIGN_APPROVED,
    }


def test_the_channel_registry_drives_the_checks():
    """Every limit the checks apply is the registry's: a change there is a change in what is refused."""
    assert set(P.CHANNELS) == set(P.CHANNEL) and P.OUTBOX_CHANNELS == ("sitio_web",)
    assert all(P.CHANNEL[c].conn_id == f"{c}_default" for c in P.PLATFORM_CHANNELS)
    limit = P.CHANNEL["instagram"].text.max_length
    assert not [f for f in check_instagram_text("a" * (limit - 300)) if f.code == "ig.length"]
    assert [f.severity for f in check_instagram_text("a" * (limit + 1)) if f.code == "ig.length"] == ["error"]
    # Text or media: X and Facebook refuse an empty post, the website does not.
    empty = {c: "text.empty" in check_text(c, "").codes() for c in ("x", "facebook", "sitio_web")}
    assert empty == {"x": True, "facebook": True, "sitio_web": False}


def test_bogota_time_in_one_place():
    noon_utc = datetime(2026, 12, 1, 3, 30, tzinfo=UTC)  # 22:30 the day before in Bogotá
    assert bogota(noon_utc).isoformat() == "2026-11-30T22:30:00-05:00"
    assert bogota_date(noon_utc) == date(2026, 11, 30)
    typed = bogota(datetime(2026, 12, 24, 9, 0))  # what a person types: Bogotá's wall clock
    assert typed.astimezone(UTC) == datetime(2026, 12, 24, 14, 0, tzinfo=UTC)
    assert bogota_day_start(date(2026, 12, 24)) == datetime(2026, 12, 24, 5, 0, tzinfo=UTC)


def test_commands_check_the_role_before_anything_else(office):
    """The same role sets for the forms and the command line, checked before the input is looked at."""
    need = office.register_need(ONE_OFF, "jefe", run_id="roles")
    refused = {
        "texto": lambda: commands.submit_text(office, "tecnico", need.id, {"x": "a" * 5000}),
        "diseño": lambda: commands.submit_design(office, "profesional", need.id, None, "x.png"),
        "decisión": lambda: commands.decide(office, "profesional", need.id, None, 7, "aprobado"),
        "cancelar": lambda: commands.cancel_need(office, "profesional", need.id, "x" * 10_000),
        "confirmar": lambda: commands.confirm_publication(office, "tecnico", 999, "no es una url"),
    }
    for call in refused.values():
        with pytest.raises(PermissionDenied):
            call()
    with pytest.raises(InvalidInput, match="demasiado largo"):
        commands.submit_text(office, "profesional", need.id, {"x": "a" * 5000})
    with pytest.raises(InvalidInput, match="demasiado largo"):
        commands.cancel_need(office, "jefe", need.id, "x" * (commands.CANCEL_REASON_MAX + 1))
