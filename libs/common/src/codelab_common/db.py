"""Database helpers every service shares: schema migrations that replicas may run at once."""

from __future__ import annotations

import zlib

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

# Held until the transaction ends; the key is a lock name's CRC-32.
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _advisory_key(lock_name: str) -> dict[str, int]:
    return {"key": zlib.crc32(lock_name.encode())}


def _upgrade(connection: Connection, script_location: str, lock_name: str) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas start together: the first migrates, the others wait on this lock (held
        # until the transaction ends) and then find the schema current.
        connection.execute(_ADVISORY_LOCK, _advisory_key(lock_name))
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def serialise_across_replicas(db: AsyncSession, lock_name: str) -> None:
    """Hold ``lock_name`` until ``db``'s transaction ends, so replicas doing the same
    read-then-write take turns (PostgreSQL advisory lock; SQLite serialises writers itself
    and is one replica's database)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_ADVISORY_LOCK, _advisory_key(lock_name))


async def upgrade_schema(engine: AsyncEngine, script_location: str, lock_name: str) -> None:
    """Apply every alembic migration in one transaction, serialised across replicas."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, script_location, lock_name)
