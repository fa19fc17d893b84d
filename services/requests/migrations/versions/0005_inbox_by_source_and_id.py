"""Contract 1.1: the inbox de-duplicates on (source, id), the pair that identifies a CloudEvent; dead letters are
recorded in it by their coordinates, so a redelivered bad record is dead-lettered once.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "requests"


def upgrade() -> None:
    # Rows from before keep an empty source: the offsets of what they record were committed long since.
    op.add_column("inbox", sa.Column("source", sa.Text, nullable=False, server_default=""), schema=SCHEMA)
    op.alter_column("inbox", "source", server_default=None, schema=SCHEMA)
    op.drop_constraint("inbox_pkey", "inbox", schema=SCHEMA)
    op.create_primary_key("inbox_pkey", "inbox", ["source", "message_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_constraint("inbox_pkey", "inbox", schema=SCHEMA)
    op.execute(f'DELETE FROM "{SCHEMA}".inbox WHERE source = \'dead-letter\'')
    op.create_primary_key("inbox_pkey", "inbox", ["message_id"], schema=SCHEMA)
    op.drop_column("inbox", "source", schema=SCHEMA)
