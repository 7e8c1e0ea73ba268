"""Writing the ledger off the request path, and reading it back grouped.

Calls are queued and inserted in batches by one background task, so a request never waits
for the database; what is queued when the proxy stops is flushed in ``aclose``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from codelab_common.db import upgrade_schema
from codelab_llm_proxy.ledger.models import UsageRow

log = logging.getLogger(__name__)
GroupBy = Literal["model", "day", "session", "none"]
_BATCH = 200
_GROUP_COLUMNS = {"model": UsageRow.model, "day": UsageRow.day, "session": UsageRow.session}
_MIGRATIONS = "codelab_llm_proxy:migrations"


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: SQL logs must never carry row values.
    sqlite = url.get_backend_name() == "sqlite"
    # A file next to the process needs no liveness ping per checkout; a server does.
    engine = create_async_engine(url, hide_parameters=True, pool_pre_ping=not sqlite)
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_for_appends)
    return engine


def _sqlite_for_appends(connection: Any, record: Any) -> None:
    # WAL + synchronous=NORMAL: a batch commit appends to the log without an fsync of the
    # database file, so the writer thread holds the GIL (and delays requests) far less;
    # a crash can lose the last batches, never corrupt the file.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class UsageLedger:
    """Batched inserts and grouped reads of ``usage_records``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        # One writer at a time, and rows leave ``_pending`` only under it, so ``flush`` never
        # returns while a batch taken by the background writer is still unwritten.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await upgrade_schema(self._engine, _MIGRATIONS, "codelab-llm-proxy-migrations")
        self._task = asyncio.create_task(self._writer(), name="usage-ledger-writer")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
        await self._engine.dispose()

    def add(self, row: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        self._pending.append({"ts": now, "day": now.date().isoformat(), **row})
        self._arrived.set()

    async def flush(self) -> None:
        """Write everything queued now (reads, shutdown)."""
        async with self._lock:
            while self._pending:
                rows, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
                await self._write(rows)

    async def _writer(self) -> None:
        while True:
            await self._arrived.wait()
            await asyncio.sleep(0.2)  # let a burst gather into one insert
            self._arrived.clear()
            await self.flush()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(UsageRow), rows)
        except Exception:
            # Accounting must not take the proxy down; the metrics still counted the calls.
            log.exception("usage ledger write failed", extra={"rows": len(rows)})

    async def query(
        self, *, caller: str | None, group_by: GroupBy, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Rows newest first (``group_by='none'``), or sums per group in ascending key order
        (so days run oldest first); ``caller=None`` is everyone."""
        filters = []
        if caller is not None:
            filters.append(UsageRow.caller == caller)
        if since:
            filters.append(UsageRow.day >= since)
        if group_by == "none":
            statement = select(UsageRow).where(*filters).order_by(UsageRow.id.desc()).limit(limit)
            async with self._engine.connect() as connection:
                result = await connection.execute(statement)
                return [_plain(dict(r._mapping)) for r in result]
        column = _GROUP_COLUMNS[group_by]
        grouped = (
            select(
                column.label("key"),
                func.count().label("requests"),
                func.sum(UsageRow.prompt_tokens).label("prompt_tokens"),
                func.sum(UsageRow.completion_tokens).label("completion_tokens"),
                func.sum(UsageRow.cached_tokens).label("cached_tokens"),
                func.sum(UsageRow.cost_usd).label("cost_usd"),
            )
            .where(*filters)
            .group_by(column)
            .order_by(column)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = await connection.execute(grouped)
            return [_plain(dict(r._mapping)) for r in rows]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("ts"), datetime):
        row["ts"] = row["ts"].isoformat()
    return row
