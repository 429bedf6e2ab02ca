"""Dashboard tables: staff accounts, their sessions, login attempts, the audit log,
announcements and disaster safety checks (with one row per targeted household)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, created_at_column, id_column

ROLES = ("staff", "office_manager", "municipality_admin", "system_admin")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    # Staff and office managers belong to one office; municipality admins to one municipality
    # (office_id None); system admins to neither.
    office_id: Mapped[str | None] = mapped_column(ForeignKey("post_offices.id"), index=True)
    municipality_id: Mapped[str | None] = mapped_column(ForeignKey("municipalities.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locked_until: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class StaffSession(Base):
    """Server-side session: the cookie holds a random token, the table only its SHA-256,
    so logout and password change end a session for real."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    success: Mapped[bool] = mapped_column(Boolean)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_municipality_at", "municipality_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_id: Mapped[str | None] = mapped_column(String(36))
    user_email: Mapped[str] = mapped_column(String(320))
    # household.view | incident.acknowledge | incident.note | incident.resolve | export.* |
    # admin.* | announcement.send | safety_check.start | enrollment.issue | enrollment.revoke
    action: Mapped[str] = mapped_column(String(48))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    municipality_id: Mapped[str | None] = mapped_column(String(36))
    office_id: Mapped[str | None] = mapped_column(String(36))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IncidentNote(Base):
    """A call or visit note on an incident (the incident row keeps only the closing note)."""

    __tablename__ = "incident_notes"

    id: Mapped[str] = id_column()
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # cloud.services.caselog.ENTRY_KINDS
    text: Mapped[str] = mapped_column(Text)
    # For calls: who was called (free text: 「ご本人」, a contact's name), the number, result.
    callee: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    call_result: Mapped[str | None] = mapped_column(String(16))
    author_id: Mapped[str | None] = mapped_column(String(36))
    author_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[str] = id_column()
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    office_id: Mapped[str | None] = mapped_column(String(36))
    target_kind: Mapped[str] = mapped_column(String(16))  # households | office | municipality
    text: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_at_column()


class AnnouncementDelivery(Base):
    __tablename__ = "announcement_deliveries"
    __table_args__ = (UniqueConstraint("announcement_id", "household_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    announcement_id: Mapped[str] = mapped_column(ForeignKey("announcements.id"), index=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    command_id: Mapped[str | None] = mapped_column(String(36))


class SafetyCheck(Base):
    __tablename__ = "safety_checks"

    id: Mapped[str] = id_column()
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    office_id: Mapped[str | None] = mapped_column(String(36))  # None: the whole municipality
    title: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(String(400))
    started_by: Mapped[str] = mapped_column(String(320))
    started_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class SafetyCheckResult(Base):
    """One row per targeted household; the answer itself is read from its events."""

    __tablename__ = "safety_check_results"
    __table_args__ = (UniqueConstraint("check_id", "household_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("safety_checks.id"), index=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    command_id: Mapped[str | None] = mapped_column(String(36))
