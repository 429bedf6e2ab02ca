"""Linking a family member's LINE from the household page: each contact's LINE state, the
office's add-friend QR code, and one-time codes issued through cloud.notify.linking.

The QR code is inline SVG made by segno (pure Python): no script, no external image and no
style attribute, so the dashboard's Content-Security-Policy holds without exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import segno
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import FamilyContact, Household, LineLinkCode
from cloud.notify import linking
from cloud.notify.outbox import line_config_for

QR_SCALE = 4  # px per module before CSS scaling; the SVG has a viewBox and scales freely


def line_state(contact: FamilyContact) -> str:
    """linked | blocked (the family blocked the account: alerts go by e-mail) | unlinked."""
    if contact.line_user_id:
        return "linked"
    return "blocked" if contact.line_blocked_at is not None else "unlinked"


def qr_svg(url: str, title: str) -> Markup:
    """The URL as an inline SVG QR code with an accessible name (dark on white, 4-module
    quiet zone, so phones read it on any page background)."""
    svg = segno.make(url, error="m").svg_inline(
        scale=QR_SCALE, border=4, dark="#000", light="#fff", title=title, svgclass="qr"
    )
    # segno writes <svg width=... height=... class="qr">; role=img names it for screen readers.
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))


@dataclass(frozen=True)
class LineSetup:
    """What the office offers families: None when no LINE channel is configured."""

    add_friend_url: str | None  # https only (the admin API refuses anything else)


def line_setup(session: Session, household: Household) -> LineSetup | None:
    config = line_config_for(session, household)
    if config is None:
        return None
    url = config.add_friend_url
    return LineSetup(url if url and url.startswith("https://") else None)


@dataclass(frozen=True)
class IssuedCode:
    contact_id: str
    code: str  # XXXX-XXXX, shown once: only its hash is stored
    expires_at: datetime


def issue(session: Session, contact: FamilyContact, now: datetime) -> IssuedCode:
    code = linking.issue_code(session, contact, now)
    return IssuedCode(contact.id, code, now + linking.CODE_TTL)


def open_codes(session: Session, household_id: str, now: datetime) -> dict[str, datetime]:
    """contact id -> the latest expiry of its unused, unexpired codes (the page says a code
    is waiting, never the code itself)."""
    found: dict[str, datetime] = {}
    for row in session.scalars(
        select(LineLinkCode).where(
            LineLinkCode.household_id == household_id,
            LineLinkCode.used_at.is_(None),
            LineLinkCode.expires_at > now,
        )
    ):
        if row.contact_id not in found or row.expires_at > found[row.contact_id]:
            found[row.contact_id] = row.expires_at
    return found
