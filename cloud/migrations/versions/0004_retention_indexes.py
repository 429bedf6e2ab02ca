"""retention indexes: events by kind and age, events still carrying speech, finished mail

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A frozen copy of cloud.models.events.SPEECH_PRESENT (migrations never import the models).
SPEECH_PRESENT_SQLITE = (
    "json_extract(payload, '$.transcript') IS NOT NULL OR (kind = 'request.trouble' "
    "AND json_extract(payload, '$.text') IS NOT NULL)"
)
SPEECH_PRESENT_PG = (
    "(payload ->> 'transcript') IS NOT NULL OR (kind = 'request.trouble' "
    "AND (payload ->> 'text') IS NOT NULL)"
)


def upgrade() -> None:
    op.create_index("ix_events_kind_occurred", "events", ["kind", "occurred_at"])
    op.create_index(
        "ix_events_speech_occurred",
        "events",
        ["occurred_at"],
        sqlite_where=sa.text(SPEECH_PRESENT_SQLITE),
        postgresql_where=sa.text(SPEECH_PRESENT_PG),
    )
    op.create_index("ix_mail_outbox_status_created", "mail_outbox", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_status_created", table_name="mail_outbox")
    op.drop_index("ix_events_speech_occurred", table_name="events")
    op.drop_index("ix_events_kind_occurred", table_name="events")
