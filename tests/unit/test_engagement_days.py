"""``engagement_days``: the snapshots' numbers by Bogotá day, kept with each snapshot and filled by migration 0010."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cvp import procedure as P
from cvp.config import TIMEZONE
from cvp.records.models import EngagementDay, EngagementSnapshot
from tests.unit.test_dashboard import decide, need, publish


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TIMEZONE).astimezone(UTC)


def metrics(**values) -> dict:
    out = dict.fromkeys(("impresiones", "alcance", "reacciones", "comentarios", "compartidos", "reproducciones"))
    return {**out, **values, "plataforma": {}}


# Out of order on purpose; (day, hour, minute) in Bogotá. 23:30 of the 4th is the 5th in UTC.
READINGS = [
    (3, 20, 0, metrics(impresiones=50, reacciones=5)),
    (3, 9, 0, metrics(impresiones=10)),
    (4, 23, 30, metrics(reacciones=7, comentarios=1)),  # impressions not given: the last known stays
    (6, 8, 0, metrics(impresiones=80)),  # interactions not given
]
# day → impressions, interactions, new impressions, new interactions, taken_at
EXPECTED = {
    date(2026, 11, 3): (50.0, 5.0, 50.0, 5.0, at(3, 20)),
    date(2026, 11, 4): (None, 8.0, 0.0, 3.0, at(4, 23, 30)),
    date(2026, 11, 6): (80.0, None, 30.0, 0.0, at(6, 8)),
}


def piece(s) -> tuple[int, int]:
    """An X and a YouTube publication of one need (YouTube never gives impressions)."""
    need(s, 1, "Títulos", ["x", "youtube"], at(1, 8), date(2026, 11, 30), P.NeedStatus.PUBLISHED)
    text = decide(s, 1, "texto", 1, 7, P.APPROVED, at(1, 9))
    design = decide(s, 1, "diseno", 1, 12, P.APPROVED, at(1, 10))
    x = publish(s, 1, "x", text, design, at(2, 10)).id
    youtube = publish(s, 1, "youtube", text, design, at(2, 10)).id
    return x, youtube


def days_of(conn, pub_id: int) -> dict:
    D = EngagementDay
    rows = conn.execute(
        select(D.day, D.impressions, D.interactions, D.new_impressions, D.new_interactions, D.taken_at)
        .where(D.publication_id == pub_id)
        .order_by(D.day)
    ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_each_snapshot_keeps_the_last_reading_of_its_bogota_day_whatever_the_order(office):
    with office.session() as s:
        x, youtube = piece(s)
    for day, hour, minute, values in READINGS:
        with office.session() as s:
            s.add(EngagementSnapshot(publication_id=x, channel="x", taken_at=at(day, hour, minute), metrics=values))
            s.add(
                EngagementSnapshot(
                    publication_id=youtube,
                    channel="youtube",
                    taken_at=at(day, hour, minute),
                    metrics=metrics(reproducciones=day),
                )
            )
    with office.session() as s:
        assert days_of(s.connection(), x) == EXPECTED
        youtube_days = days_of(s.connection(), youtube)
    assert [d[0] for d in youtube_days.values()] == [None, None, None]  # missing, never 0
    assert [d[2] for d in youtube_days.values()] == [None, None, None]


def test_migration_0010_fills_the_days_from_the_snapshots_already_stored(records_url):
    from alembic import command

    from cvp.records.db import alembic_config, current_revision, engine_for, migrate

    engine = engine_for(records_url)
    with Session(engine) as s, s.begin():
        x, _ = piece(s)
    command.downgrade(alembic_config(records_url), "0009")
    with engine.begin() as conn:  # as stored before 0010: no engagement_days to keep
        conn.execute(
            insert(EngagementSnapshot.__table__),
            [
                {"publication_id": x, "channel": "x", "taken_at": at(d, h, m), "metrics": values}
                for d, h, m, values in READINGS
            ],
        )
    migrate(records_url)
    assert current_revision(records_url) == "0010"
    with engine.connect() as conn:
        assert days_of(conn, x) == EXPECTED
    engine.dispose()


@pytest.mark.parametrize("value", ["12", True, {"x": 1}])
def test_odd_values_are_numbers_or_missing(value):
    from cvp.records.models import engagement_days

    (row,) = engagement_days([(1, "x", at(3, 9), metrics(impresiones=value))])
    assert row["impressions"] == (12.0 if value == "12" else None)
