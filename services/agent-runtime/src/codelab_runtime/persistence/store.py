"""Sessions and messages in SQL (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from codelab_common.db import upgrade_schema
from codelab_runtime.persistence.models import MessageRow, SessionRow
from codelab_runtime.persistence.tasks import TaskStore
from codelab_runtime.state import HistoryItem, SessionState

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; for a SQLite file, make sure its directory exists."""
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return create_async_engine(url, pool_pre_ping=True)


async def migrate(engine: AsyncEngine) -> None:
    """Apply every alembic migration (run at startup, safe with replicas starting together)."""
    await upgrade_schema(engine, str(_MIGRATIONS), "codelab-runtime-migrations")


class SessionStore:
    """Reads and writes the runtime's durable session state."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.tasks = TaskStore(self._sessions)

    async def ping(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def create_session(self, session_id: str, owner: str, cwd: str, mode: str) -> None:
        async with self._sessions.begin() as db:
            if await db.get(SessionRow, session_id) is None:
                db.add(SessionRow(id=session_id, owner=owner, cwd=cwd, mode=mode))

    async def set_mode(self, session_id: str, mode: str) -> None:
        async with self._sessions.begin() as db:
            await db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(mode=mode)
            )

    async def set_session_fields(self, session_id: str, **values: Any) -> None:
        """Update plan, always_allowed or other plain columns of a session."""
        async with self._sessions.begin() as db:
            await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))

    async def add_usage(
        self, session_id: str, prompt_tokens: int, completion_tokens: int, cost_usd: float
    ) -> None:
        async with self._sessions.begin() as db:
            await db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(
                    prompt_tokens=SessionRow.prompt_tokens + prompt_tokens,
                    completion_tokens=SessionRow.completion_tokens + completion_tokens,
                    cost_usd=SessionRow.cost_usd + cost_usd,
                )
            )

    async def add_message(
        self,
        session_id: str,
        content: dict[str, Any],
        *,
        agent_mode: str,
        correlation_id: str | None,
        task_id: str | None = None,
    ) -> None:
        async with self._sessions.begin() as db:
            db.add(
                MessageRow(
                    session_id=session_id,
                    role=str(content.get("role", "")),
                    agent_mode=agent_mode,
                    content=content,
                    correlation_id=correlation_id,
                    task_id=task_id,
                )
            )

    async def replace_history(
        self, session_id: str, task_id: str | None, items: list[HistoryItem]
    ) -> None:
        """Swap a context's stored messages for ``items`` (after condensing), atomically."""
        scope = MessageRow.task_id.is_(None) if task_id is None else MessageRow.task_id == task_id
        async with self._sessions.begin() as db:
            await db.execute(delete(MessageRow).where(MessageRow.session_id == session_id, scope))
            db.add_all(
                MessageRow(
                    session_id=session_id,
                    role=str(item.message.get("role", "")),
                    agent_mode=item.agent,
                    content=item.message,
                    correlation_id=item.correlation_id,
                    task_id=task_id,
                )
                for item in items
            )

    async def load(self, session_id: str) -> SessionState | None:
        """The session with its full history, or ``None`` if it was never created."""
        async with self._sessions() as db:
            row = await db.get(SessionRow, session_id)
            if row is None:
                return None
            messages = await db.scalars(
                select(MessageRow)
                .where(MessageRow.session_id == session_id, MessageRow.task_id.is_(None))
                .order_by(MessageRow.id)
            )
            history = [HistoryItem(m.content, m.correlation_id, m.agent_mode) for m in messages]
        return SessionState(
            session_id=row.id,
            owner=row.owner,
            cwd=row.cwd,
            mode=row.mode,
            history=history,
            always_allowed=set(row.always_allowed or []),
            plan=row.plan,
            prompt_tokens=row.prompt_tokens or 0,
            completion_tokens=row.completion_tokens or 0,
            cost_usd=row.cost_usd or 0.0,
        )

    async def task_history(self, session_id: str, task_id: str) -> list[HistoryItem]:
        """A subtask's own context, as persisted so far."""
        async with self._sessions() as db:
            messages = await db.scalars(
                select(MessageRow)
                .where(MessageRow.session_id == session_id, MessageRow.task_id == task_id)
                .order_by(MessageRow.id)
            )
            return [HistoryItem(m.content, m.correlation_id, m.agent_mode) for m in messages]

    async def messages(self, session_id: str) -> list[MessageRow]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(MessageRow)
                .where(MessageRow.session_id == session_id)
                .order_by(MessageRow.id)
            )
            return list(rows)
