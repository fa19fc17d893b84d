"""`branch_day_caps` keeps whether the day is closed, now that `BranchPlanChanged.daily_caps` names every day's cap.

Revision ID: 0003
Revises: 0002

Rows written before this revision came from `over_daily_cap`, where a closed day carries a cap of 0: they are
closed exactly when their cap is 0 (a day with a cap of 0 takes no booking, as the appointments service counts it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "console"


def upgrade() -> None:
    op.add_column("branch_day_caps", sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
                  schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.branch_day_caps SET closed = true WHERE daily_cap = 0")


def downgrade() -> None:
    op.drop_column("branch_day_caps", "closed", schema=SCHEMA)
