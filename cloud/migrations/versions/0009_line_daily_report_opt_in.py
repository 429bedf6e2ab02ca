"""Daily report on LINE (issue 17): a contact opts in with family_contacts.daily_report_line,
and the daily-report log is kept per channel, so one report per (contact, day, channel) even
when a worker is retried (the report's outbox row is made in the same transaction); a LINE
report that failed for good finds its log row by mail_id (index) for the e-mail instead.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "daily_report_line", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("daily_reports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(16), nullable=False, server_default="email")
        )
        batch_op.drop_constraint("uq_daily_reports_contact_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_daily_reports_delivery", ["contact_id", "day", "channel"]
        )
        # The fallback pass goes from a failed LINE delivery to its report by mail_id.
        batch_op.create_index("ix_daily_reports_mail_id", ["mail_id"])


def downgrade() -> None:
    with op.batch_alter_table("daily_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_daily_reports_mail_id")
        batch_op.drop_constraint("uq_daily_reports_delivery", type_="unique")
        batch_op.execute("DELETE FROM daily_reports WHERE channel <> 'email'")
        batch_op.create_unique_constraint("uq_daily_reports_contact_id", ["contact_id", "day"])
        batch_op.drop_column("channel")
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.drop_column("daily_report_line")
