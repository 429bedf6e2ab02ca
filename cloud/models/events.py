"""Events as received from gateways, and the per-slot check-in outcome derived from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base


class EventRecord(Base):
    """One row per gateway event id: the primary key makes ingest idempotent."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_household_occurred", "household_id", "occurred_at"),)

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
