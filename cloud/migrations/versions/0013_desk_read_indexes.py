"""Staff pages at a prefecture's size (issue 18): an office's households as (office_id, id)
from the index alone, replacing the index on office_id.

The desk's open incidents and the watch banner's failed-mail count join an office's
households to the open incidents. With only an index on office_id, PostgreSQL read the
2,000 household rows of an office and probed the open incidents once per household, a plan
costly enough that it started a parallel worker for it on every desk render and poll
(100,000 households: 9-17 ms a statement, 2-4 ms with this index: an index-only scan of
the office hashed against the open incidents). The composite index serves every query the
office_id index served.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.create_index("ix_households_office_household", ["office_id", "id"])
        batch_op.drop_index("ix_households_office_id")


def downgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.create_index("ix_households_office_id", ["office_id"], unique=False)
        batch_op.drop_index("ix_households_office_household")
