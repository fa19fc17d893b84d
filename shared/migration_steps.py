"""Schema steps every service's migrations share (its inbox, outbox, timers and answered commands), written out
as they stood at their revision — never built from the live table definitions, which move on.

Each service's migration of that revision calls the step with its own schema; a service-specific addition
stays in that service's migration.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def messaging_tables_0001(bind: Any, schema: str) -> None:
    """Revision 0001: the `inbox` and `outbox` as they were then (later revisions change them)."""
    metadata = sa.MetaData(schema=schema)
    sa.Table("inbox", metadata,
             sa.Column("message_id", sa.Text, primary_key=True),
             sa.Column("topic", sa.Text, nullable=False),
             sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    sa.Table("outbox", metadata,
             sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
             sa.Column("topic", sa.Text, nullable=False),
             sa.Column("key", sa.LargeBinary, nullable=True),
             sa.Column("value", sa.LargeBinary, nullable=False),
             sa.Column("headers", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
             sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
             sa.Index("outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")))
    metadata.create_all(bind)


def timer_table_0002(bind: Any, schema: str) -> None:
    """A service's first timers revision (0002): `timers` as it was then (0006 added attempts and parking)."""
    metadata = sa.MetaData(schema=schema)
    sa.Table("timers", metadata,
             sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
             sa.Column("kind", sa.Text, nullable=False),
             sa.Column("key", sa.Text, nullable=False),
             sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
             sa.Column("payload", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
             sa.UniqueConstraint("kind", "key", name="one_timer_per_kind_and_key"),
             sa.Index("timers_due", "due_at"))
    metadata.create_all(bind)


def answered_commands_0003(schema: str) -> None:
    """Revision 0003: `commands`, the first answer of every command (a replay gets it again)."""
    op.create_table(
        "commands",
        sa.Column("command_id", sa.Text, primary_key=True),
        sa.Column("command_type", sa.Text, nullable=False),
        sa.Column("answer", sa.LargeBinary, nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def undo_answered_commands_0003(schema: str) -> None:
    op.drop_table("commands", schema=schema)


def inbox_by_source_0005(schema: str) -> None:
    """Revision 0005: the inbox de-duplicates on (source, id); dead letters are kept in it by coordinates."""
    # Rows from before keep an empty source: the offsets of what they record were committed long since.
    op.add_column("inbox", sa.Column("source", sa.Text, nullable=False, server_default=""), schema=schema)
    op.alter_column("inbox", "source", server_default=None, schema=schema)
    op.drop_constraint("inbox_pkey", "inbox", schema=schema)
    op.create_primary_key("inbox_pkey", "inbox", ["source", "message_id"], schema=schema)


def undo_inbox_by_source_0005(schema: str) -> None:
    op.drop_constraint("inbox_pkey", "inbox", schema=schema)
    op.execute(f'DELETE FROM "{schema}".inbox WHERE source = \'dead-letter\'')
    op.create_primary_key("inbox_pkey", "inbox", ["message_id"], schema=schema)
    op.drop_column("inbox", "source", schema=schema)


def never_wedged_0006(schema: str) -> None:
    """Revision 0006: `outbox_parked`; timers retried then parked; the inbox indexed for retention."""
    parked_outbox_0006(schema)
    op.add_column("timers", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"), schema=schema)
    op.add_column("timers", sa.Column("last_error", sa.Text), schema=schema)
    op.add_column("timers", sa.Column("parked_at", sa.DateTime(timezone=True)), schema=schema)
    # Parked timers are never claimed: the claim's index leaves them out, and a small one counts them.
    op.drop_index("timers_due", "timers", schema=schema)
    op.create_index("timers_due", "timers", ["due_at"], schema=schema, postgresql_where=sa.text("parked_at IS NULL"))
    op.create_index("timers_parked", "timers", ["parked_at"], schema=schema,
                    postgresql_where=sa.text("parked_at IS NOT NULL"))


def parked_outbox_0006(schema: str) -> None:
    """Revision 0006's messaging part (a service without timers has only this): `outbox_parked`, and the inbox
    indexed for retention."""
    op.create_table(
        "outbox_parked",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", postgresql.JSONB, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index("inbox_processed_at", "inbox", ["processed_at"], schema=schema)


def undo_never_wedged_0006(schema: str) -> None:
    op.drop_index("timers_parked", "timers", schema=schema)
    op.drop_index("timers_due", "timers", schema=schema)
    op.create_index("timers_due", "timers", ["due_at"], schema=schema)
    for column in ("parked_at", "last_error", "attempts"):
        op.drop_column("timers", column, schema=schema)
    op.drop_index("inbox_processed_at", "inbox", schema=schema)
    op.drop_table("outbox_parked", schema=schema)
