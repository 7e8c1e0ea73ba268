"""Apply the alembic migrations programmatically (startup and ``codelab-auth migrate``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from codelab_common.db import upgrade_schema


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision, in one transaction, serialised across replicas."""
    await upgrade_schema(engine, "codelab_auth:migrations", "codelab-auth-migrations")
