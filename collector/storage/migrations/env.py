"""Alembic environment: runs on the connection perfbeacon hands in (see migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from collector.storage.tables import metadata

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
