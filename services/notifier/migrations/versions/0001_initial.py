"""Recipients, loan borrowers, deliveries, inbox and outbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migration_steps import messaging_tables_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    messaging_tables_0001(op.get_bind(), SCHEMA)
    op.create_table(
        "recipients",
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("channels", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "loan_borrowers",
        sa.Column("loan_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "deliveries",
        sa.Column("notification_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("event_id", "customer_id", "channel", name="one_delivery_per_event_recipient_channel"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("deliveries", "loan_borrowers", "recipients", "outbox", "inbox"):
        op.drop_table(table, schema=SCHEMA)
