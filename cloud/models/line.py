"""LINE: channel credentials per office or municipality, link codes, webhook events seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, created_at_column, id_column


class LineChannelConfig(Base):
    """A LINE Messaging API channel of one office (office_id) or a whole municipality
    (office_id None). The secret verifies webhook signatures (HMAC needs it in the clear),
    the token sends pushes; neither is ever shown back (docs/operations.md)."""

    __tablename__ = "line_channels"

    id: Mapped[str] = id_column()
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    office_id: Mapped[str | None] = mapped_column(ForeignKey("post_offices.id"), unique=True)
    channel_id: Mapped[str] = mapped_column(String(32), unique=True)
    channel_secret: Mapped[str] = mapped_column(String(128))
    access_token: Mapped[str] = mapped_column(Text)
    add_friend_url: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at_column()


class LineLinkCode(Base):
    """A one-time code a family member sends to the official account to link their LINE."""

    __tablename__ = "line_link_codes"

    id: Mapped[str] = id_column()
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("family_contacts.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class LineWebhookEvent(Base):
    """Each webhookEventId handled once (LINE redelivers; a replayed body changes nothing)."""

    __tablename__ = "line_webhook_events"

    webhook_event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_channel_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    result: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]
