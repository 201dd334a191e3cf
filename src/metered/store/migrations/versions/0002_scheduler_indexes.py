"""the billing scheduler's partial indexes: next period end and next cancel_at per clock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE = "status != 'canceled'"
CANCELING = "status != 'canceled' AND cancel_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index("subscriptions_due", table_name="subscriptions")
    op.create_index("subscriptions_cancel_ats", "subscriptions", ["test_clock_pk", "cancel_at"],
                    unique=False, sqlite_where=sa.text(CANCELING),
                    postgresql_where=sa.text(CANCELING))
    op.create_index("subscriptions_period_ends", "subscriptions",
                    ["test_clock_pk", "current_period_end"], unique=False,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))


def downgrade() -> None:
    op.drop_index("subscriptions_period_ends", table_name="subscriptions")
    op.drop_index("subscriptions_cancel_ats", table_name="subscriptions")
    op.create_index("subscriptions_due", "subscriptions", ["status", "current_period_end"],
                    unique=False)
