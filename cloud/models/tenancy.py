"""Who is watched and by whom: municipality -> post office -> household -> residents, family."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.models.base import Base, JSONType, created_at_column, id_column

# Defaults shared with the migration (0003) and mimamori_wire.v1.GatewayConfig.
DEFAULT_QUIET_START = "21:00"
DEFAULT_QUIET_END = "06:30"
DEFAULT_INACTIVITY_DEADLINE = "10:00"
DEFAULT_QUESTIONS = ("health",)
DEFAULT_REASK_OFFSETS_MIN = (10, 20)


class Municipality(Base):
    __tablename__ = "municipalities"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    email: Mapped[str | None] = mapped_column(String(320))
    # Escalation chains by incident cause; None means the defaults (cloud.escalation.chain).
    escalation_chains: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()

    offices: Mapped[list[PostOffice]] = relationship(back_populates="municipality")


class PostOffice(Base):
    __tablename__ = "post_offices"

    id: Mapped[str] = id_column()
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(320))
    manager_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_at_column()

    municipality: Mapped[Municipality] = relationship(back_populates="offices")
    households: Mapped[list[Household]] = relationship(back_populates="office")


class Household(Base):
    __tablename__ = "households"
    __table_args__ = (
        # An office's households as (office, id) pairs read from the index alone: the staff
        # pages join them to open incidents by hashing, not by a probe per household.
        Index("ix_households_office_household", "office_id", "id"),
    )

    id: Mapped[str] = id_column()
    office_id: Mapped[str] = mapped_column(ForeignKey("post_offices.id"))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    language: Mapped[str] = mapped_column(String(8), default="ja")
    address: Mapped[str | None] = mapped_column(String(400))
    # Numbers to call the home on, validated Japanese numbers in national format, first first.
    phones: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # For whoever visits: 耳が遠い, 犬がいる, where the key is.
    visitor_notes: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    config_version: Mapped[int] = mapped_column(Integer, default=1)
    # The dead man's switch: the earliest slot deadline not yet checked, and which slot it is.
    # Indexed so a detection pass reads only due rows (healthchecks' next-alert design).
    next_deadline: Mapped[datetime | None] = mapped_column(index=True)
    next_slot_name: Mapped[str | None] = mapped_column(String(32))
    next_slot_date: Mapped[date | None] = mapped_column(Date)
    last_heartbeat_at: Mapped[datetime | None]
    # How the gateway speaks and watches (cloud.services.household_settings); every change
    # bumps config_version so the gateway fetches the new config.
    tts_speed: Mapped[float] = mapped_column(Float, default=1.0)
    tts_volume: Mapped[float] = mapped_column(Float, default=1.0)
    share_transcripts: Mapped[bool] = mapped_column(Boolean, default=False)
    quiet_start: Mapped[str] = mapped_column(String(5), default=DEFAULT_QUIET_START)
    quiet_end: Mapped[str] = mapped_column(String(5), default=DEFAULT_QUIET_END)
    # Local HH:MM by which some activity is expected; None switches the check off.
    inactivity_deadline: Mapped[str | None] = mapped_column(
        String(5), default=DEFAULT_INACTIVITY_DEADLINE
    )
    created_at: Mapped[datetime] = created_at_column()

    office: Mapped[PostOffice] = relationship(back_populates="households")
    residents: Mapped[list[Resident]] = relationship(back_populates="household")
    contacts: Mapped[list[FamilyContact]] = relationship(
        back_populates="household", order_by="[FamilyContact.priority, FamilyContact.name]"
    )
    slots: Mapped[list[ScheduleSlot]] = relationship(
        back_populates="household", order_by="ScheduleSlot.time", cascade="all, delete-orphan"
    )
    pauses: Mapped[list[Pause]] = relationship(back_populates="household")
    holidays: Mapped[list[Holiday]] = relationship(back_populates="household")


class Resident(Base):
    __tablename__ = "residents"

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kana: Mapped[str | None] = mapped_column(String(200))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    birth_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)

    household: Mapped[Household] = relationship(back_populates="residents")


class FamilyContact(Base):
    """A person to call or mail about the household: family, key holder, doctor, care
    manager, welfare volunteer. Shown and called in `priority` order (smallest first)."""

    __tablename__ = "family_contacts"
    __table_args__ = (UniqueConstraint("household_id", "email"),)

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # None for people who are only phoned (a doctor); they receive no mail.
    email: Mapped[str | None] = mapped_column(String(320))
    relationship_label: Mapped[str | None] = mapped_column("relationship", String(40))
    phones: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # cloud.services.contacts.ROLES
    roles: Mapped[list[str]] = mapped_column(JSONType, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    notify_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    daily_report: Mapped[bool] = mapped_column(Boolean, default=False)
    # All mail stopped by the family (alerts too), or only the daily report (alerts stay on).
    unsubscribed_at: Mapped[datetime | None]
    reports_stopped_at: Mapped[datetime | None]
    # LINE (cloud/notify): the linked LINE user, when they blocked the account (alerts then
    # go by e-mail), and how alerts reach them: line_first (e-mail if LINE fails) | both |
    # email.
    line_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    line_blocked_at: Mapped[datetime | None]
    channel_pref: Mapped[str] = mapped_column(
        String(16), default="line_first", server_default="line_first"
    )
    # The daily report on LINE instead of e-mail while LINE is linked (opt-in; cloud/notify).
    daily_report_line: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )

    household: Mapped[Household] = relationship(back_populates="contacts")


class ScheduleSlot(Base):
    __tablename__ = "schedule_slots"
    __table_args__ = (UniqueConstraint("household_id", "name"),)

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    time: Mapped[str] = mapped_column(String(5))  # local HH:MM
    window_min: Mapped[int] = mapped_column(Integer, default=30)
    grace_min: Mapped[int] = mapped_column(Integer, default=5)
    # mimamori_wire.v1.Question values, health first; minutes after the slot to ask again.
    questions: Mapped[list[str]] = mapped_column(JSONType, default=lambda: list(DEFAULT_QUESTIONS))
    reask_offsets_min: Mapped[list[int]] = mapped_column(
        JSONType, default=lambda: list(DEFAULT_REASK_OFFSETS_MIN)
    )

    household: Mapped[Household] = relationship(back_populates="slots")


class Pause(Base):
    """A temporary stop (hospital stay, trip): no deadlines between starts_at and ends_at."""

    __tablename__ = "pauses"

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(200), default="")

    household: Mapped[Household] = relationship(back_populates="pauses")


class Holiday(Base):
    """A local date on which the resident is not asked (e.g. a day at the day-care centre)."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("household_id", "day"),)

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")

    household: Mapped[Household] = relationship(back_populates="holidays")
