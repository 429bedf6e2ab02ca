"""household settings: voice speed/volume, transcripts, quiet hours, inactivity, questions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Server defaults fill existing rows with what the gateway assumed until now
    # (mimamori_wire.v1.GatewayConfig / Slot defaults).
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tts_speed", sa.Float(), nullable=False, server_default=sa.text("1.0"))
        )
        batch_op.add_column(
            sa.Column("tts_volume", sa.Float(), nullable=False, server_default=sa.text("1.0"))
        )
        batch_op.add_column(
            sa.Column("share_transcripts", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("quiet_start", sa.String(length=5), nullable=False, server_default="21:00")
        )
        batch_op.add_column(
            sa.Column("quiet_end", sa.String(length=5), nullable=False, server_default="06:30")
        )
        batch_op.add_column(
            sa.Column(
                "inactivity_deadline", sa.String(length=5), nullable=True, server_default="10:00"
            )
        )
    with op.batch_alter_table("schedule_slots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("questions", JSON, nullable=False, server_default=sa.text("'[\"health\"]'"))
        )
        batch_op.add_column(
            sa.Column(
                "reask_offsets_min", JSON, nullable=False, server_default=sa.text("'[10, 20]'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("schedule_slots", schema=None) as batch_op:
        batch_op.drop_column("reask_offsets_min")
        batch_op.drop_column("questions")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("inactivity_deadline")
        batch_op.drop_column("quiet_end")
        batch_op.drop_column("quiet_start")
        batch_op.drop_column("share_transcripts")
        batch_op.drop_column("tts_volume")
        batch_op.drop_column("tts_speed")
