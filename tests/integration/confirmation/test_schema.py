"""The migrations build exactly the tables repository.py uses (each revision written out, none importing them)."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from harness.infra import Infra
from services.confirmation.repository import SCHEMA, metadata
from shared.db import command_table


async def test_the_migrated_schema_is_the_one_the_repository_describes(migrated: Infra) -> None:
    command_table(metadata)  # the consumer's answered commands live in the service's schema too

    def only_ours(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "schema" or name == SCHEMA

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True, "include_name": only_ours, "version_table_schema": SCHEMA})
        return compare_metadata(context, metadata)  # type: ignore[no-any-return]

    engine = create_async_engine(migrated.database_url, hide_parameters=True)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
