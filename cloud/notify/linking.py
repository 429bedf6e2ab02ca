"""Linking a family member's LINE to their contact with a one-time code, and unlinking.

A code is issued for one contact (so for one household), expires, and works once. Only its
SHA-256 is stored: the code is high-entropy (8 of 31 unambiguous characters, ~2^40) and
short-lived, so a fast hash is enough and a database leak reveals no usable code.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import FamilyContact, Household, LineLinkCode
from cloud.notify.outbox import line_config_for

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8
CODE_TTL = timedelta(days=7)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise(text: str) -> str:
    """What the family typed: full-width, spaces, hyphens and case do not matter."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if ch.isalnum())


def looks_like_code(text: str) -> bool:
    code = normalise(text)
    return len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


def issue_code(session: Session, contact: FamilyContact, now: datetime) -> str:
    """A new one-time code for `contact`, shown as XXXX-XXXX."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(
        LineLinkCode(
            code_hash=_hash(code),
            household_id=contact.household_id,
            contact_id=contact.id,
            expires_at=now + CODE_TTL,
        )
    )
    session.flush()
    return f"{code[:4]}-{code[4:]}"


def redeem(session: Session, text: str, line_user_id: str, now: datetime) -> FamilyContact | None:
    """Link `line_user_id` to the code's contact; None for a wrong, used or expired code."""
    row = session.scalars(
        select(LineLinkCode).where(LineLinkCode.code_hash == _hash(normalise(text)))
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    contact = session.get(FamilyContact, row.contact_id)
    if contact is None or contact.household_id != row.household_id:
        return None
    row.used_at = now
    contact.line_user_id, contact.line_blocked_at = line_user_id, None
    session.flush()
    return contact


def linked_contacts(session: Session, line_user_id: str) -> list[FamilyContact]:
    return list(
        session.scalars(select(FamilyContact).where(FamilyContact.line_user_id == line_user_id))
    )


def unlink(session: Session, line_user_id: str, now: datetime) -> int:
    """The user blocked (unfollowed) the account: alerts go by e-mail from now on."""
    contacts = linked_contacts(session, line_user_id)
    for contact in contacts:
        contact.line_user_id, contact.line_blocked_at = None, now
    session.flush()
    return len(contacts)


def mail_offer(
    session: Session,
    household: Household,
    contact: FamilyContact,
    now: datetime,
    for_report: bool = False,
) -> dict[str, Any] | None:
    """What a family mail offers a contact not yet on LINE: the official account's friend-add
    link and a fresh one-time code for this contact, or None (already linked, blocked the
    account before, e-mail by choice, or no LINE channel with a friend-add link here).

    One code per mail, minted when the mail is made: it is rendered into the outbox row, so a
    retried send repeats the same code and mints none; each mail's code stays usable until it
    expires (a family may answer an older mail), and the first one used links the contact."""
    if contact.line_user_id or contact.line_blocked_at or contact.channel_pref == "email":
        return None
    config = line_config_for(session, household)
    if config is None or not config.add_friend_url:
        return None
    expires = (now + CODE_TTL).astimezone(ZoneInfo(household.timezone))
    return {
        "add_friend_url": config.add_friend_url,
        "code": issue_code(session, contact, now),
        "expires_label": f"{expires.month}月{expires.day}日 {expires.hour}:{expires.minute:02d}",
        "for_report": for_report,  # the daily report also says how to get it on LINE
    }
