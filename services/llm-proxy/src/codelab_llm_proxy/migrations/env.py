"""Alembic environment of the llm_proxy schema (run by the service at startup)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from codelab_llm_proxy.ledger.models import Base

target_metadata = Base.metadata


def _run_with(connection: Connection) -> None:
    # batch mode lets later ALTERs work on SQLite, which cannot alter columns in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Only the shared-connection mode: ``codelab_common.db.upgrade_schema`` hands one over."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run through codelab_common.db.upgrade_schema (the proxy's startup)")
    _run_with(connection)


run_migrations()
