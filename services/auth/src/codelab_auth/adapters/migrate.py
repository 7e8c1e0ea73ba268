"""Apply the alembic migrations programmatically (startup and ``codelab-auth migrate``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Arbitrary but fixed: serialises concurrent replicas migrating the same PostgreSQL.
_PG_MIGRATION_LOCK = 0x636F64656C6162


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", "codelab_auth:migrations")
    return config


def _upgrade_on(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision, in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_on)
