"""Never wedged: rows the broker refuses for good are parked in `outbox_parked`; failing timers are retried and
then parked; retention finds old inbox entries by index.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "appointments"


def upgrade() -> None:
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
        schema=SCHEMA,
    )
    op.create_index("inbox_processed_at", "inbox", ["processed_at"], schema=SCHEMA)
    op.add_column("timers", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"), schema=SCHEMA)
    op.add_column("timers", sa.Column("last_error", sa.Text), schema=SCHEMA)
    op.add_column("timers", sa.Column("parked_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    # Parked timers are never claimed: the claim's index leaves them out, and a small one counts them.
    op.drop_index("timers_due", "timers", schema=SCHEMA)
    op.create_index("timers_due", "timers", ["due_at"], schema=SCHEMA, postgresql_where=sa.text("parked_at IS NULL"))
    op.create_index("timers_parked", "timers", ["parked_at"], schema=SCHEMA,
                    postgresql_where=sa.text("parked_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("timers_parked", "timers", schema=SCHEMA)
    op.drop_index("timers_due", "timers", schema=SCHEMA)
    op.create_index("timers_due", "timers", ["due_at"], schema=SCHEMA)
    for column in ("parked_at", "last_error", "attempts"):
        op.drop_column("timers", column, schema=SCHEMA)
    op.drop_index("inbox_processed_at", "inbox", schema=SCHEMA)
    op.drop_table("outbox_parked", schema=SCHEMA)
