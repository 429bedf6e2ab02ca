"""Server-side sessions: random cookie token, SHA-256 in the table, idle and absolute expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cloud.auth.csrf import new_token
from cloud.auth.settings import AuthSettings
from cloud.models.staff import StaffSession, StaffUser

COOKIE = "mimamori_session"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Active:
    user: StaffUser
    record: StaffSession


def start(session: Session, user: StaffUser, now: datetime, settings: AuthSettings) -> str:
    """Create a session; returns the cookie value (shown once, stored hashed)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=new_token(),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_max_s),
        )
    )
    session.flush()
    return token


def lookup(
    session: Session, token: str | None, now: datetime, settings: AuthSettings
) -> Active | None:
    if not token:
        return None
    record = session.get(StaffSession, _hash(token))
    if record is None:
        return None
    idle_limit = record.last_seen_at + timedelta(seconds=settings.session_idle_s)
    if now >= record.expires_at or now >= idle_limit:
        session.delete(record)
        return None
    user = session.get(StaffUser, record.user_id)
    if user is None or not user.active:
        return None
    # Touch at most once a minute: a polling desk should not write on every request.
    if now - record.last_seen_at > timedelta(seconds=60):
        record.last_seen_at = now
    return Active(user, record)


def end(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == _hash(token)))


def end_all_for(session: Session, user_id: str, keep_token: str | None = None) -> None:
    """After a password change, every other session of the user ends."""
    query = delete(StaffSession).where(StaffSession.user_id == user_id)
    if keep_token:
        query = query.where(StaffSession.token_hash != _hash(keep_token))
    session.execute(query)
