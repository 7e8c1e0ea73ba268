"""The runtime's tables: sessions, messages, tasks (subtasks) and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the runtime schema (migrated by alembic)."""


class SessionRow(Base):
    """A session: who owns it, its workspace root and its current agent mode."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    cwd: Mapped[str] = mapped_column(String(4096))
    mode: Mapped[str] = mapped_column(String(40))
    plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    always_allowed: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )


class MessageRow(Base):
    """One chat message (OpenAI format, incl. tool calls and results) of a session."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    agent_mode: Mapped[str] = mapped_column(String(40))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    correlation_id: Mapped[str | None] = mapped_column(String(120), index=True)
    # Set for a subtask's messages: they form the child's own context, not the session's.
    task_id: Mapped[str | None] = mapped_column(String(80), index=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class TaskRow(Base):
    """A subtask (``new_task``): its parent link survives crashes, its result is kept."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("session_id", "parent_tool_call_id", name="uq_tasks_parent_call"),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    parent_task_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    parent_tool_call_id: Mapped[str] = mapped_column(String(120))
    correlation_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    mode: Mapped[str] = mapped_column(String(40))
    instructions: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # running | completed | failed
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )


class AuditRow(Base):
    """One event, appended and never updated (bodies of messages and arguments left out)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    type: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(80), index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
