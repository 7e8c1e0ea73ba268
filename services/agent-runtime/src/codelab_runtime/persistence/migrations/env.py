"""Alembic environment: migrations run on the connection the runtime hands over at startup."""

from __future__ import annotations

from alembic import context

from codelab_runtime.persistence.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through codelab_runtime.persistence.store.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table="alembic_version_runtime",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
