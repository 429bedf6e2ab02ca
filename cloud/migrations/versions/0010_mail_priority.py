"""Alarm mail first (issue 18): mail_outbox.priority (0 escalation alerts, 1 other mail of an
incident, 2 the rest: daily reports, announcements), and the senders' claim index in that
order. At 09:10 thousands of mails queue at once; a silent resident's family must not wait
behind follow-ups and reports (bench/morning.py, docs/benchmarks.md "morning").

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="2")
        )
    op.execute("UPDATE mail_outbox SET priority = 1 WHERE incident_id IS NOT NULL")
    op.execute("UPDATE mail_outbox SET priority = 0 WHERE kind LIKE 'alert.%'")
    op.drop_index("ix_mail_outbox_due", table_name="mail_outbox")
    op.create_index(
        "ix_mail_outbox_claim", "mail_outbox", ["status", "priority", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_claim", table_name="mail_outbox")
    op.create_index("ix_mail_outbox_due", "mail_outbox", ["status", "next_attempt_at"])
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("priority")
