"""protect decisions and revisions like the audit trail; no TRUNCATE of any of them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A decision at a control point is never changed nor removed; a revision is never removed and changes
only once, when the head decides on it (state 'presentado' → 'aprobado' or 'devuelto', nothing else).
On PostgreSQL a statement-level trigger also refuses TRUNCATE of events, decisions and revisions
(a TRUNCATE fires no row trigger). The application's own role, kept apart from the owner of the
tables (``python -m cvp db --app-role NAME``), can neither drop nor disable these triggers.

Note for later migrations: on SQLite, a batch ALTER of one of these tables recreates it and loses its
triggers; such a migration must create them again.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Every column of revisions but state: none may change (SQLite compares them one by one).
_REVISION_COLUMNS = (
    "id",
    "need_id",
    "kind",
    "number",
    "author",
    "created_at",
    "texts",
    "title",
    "note",
    "checks",
    "filename",
    "stored_path",
    "media_type",
    "size",
    "sha256",
    "alt_text",
)
_DECIDED = "OLD.state = 'presentado' AND NEW.state IN ('aprobado', 'devuelto')"

_SQLITE = (
    (
        "CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions "
        "BEGIN SELECT RAISE(ABORT, 'una decisión registrada no se modifica'); END"
    ),
    (
        "CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions "
        "BEGIN SELECT RAISE(ABORT, 'una decisión registrada no se borra'); END"
    ),
    (
        "CREATE TRIGGER revisions_no_delete BEFORE DELETE ON revisions "
        "BEGIN SELECT RAISE(ABORT, 'una revisión no se borra'); END"
    ),
    (
        "CREATE TRIGGER revisions_only_decision BEFORE UPDATE ON revisions "
        f"WHEN NOT ({_DECIDED} AND " + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _REVISION_COLUMNS) + ") "
        "BEGIN SELECT RAISE(ABORT, 'una revisión no se modifica: solo pasa una vez de presentado a aprobado o "
        "devuelto'); END"
    ),
)
_SQLITE_DROP = ("decisions_no_update", "decisions_no_delete", "revisions_no_delete", "revisions_only_decision")

_PG = (
    (
        "CREATE OR REPLACE FUNCTION cvp_refuse() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege'; END; $$ LANGUAGE plpgsql"
    ),
    (
        "CREATE OR REPLACE FUNCTION revisions_only_decision() RETURNS trigger AS $$ "
        f"BEGIN IF {_DECIDED} AND (to_jsonb(NEW) - 'state') = (to_jsonb(OLD) - 'state') THEN RETURN NEW; END IF; "
        "RAISE EXCEPTION 'una revisión no se modifica: solo pasa una vez de presentado a aprobado o devuelto' "
        "USING ERRCODE = 'insufficient_privilege'; END; $$ LANGUAGE plpgsql"
    ),
    (
        "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions FOR EACH ROW "
        "EXECUTE FUNCTION cvp_refuse('una decisión registrada no se modifica ni se borra')"
    ),
    (
        "CREATE TRIGGER revisions_no_delete BEFORE DELETE ON revisions FOR EACH ROW "
        "EXECUTE FUNCTION cvp_refuse('una revisión no se borra')"
    ),
    (
        "CREATE TRIGGER revisions_only_decision BEFORE UPDATE ON revisions FOR EACH ROW "
        "EXECUTE FUNCTION revisions_only_decision()"
    ),
    (
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT "
        "EXECUTE FUNCTION cvp_refuse('el registro de auditoría no se vacía')"
    ),
    (
        "CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions FOR EACH STATEMENT "
        "EXECUTE FUNCTION cvp_refuse('las decisiones registradas no se vacían')"
    ),
    (
        "CREATE TRIGGER revisions_no_truncate BEFORE TRUNCATE ON revisions FOR EACH STATEMENT "
        "EXECUTE FUNCTION cvp_refuse('las revisiones no se vacían')"
    ),
)
_PG_DROP = (
    "DROP TRIGGER IF EXISTS revisions_no_truncate ON revisions",
    "DROP TRIGGER IF EXISTS decisions_no_truncate ON decisions",
    "DROP TRIGGER IF EXISTS events_no_truncate ON events",
    "DROP TRIGGER IF EXISTS revisions_only_decision ON revisions",
    "DROP TRIGGER IF EXISTS revisions_no_delete ON revisions",
    "DROP TRIGGER IF EXISTS decisions_append_only ON decisions",
    "DROP FUNCTION IF EXISTS revisions_only_decision()",
    "DROP FUNCTION IF EXISTS cvp_refuse()",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for sql in {"sqlite": _SQLITE, "postgresql": _PG}.get(dialect, ()):
        op.execute(sql)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in _SQLITE_DROP:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for sql in _PG_DROP:
            op.execute(sql)
