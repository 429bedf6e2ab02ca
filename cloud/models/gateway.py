"""Gateways, their enrollment codes, heartbeats and the commands queued for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, created_at_column, id_column


class Gateway(Base):
    __tablename__ = "gateways"

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    # SHA-256 of a 256-bit random token: a fast hash is right for high-entropy secrets.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hardware_id: Mapped[str] = mapped_column(String(128))
    software_version: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None]
    last_heartbeat_at: Mapped[datetime | None]
    last_heartbeat: Mapped[dict[str, Any] | None] = mapped_column()


class EnrollmentCode(Base):
    __tablename__ = "enrollment_codes"

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    gateway_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_at_column()


class HeartbeatRecord(Base):
    """History of heartbeats (the latest is also copied onto the gateway row)."""

    __tablename__ = "heartbeats"
    __table_args__ = (Index("ix_heartbeats_gateway_received", "gateway_id", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"))
    received_at: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column()


class Command(Base):
    """An instruction for a gateway, delivered with heartbeats until a command.done event."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_household_pending", "household_id", "done_at"),)

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    issued_at: Mapped[datetime]
    incident_id: Mapped[str | None] = mapped_column(String(36))
    delivered_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
