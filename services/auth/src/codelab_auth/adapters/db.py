"""Engine and session factory, and the bridge that lets authlib's sync hooks use them.

authlib calls ``query_client``, ``authenticate_user``, ``save_token``... synchronously,
while our database is SQLAlchemy asyncio (aiosqlite / asyncpg). Rather than a second,
synchronous engine, each token request runs authlib inside
``await async_session.run_sync(fn)``: SQLAlchemy spawns a greenlet in which ``fn``
gets an ordinary sync :class:`~sqlalchemy.orm.Session` over the *same* async
connection, and every query it makes is awaited on the event loop by greenlet
switching. :func:`await_in_sync` uses the same mechanism to push CPU-heavy work
(argon2) to a thread without blocking the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

T = TypeVar("T")


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine; for SQLite, the file's directory is created and FKs enforced."""
    url = make_url(database_url)
    # hide_parameters: even at DEBUG, SQL logs must not carry password or secret hashes.
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def await_in_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a worker thread from code running under ``run_sync``.

    Must be called from inside ``AsyncSession.run_sync`` (a SQLAlchemy greenlet);
    the loop stays free while argon2 burns its ~50 ms.
    """
    return await_(asyncio.to_thread(fn, *args))
