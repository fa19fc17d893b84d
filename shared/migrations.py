"""Alembic environment shared by every service's `migrations/env.py`: one schema per service, under a lock."""

import asyncio
import zlib

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def run_env(metadata: MetaData) -> None:
    """Run from a service's env.py: applies its migrations inside its own schema."""
    cfg = context.config
    schema = cfg.attributes["schema"]
    url = cfg.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
        )
        with context.begin_transaction():
            # Two copies starting at once must not both migrate.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(schema.encode())})
            # A service's role owns its schema but may not create schemas (CREATE SCHEMA IF NOT EXISTS checks that
            # privilege before it looks), so the schema is created only when it is missing (say, by a superuser).
            if connection.execute(text("SELECT to_regnamespace(:s)"), {"s": schema}).scalar() is None:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, hide_parameters=True)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())
