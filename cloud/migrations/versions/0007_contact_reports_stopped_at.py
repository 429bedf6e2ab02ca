"""family_contacts.reports_stopped_at: when a family member stopped the daily report by the
unsubscribe link (alerts stay on; staff see it on the household page)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reports_stopped_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.drop_column("reports_stopped_at")
