"""Database plumbing every service shares: engine, the inbox/outbox tables, transient-error detection, migrations.

Each service owns one PostgreSQL schema; these tables are created inside it by that service's migrations.
"""

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    any_,
    bindparam,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.elements import ColumnElement

# SQLSTATE classes worth retrying: connection trouble, database not accepting connections or lock
# unavailable (class 55), shutdown, overload, serialization conflicts.
_TRANSIENT_SQLSTATES = ("08", "55", "57P01", "57P02", "57P03", "53300", "40001", "40P01")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # hide_parameters: the values bound to a statement (phones, names, e-mails) never reach an error message or log.
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
    event.listen(engine.sync_engine, "checkout", _closed_by_the_server)
    return engine


def _closed_by_the_server(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """A pooled connection the server has closed is replaced when it is checked out (SQLAlchemy retries the checkout
    with a new one). A restart or crash of PostgreSQL ends every backend, and the event loop sees each socket close
    while its connection waits in the pool, so this costs no round trip. SQLAlchemy's pre-ping, used before, spent
    three on every checkout (BEGIN, a statement, ROLLBACK: about 0.3 ms of a service's CPU per HTTP call). A
    connection lost without the socket closing fails at its first statement instead: SQLAlchemy then invalidates
    the whole pool, and the failure is transient (`is_transient`), so a consumer's batch is retried on new
    connections."""
    driver = record.driver_connection
    if driver is None or driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The `inbox` (ids of messages already applied) and `outbox` (events waiting for the relay)."""
    prefix = f"{metadata.schema}." if metadata.schema else ""
    if f"{prefix}inbox" in metadata.tables:  # several runtimes of one service in a process share its metadata
        return metadata.tables[f"{prefix}inbox"], metadata.tables[f"{prefix}outbox"]
    inbox = Table(
        "inbox",
        metadata,
        # CloudEvents: `source` and `id` together identify a message (contract 1.1); dead letters are kept here
        # under the source "dead-letter" and their coordinates, so a redelivered bad record is dead-lettered once.
        Column("source", Text, primary_key=True),
        Column("message_id", Text, primary_key=True),
        Column("topic", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("inbox_processed_at", "processed_at"),  # retention deletes old entries by it
    )
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("topic", Text, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Index("outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )
    outbox_parked_table(metadata)
    return inbox, outbox


def outbox_parked_table(metadata: MetaData) -> Table:
    """`outbox_parked`: rows the broker refused for a reason that will not go away (too large for their topic,
    topic unknown, not serializable), moved here whole by the relay with the error, so nothing waits behind
    them. Parked rows stay for inspection; nothing publishes them again on its own."""
    name = f"{metadata.schema}.outbox_parked" if metadata.schema else "outbox_parked"
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(
        "outbox_parked",
        metadata,
        Column("id", BigInteger, primary_key=True),  # the outbox row's id, kept
        Column("topic", Text, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("error", Text, nullable=False),  # the refusal, cut to 1,000 characters
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def command_table(metadata: MetaData) -> Table:
    """`commands`: every command a service answered, with the answer, so a replay gets the same one (SPEC §10)."""
    name = f"{metadata.schema}.commands" if metadata.schema else "commands"
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(
        "commands",
        metadata,
        Column("command_id", Text, primary_key=True),
        Column("command_type", Text, nullable=False),
        Column("answer", LargeBinary, nullable=False),  # the records the first handling emitted (outbox.pack)
        Column("answered_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def create_command_table(bind: Connection, schema: str) -> None:
    """For a service's migration: its `commands` table as defined above."""
    command_table(MetaData(schema=schema)).create(bind)


async def copy_rows(session: AsyncSession | AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Appends `rows` to `table` with PostgreSQL's COPY, in the session's transaction: the fast path for many
    rows that cannot conflict (outbox, audit trail). Columns missing from the rows take their defaults."""
    if not rows:
        return
    columns = list(rows[0].keys())
    connection = session if isinstance(session, AsyncConnection) else await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None, "an open asyncpg connection"
    await raw.copy_records_to_table(
        table.name, schema_name=table.schema, columns=columns, records=[tuple(r[c] for c in columns) for r in rows]
    )


def sqlstate(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        for attr in ("sqlstate", "pgcode"):
            code = getattr(seen, attr, None)
            if isinstance(code, str):
                return code
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    """True for failures that go away by waiting (database or network down); those are retried, never skipped."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | asyncio.TimeoutError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is not None:
        return code.startswith(_TRANSIENT_SQLSTATES)
    return isinstance(exc, OperationalError)


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


def alembic_config(migrations_dir: Path, url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


async def migrate(migrations_dir: Path, url: str, schema: str) -> None:
    """Upgrades the service's schema to head; Alembic's env runs its own event loop, hence the thread."""
    cfg = alembic_config(migrations_dir, url, schema)
    await asyncio.to_thread(command.upgrade, cfg, "head")


def among(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY(:values)`: one array parameter, so the statement (and its prepared plan) is the same whatever
    the number of values, where `IN` would name each one — a new statement for every batch size, whose preparing
    and planning showed in the benchmarks (bench/README.md, issue 12)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
