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

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import FamilyContact, LineLinkCode

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
