"""Leased alerts can be cancelled (issue 18): mail_outbox.handed_at, set by the sender's
per-send compare-and-set right before it hands a delivery to its server (SMTP, LINE).

A late answer cancels every alert of the incident not yet handed over, leased or not: a
sender holding a claim of 8 mails no longer sends "no answer" after the answer came. Only
a delivery with handed_at set may have reached its recipient, who then hears the follow-up
(cloud/notify/followups.py, cloud/mail/sender.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("handed_at")
