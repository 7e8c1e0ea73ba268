"""Subtasks and the audit trail in SQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codelab_common import events as ev
from codelab_runtime.persistence.models import AuditRow, TaskRow

# Message bodies stay out of the audit trail: they can hold code and secrets.
AUDIT_EXCLUDE = {"message", "text", "arguments", "result", "entries"}


class TaskStore:
    """The durable parent/child links of subtasks, and the append-only audit table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def find(self, session_id: str, parent_tool_call_id: str) -> TaskRow | None:
        async with self._sessions() as db:
            row: TaskRow | None = await db.scalar(
                select(TaskRow).where(
                    TaskRow.session_id == session_id,
                    TaskRow.parent_tool_call_id == parent_tool_call_id,
                )
            )
            return row

    async def start(
        self,
        session_id: str,
        parent_tool_call_id: str,
        *,
        parent_task_id: str | None,
        correlation_id: str | None,
        mode: str,
        instructions: str,
    ) -> TaskRow:
        """The running task of this parent call: created now, or the one already there."""
        row = TaskRow(
            id=f"task_{uuid.uuid4().hex}",
            session_id=session_id,
            parent_task_id=parent_task_id,
            parent_tool_call_id=parent_tool_call_id,
            correlation_id=correlation_id,
            mode=mode,
            instructions=instructions,
            status="running",
        )
        try:
            async with self._sessions.begin() as db:
                db.add(row)
        except IntegrityError:  # made by a previous owner of the session
            existing = await self.find(session_id, parent_tool_call_id)
            if existing is None:
                raise
            return existing
        return row

    async def finish(self, task_id: str, status: str, result: str) -> None:
        async with self._sessions.begin() as db:
            await db.execute(
                update(TaskRow).where(TaskRow.id == task_id).values(status=status, result=result)
            )

    async def of_session(self, session_id: str) -> list[TaskRow]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(TaskRow).where(TaskRow.session_id == session_id).order_by(TaskRow.created_at)
            )
            return list(rows)

    async def audit(self, event: ev.BaseEvent) -> None:
        payload: dict[str, Any] = event.model_dump(mode="json", exclude=AUDIT_EXCLUDE)
        async with self._sessions.begin() as db:
            db.add(
                AuditRow(
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                    type=str(payload.get("type", type(event).__name__)),
                    session_id=event.session_id,
                    correlation_id=event.correlation_id,
                    task_id=event.task_id,
                    trace_id=event.trace_id,
                    payload=payload,
                )
            )

    async def facts_of_call(self, session_id: str, tool_call_id: str) -> set[str]:
        """The event types recorded for one tool call (what is known to have happened)."""
        return {
            row.type
            for row in await self.audit_trail(session_id)
            if row.payload.get("tool_call_id") == tool_call_id
        }

    async def audit_trail(self, session_id: str) -> list[AuditRow]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(AuditRow).where(AuditRow.session_id == session_id).order_by(AuditRow.id)
            )
            return list(rows)
