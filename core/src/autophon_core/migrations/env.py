"""Alembic environment: the URL comes from the AutoPhon config (see autophon_core.migrate)."""

from __future__ import annotations

from alembic import context

from autophon_core.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'autophon migrate' (autophon_core.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
