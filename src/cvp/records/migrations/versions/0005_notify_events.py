"""events NOTIFY on insert (PostgreSQL): a decision wakes the waits at once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The triggerer's watcher (plugins/cvp_airflow/watcher.py) LISTENs on ``cvp_eventos``. NOTIFY is
transactional: the notice goes out when the transaction that wrote the event (and the record it
tells of) commits, never before, and never if it rolls back. The payload is the need's id. SQLite
has no NOTIFY: there the watcher's read by cursor is the only path.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE OR REPLACE FUNCTION cvp_events_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('cvp_eventos', NEW.need_id::text);
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
    """)
    op.execute("CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION cvp_events_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS events_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS cvp_events_notify()")
