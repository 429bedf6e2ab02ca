"""LINE as a family channel (issue 17): the outbox carries channel, contact and step with one
delivery per (incident, step, contact, channel); contacts get a LINE user, blocked time and
channel preference; LINE channel credentials, link codes and webhook events seen.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(16), nullable=False, server_default="email")
        )
        batch_op.add_column(sa.Column("contact_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_mail_outbox_delivery", ["incident_id", "step", "contact_id", "channel"]
        )
        batch_op.create_index("ix_mail_outbox_channel_status", ["channel", "status"])
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_user_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("line_blocked_at", TS, nullable=True))
        batch_op.add_column(
            sa.Column("channel_pref", sa.String(16), nullable=False, server_default="line_first")
        )
        batch_op.create_index("ix_family_contacts_line_user_id", ["line_user_id"])
    op.create_table(
        "line_channels",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "municipality_id", sa.String(36), sa.ForeignKey("municipalities.id"), nullable=False
        ),
        sa.Column(
            "office_id", sa.String(36), sa.ForeignKey("post_offices.id"), nullable=True, unique=True
        ),
        sa.Column("channel_id", sa.String(32), nullable=False, unique=True),
        sa.Column("channel_secret", sa.String(128), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("add_friend_url", sa.String(300), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_line_channels_municipality_id", "line_channels", ["municipality_id"])
    op.create_table(
        "line_link_codes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("household_id", sa.String(36), sa.ForeignKey("households.id"), nullable=False),
        sa.Column("contact_id", sa.String(36), sa.ForeignKey("family_contacts.id"), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_line_link_codes_household_id", "line_link_codes", ["household_id"])
    op.create_index("ix_line_link_codes_contact_id", "line_link_codes", ["contact_id"])
    op.create_table(
        "line_webhook_events",
        sa.Column("webhook_event_id", sa.String(64), primary_key=True),
        sa.Column("line_channel_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("line_webhook_events")
    op.drop_table("line_link_codes")
    op.drop_table("line_channels")
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_family_contacts_line_user_id")
        batch_op.drop_column("channel_pref")
        batch_op.drop_column("line_blocked_at")
        batch_op.drop_column("line_user_id")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_channel_status")
        batch_op.drop_constraint("uq_mail_outbox_delivery", type_="unique")
        batch_op.drop_column("step")
        batch_op.drop_column("contact_id")
        batch_op.drop_column("channel")
