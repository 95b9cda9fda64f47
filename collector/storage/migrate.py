"""Run Alembic migrations on an async engine, one history for both dialects.

>>> await upgrade(engine)          # empty database -> newest schema
>>> await downgrade(engine, "base")
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.db import has_citus

SCRIPT_LOCATION = "collector.storage:migrations"
# Any constant works; it only has to be the same in every collector process.
_MIGRATION_LOCK_ID = 7_310_046_211


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at perfbeacon's migrations, bound to a connection."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default)."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the database back to ``revision`` (``base`` drops everything)."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, "downgrade", revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


def head_revision() -> str | None:
    """The newest revision perfbeacon knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _run(connection: Connection, action: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Several collectors starting at once must not migrate concurrently.
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
        if has_citus(connection):
            # All revisions run in one transaction. Citus spreads work on a distributed
            # table over one connection per shard, after which that transaction may not
            # touch a reference table again ("there was a parallel operation on a
            # distributed table"); one connection per worker keeps every step allowed.
            connection.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
    getattr(command, action)(alembic_config(connection), revision)
