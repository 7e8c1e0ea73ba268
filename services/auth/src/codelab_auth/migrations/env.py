"""Alembic environment for the auth schema.

Two ways in: :func:`codelab_auth.adapters.migrate.upgrade` hands over an open
connection (service startup and ``codelab-auth migrate``), or the plain ``alembic``
command, in which case the URL comes from :class:`AuthSettings` (same env vars as
the service).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from codelab_auth.adapters.db import create_engine
from codelab_auth.adapters.models import Base
from codelab_auth.settings import AuthSettings

target_metadata = Base.metadata


def _database_url() -> str:
    return context.config.get_main_option("sqlalchemy.url") or AuthSettings().database_url


def _run_with(connection: Connection) -> None:
    # batch mode lets later ALTERs work on SQLite, which cannot alter columns in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_with)
    finally:
        await engine.dispose()


def run_migrations() -> None:
    """Dispatch on offline / shared-connection / own-engine mode."""
    if context.is_offline_mode():
        context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
    else:
        asyncio.run(_run_async(_database_url()))


run_migrations()
