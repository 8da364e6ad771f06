"""where a need stands, as columns of needs (current activity, who it waits for, since when), and list indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

import cvp.records.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("step_activity", sa.Integer()),
    ("step_role", sa.String(length=20)),
    ("step_since", cvp.records.models.UTCDateTime()),
    ("step_revision_id", sa.Integer()),
    ("step_revision_number", sa.Integer()),
    ("step_author", sa.String(length=120)),
)
INDEXES = (
    ("needs", "ix_needs_step_role", ["step_role", "step_since", "id"]),
    ("needs", "ix_needs_step_activity", ["step_activity", "step_since", "id"]),
    ("needs", "ix_needs_status_step_since", ["status", "step_since", "id"]),
    ("needs", "ix_needs_status_deadline", ["status", "deadline", "id"]),
    ("needs", "ix_needs_status_publish_at", ["status", "publish_at"]),
    ("publications", "ix_publications_state_published_at", ["state", "published_at"]),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("needs", sa.Column(name, type_, nullable=True))
    op.add_column("needs", sa.Column("step_label", sa.String(length=300), nullable=False, server_default=""))
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    # Needs already in course: where each stands, read from its records by the same rules as every act.
    from cvp import state

    state.backfill(op.get_bind())


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): a batch copy of needs would be refused by the
    # foreign keys that point at it.
    op.drop_column("needs", "step_label")
    for name, _ in reversed(COLUMNS):
        op.drop_column("needs", name)
