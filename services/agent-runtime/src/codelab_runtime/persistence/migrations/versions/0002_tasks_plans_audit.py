"""tasks, plans, approvals, usage and the audit trail

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("task_id", sa.String(80), nullable=True))
    op.create_index("ix_messages_task_id", "messages", ["task_id"])
    op.add_column("sessions", sa.Column("plan", sa.JSON, nullable=True))
    op.add_column("sessions", sa.Column("always_allowed", sa.JSON, nullable=True))
    op.add_column(
        "sessions", sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column(
        "sessions", sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0")
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(80),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("parent_task_id", sa.String(120), nullable=True),
        sa.Column("parent_tool_call_id", sa.String(120), nullable=False),
        sa.Column("correlation_id", sa.String(120), nullable=True),
        sa.Column("mode", sa.String(40), nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", "parent_tool_call_id", name="uq_tasks_parent_call"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(40), nullable=False, unique=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("session_id", sa.String(80), nullable=False, index=True),
        sa.Column("correlation_id", sa.String(120), nullable=True),
        sa.Column("task_id", sa.String(120), nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("tasks")
    for column in ("completion_tokens", "prompt_tokens", "always_allowed", "plan"):
        op.drop_column("sessions", column)
    op.drop_index("ix_messages_task_id", "messages")
    op.drop_column("messages", "task_id")
