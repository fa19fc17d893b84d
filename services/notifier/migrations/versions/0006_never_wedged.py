"""Never wedged: rows the broker refuses for good are parked in `outbox_parked`; failing timers are retried and
then parked; retention finds old inbox entries and delivered message bodies by index.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import never_wedged_0006, undo_never_wedged_0006

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    never_wedged_0006(SCHEMA)
    # Retention clears bodies of delivered notifications; cleared ones leave this index (the clearing writes '').
    op.create_index("deliveries_body_kept", "deliveries", ["sent_at"], schema=SCHEMA,
                    postgresql_where=sa.text("body <> ''"))


def downgrade() -> None:
    op.drop_index("deliveries_body_kept", "deliveries", schema=SCHEMA)
    undo_never_wedged_0006(SCHEMA)
