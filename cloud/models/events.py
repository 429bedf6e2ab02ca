"""Events as received from gateways, and the per-slot check-in outcome derived from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base

# "This event still carries words the resident spoke": a transcript (shared for quality
# review) or the free text of a trouble request. Retention blanks them after a shorter span
# than the event; the partial index below holds only such events, so finding the next ones
# to blank never rereads the events already blanked. The query must repeat this exact text
# for the index to be usable (cloud/services/retention.py; migration 0004 has a copy).
SPEECH_PRESENT = {
    "sqlite": (
        "json_extract(payload, '$.transcript') IS NOT NULL OR (kind = 'request.trouble' "
        "AND json_extract(payload, '$.text') IS NOT NULL)"
    ),
    "postgresql": (
        "(payload ->> 'transcript') IS NOT NULL OR (kind = 'request.trouble' "
        "AND (payload ->> 'text') IS NOT NULL)"
    ),
}


class EventRecord(Base):
    """One row per gateway event id: the primary key makes ingest idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_household_occurred", "household_id", "occurred_at"),
        # Retention deletes old events of the prunable kinds: a seek per kind, never a scan
        # of the kinds that are kept longer (cloud/services/retention.py).
        Index("ix_events_kind_occurred", "kind", "occurred_at"),
        Index(
            "ix_events_speech_occurred",
            "occurred_at",
            sqlite_where=text(SPEECH_PRESENT["sqlite"]),
            postgresql_where=text(SPEECH_PRESENT["postgresql"]),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    gateway_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column()


class Checkin(Base):
    """What happened to one slot on one local date: answered or no_response (first wins,
    except that an answer overrides an earlier no_response)."""

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("household_id", "slot_date", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    slot_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # answered | no_response
    intent: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime]
    event_id: Mapped[str] = mapped_column(String(36))
