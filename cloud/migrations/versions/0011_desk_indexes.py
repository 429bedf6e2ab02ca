"""Desk at a prefecture's size (issue 18): the desk's "recently resolved" list reads the
newest resolved incidents backwards along an index on resolved_at, instead of scanning and
sorting every incident ever resolved (43 M incident rows read by sequential scans during the
100,000-household morning, docs/benchmarks.md "morning").

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 07:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_resolved_at", "incidents", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_resolved_at", table_name="incidents")
