"""joint actions of the Red Distrital: the day's agenda (loads and actions), the head's decisions, the amplification ledger

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The head's decision on a joint action is kept like a decision at a control point: never changed nor
removed (triggers on SQLite and PostgreSQL; ``cvp_refuse`` comes from migration 0004).
"""

import sqlalchemy as sa
from alembic import op

import cvp.records.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SQLITE = (
    "CREATE TRIGGER joint_action_decisions_no_update BEFORE UPDATE ON joint_action_decisions "
    "BEGIN SELECT RAISE(ABORT, 'una decisión registrada no se modifica'); END",
    "CREATE TRIGGER joint_action_decisions_no_delete BEFORE DELETE ON joint_action_decisions "
    "BEGIN SELECT RAISE(ABORT, 'una decisión registrada no se borra'); END",
)
_PG = (
    "CREATE TRIGGER joint_action_decisions_append_only BEFORE UPDATE OR DELETE ON joint_action_decisions "
    "FOR EACH ROW EXECUTE FUNCTION cvp_refuse('una decisión registrada no se modifica ni se borra')",
    "CREATE TRIGGER joint_action_decisions_no_truncate BEFORE TRUNCATE ON joint_action_decisions "
    "FOR EACH STATEMENT EXECUTE FUNCTION cvp_refuse('una decisión registrada no se borra')",
)


def upgrade() -> None:
    when = cvp.records.models.UTCDateTime
    op.create_table(
        "joint_agenda_loads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("existing", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("loaded_at", when(), nullable=False),
    )
    op.create_index("ix_joint_agenda_loads_day", "joint_agenda_loads", ["day", "id"])
    op.create_table(
        "joint_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False, unique=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entity", sa.String(length=200), nullable=False),
        sa.Column("theme", sa.String(length=300), nullable=False),
        sa.Column("hashtag", sa.String(length=140), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("post_url", sa.String(length=500), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("need_run_id", sa.String(length=250), nullable=False, server_default=""),
    )
    op.create_index("ix_joint_actions_day", "joint_actions", ["day", "id"])
    op.create_table(
        "joint_action_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("joint_actions.id"), nullable=False, unique=True),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=False),
        sa.Column("decided_at", when(), nullable=False),
    )
    op.create_table(
        "joint_amplifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("joint_actions.id"), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("published_at", when(), nullable=True),
        sa.UniqueConstraint("action_id", "channel", name="uq_joint_amplification"),
    )
    op.create_index("ix_joint_amplifications_action_id", "joint_amplifications", ["action_id"])
    for sql in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(sql)


def downgrade() -> None:
    op.drop_index("ix_joint_amplifications_action_id", table_name="joint_amplifications")
    op.drop_table("joint_amplifications")
    op.drop_table("joint_action_decisions")  # its triggers go with it
    op.drop_index("ix_joint_actions_day", table_name="joint_actions")
    op.drop_table("joint_actions")
    op.drop_index("ix_joint_agenda_loads_day", table_name="joint_agenda_loads")
    op.drop_table("joint_agenda_loads")
