"""engagement by day in plain numbers: each publication's last reading of each Bogotá day, from the snapshots

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

The Tablero sums these rows in the database instead of parsing a year of snapshots' JSON. The rows
are derived: this migration fills them from the snapshots already stored, and from then on they are
written in the same transaction as each snapshot (``cvp.records.models.refresh_engagement_days``).
"""

import sqlalchemy as sa
from alembic import op

import cvp.records.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NUMBERS = (
    "impressions",
    "reach",
    "reactions",
    "comments",
    "shares",
    "views",
    "interactions",
    "new_impressions",
    "new_interactions",
)


def upgrade() -> None:
    op.create_table(
        "engagement_days",
        sa.Column("publication_id", sa.Integer(), sa.ForeignKey("publications.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("taken_at", cvp.records.models.UTCDateTime(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in NUMBERS),
        sqlite_with_rowid=False,  # rows clustered by (publication, day), as the Tablero reads them
    )
    conn = op.get_bind()
    pubs = conn.execute(sa.text("SELECT DISTINCT publication_id FROM engagement_snapshots")).scalars().all()
    cvp.records.models.refresh_engagement_days(conn, pubs)


def downgrade() -> None:
    op.drop_table("engagement_days")
