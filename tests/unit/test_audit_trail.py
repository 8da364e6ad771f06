"""The records that must never change (issue 10, item 13), refused by the database itself.

Decisions are never updated nor deleted; a revision is never deleted and changes only once, when the
head decides (state 'presentado' → 'aprobado' or 'devuelto'); on PostgreSQL no TRUNCATE empties the
trail, and the application's own role (``python -m cvp db --app-role``) can neither drop nor disable
the triggers, while everything the product does still works through it.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cvp import procedure as P
from cvp import publishing
from cvp.mail import MailboxMailer
from cvp.office import Office
from cvp.publishers.outbox import OutboxPublisher
from cvp.records.db import AppRoleError, engine_for, grant_app_role
from tests.conftest import NEED, ONE_OFF, PG_ADMIN_URL, tiny_png
from tests.unit.test_office import TEXTS


def refused(office: Office, sql: str, **params) -> None:
    with pytest.raises(DBAPIError), office.session() as s:
        s.execute(text(sql), params)


def decided_need(office: Office) -> tuple[int, int, int]:
    """A need whose first text was returned and second approved: (need, returned revision, approved revision)."""
    need = office.register_need(ONE_OFF, "jefe", run_id=f"r-{uuid.uuid4().hex[:6]}").id
    first = office.submit_text(need, "profesional", TEXTS)
    office.decide(need, first.id, 7, P.REJECTED, "jefe", "Precisar la cifra")
    second = office.submit_text(need, "profesional", TEXTS)
    office.decide(need, second.id, 7, P.APPROVED, "jefe")
    return need, first.id, second.id


def test_decisions_are_never_changed_nor_deleted(records_url):
    office = Office(records_url)
    need, returned, _ = decided_need(office)
    refused(office, "UPDATE decisions SET decision = 'aprobado' WHERE revision_id = :r", r=returned)
    refused(office, "UPDATE decisions SET comment = '' WHERE need_id = :n", n=need)
    refused(office, "DELETE FROM decisions WHERE revision_id = :r", r=returned)
    refused(office, "DELETE FROM decisions")
    [first, second] = office.revisions(need, P.TEXT)
    assert (first.decision.decision, first.decision.comment) == (P.REJECTED, "Precisar la cifra")
    assert second.decision.decision == P.APPROVED


def test_a_revision_changes_only_once_and_only_its_state(records_url):
    office = Office(records_url)
    need, returned, approved = decided_need(office)
    refused(office, "UPDATE revisions SET state = 'aprobado' WHERE id = :r", r=returned)  # devuelto → aprobado
    refused(office, "UPDATE revisions SET state = 'presentado' WHERE id = :r", r=approved)
    refused(office, "UPDATE revisions SET texts = :t WHERE id = :r", t='{"x": "otro"}', r=approved)
    refused(office, "UPDATE revisions SET author = 'otra' WHERE need_id = :n", n=need)
    refused(office, "DELETE FROM revisions WHERE id = :r", r=returned)
    # Even the one allowed transition may not carry another change along.
    design = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche")
    refused(office, "UPDATE revisions SET state = 'aprobado', sha256 = 'otro' WHERE id = :r", r=design.id)
    with office.session() as s:  # the head's decision is exactly that transition, and it is allowed
        s.execute(text("UPDATE revisions SET state = 'aprobado' WHERE id = :r"), {"r": design.id})
    assert [r.texts["x"] for r in office.revisions(need, P.TEXT)] == [TEXTS["x"], TEXTS["x"]]
    assert [r.state for r in office.revisions(need, P.TEXT)] == [P.REJECTED, P.APPROVED]


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE events",
        "TRUNCATE decisions",
        "TRUNCATE revisions CASCADE",
        "TRUNCATE needs CASCADE",
        "TRUNCATE events, decisions, revisions, needs CASCADE",
    ],
)
def test_no_truncate_empties_the_trail_on_postgresql(pg_url, statement):
    office = Office(pg_url)  # as the owner (here a superuser): the triggers hold against it too
    need, _, _ = decided_need(office)
    before = len(office.events(need))
    with pytest.raises(DBAPIError, match="no se vac"), office.session() as s:
        s.execute(text(statement))
    assert len(office.events(need)) == before and len(office.revisions(need)) == 2


# --- the application's own role on PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def app_role(pg_url):
    """A login role of the server, not the owner of anything, given the application's privileges."""
    role = f"cvp_app_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    url = pg_url.replace("://postgres@", f"://{role}@", 1)
    assert url != pg_url
    try:
        yield role, url
    finally:
        engine_for(url).dispose()
        owner = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
        owner.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_the_application_role_does_the_whole_procedure_and_cannot_touch_the_triggers(pg_url, app_role, capsys):
    from cvp.__main__ import main

    role, url = app_role
    assert main(["--url", pg_url, "db", "--app-role", role]) == 0  # as the owner: migrate, then grant
    assert f"Rol «{role}»" in capsys.readouterr().out

    office = Office(url)  # the product, connected as the restricted role
    office.mailer = MailboxMailer(office.cfg.mailbox_dir)
    with office.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar() == role
    need, _, _ = decided_need(office)
    design = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche")
    office.decide(need, design.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need)
    for channel in NEED["canales"]:
        publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, channel), need, channel)
    assert office.need(need).status == "publicada"
    assert office.deliver_pending() == len(office.notifications(need))
    other = office.register_need(ONE_OFF, "jefe", run_id="otra").id
    office.cancel_need(other, "jefe", "El evento se aplazó")

    for statement in (
        "DROP TRIGGER events_append_only ON events",
        "DROP TRIGGER decisions_append_only ON decisions",
        "ALTER TABLE events DISABLE TRIGGER ALL",
        "ALTER TABLE revisions DISABLE TRIGGER revisions_only_decision",
        (
            "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ "
            "LANGUAGE plpgsql"
        ),
        "DROP FUNCTION cvp_refuse() CASCADE",
        "TRUNCATE events",
        "DROP TABLE events",
        "ALTER TABLE events RENAME TO events_old",
        "UPDATE events SET actor = 'otro'",
        "DELETE FROM decisions",
        "UPDATE revisions SET author = 'otra'",
        "SET session_replication_role = replica",  # would silence every trigger
        "CREATE TABLE mias (id int)",
    ):
        with pytest.raises(DBAPIError), office.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    trail = [(e.id, e.action, e.actor) for e in Office(pg_url).events(need)]  # read as the owner
    assert trail == [(e.id, e.action, e.actor) for e in office.events(need)]
    assert [a for _, a, _ in trail].count("publicado") == len(NEED["canales"])


def test_a_role_that_could_drop_the_trail_is_refused_as_the_application_role(pg_url):
    with pytest.raises(AppRoleError, match="superusuario"):
        grant_app_role(pg_url, "postgres")
    with pytest.raises(AppRoleError, match="no existe"):
        grant_app_role(pg_url, "nadie_con_este_nombre")
    with pytest.raises(AppRoleError, match="PostgreSQL"):
        grant_app_role("sqlite:///registros.db", "cvp")


def test_the_owner_of_the_database_is_refused_as_the_application_role(pg_url, app_role):
    role, _ = app_role
    database = pg_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # as docker-compose's first version did: the app's role owns the database
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" OWNER TO {role}')
    try:
        with pytest.raises(AppRoleError, match="dueño del esquema .* o de la base"):
            grant_app_role(pg_url, role)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" OWNER TO postgres')
        admin.dispose()
