"""worker liveness (worker_passes) and the per-mail send lease owner (mail_outbox.lease_owner)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_passes",
        sa.Column("worker_id", sa.String(length=120), nullable=False),
        sa.Column("loop", sa.String(length=16), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", "loop", name=op.f("pk_worker_passes")),
    )
    op.create_index(
        op.f("ix_worker_passes_last_pass_at"), "worker_passes", ["last_pass_at"], unique=False
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
    op.drop_index(op.f("ix_worker_passes_last_pass_at"), table_name="worker_passes")
    op.drop_table("worker_passes")
