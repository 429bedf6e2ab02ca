"""care desk: phones, birth date, visitor notes, contact roles and order, case log columns

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phones", JSON, nullable=False, server_default=EMPTY_LIST))
        batch_op.add_column(sa.Column("visitor_notes", sa.Text(), nullable=True))
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=True)
        batch_op.add_column(sa.Column("phones", JSON, nullable=False, server_default=EMPTY_LIST))
        # Existing contacts are family who receive alerts: that is what they were until now.
        batch_op.add_column(
            sa.Column("roles", JSON, nullable=False, server_default=sa.text("'[\"family\"]'"))
        )
        batch_op.add_column(
            sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_by_name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("family_reached_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("family_reached_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("resolved_by_name", sa.String(length=200), nullable=True))
    with op.batch_alter_table("incident_notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callee", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("call_result", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_notes", schema=None) as batch_op:
        batch_op.drop_column("call_result")
        batch_op.drop_column("phone")
        batch_op.drop_column("callee")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("resolved_by_name")
        batch_op.drop_column("family_reached_by")
        batch_op.drop_column("family_reached_at")
        batch_op.drop_column("acknowledged_by_name")
    with op.batch_alter_table("family_contacts", schema=None) as batch_op:
        batch_op.drop_column("priority")
        batch_op.drop_column("roles")
        batch_op.drop_column("phones")
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=False)
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("birth_date")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("visitor_notes")
        batch_op.drop_column("phones")
