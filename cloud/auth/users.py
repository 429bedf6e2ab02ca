"""Staff accounts: creation (CLI and admin page), sign-in with lockout, password change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.auth import ratelimit
from cloud.auth.passwords import hash_password, needs_rehash, verify_password
from cloud.auth.roles import OFFICE_ROLES, Role
from cloud.auth.settings import AuthSettings
from cloud.models import Municipality, PostOffice
from cloud.models.staff import StaffUser
from cloud.services import text

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(ValueError):
    """A user-facing problem; `code` picks the translated message."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str, settings: AuthSettings) -> None:
    if len(password) < settings.min_password_length:
        raise UserError("password_too_short")


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    office_id: str | None = None,
    municipality_id: str | None = None,
    settings: AuthSettings,
    password_hash: str | None = None,
) -> StaffUser:
    """Validate and add an account. `password_hash` (already argon2) skips hashing for bulk
    seeding; the password is still required and still checked for length."""
    if not (text.is_clean(email) and text.is_clean(name)):
        raise UserError("control_chars")
    email = normalise_email(email)
    if not _EMAIL_RE.match(email):
        raise UserError("invalid_email")
    if not name.strip():
        raise UserError("name_required")
    try:
        role_value = Role(role)
    except ValueError:
        raise UserError("invalid_role") from None
    check_password_strength(password, settings)
    office_id, municipality_id = _placement(session, role_value, office_id, municipality_id)
    if session.scalar(select(func.count()).where(StaffUser.email == email)):
        raise UserError("email_taken")
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role_value.value,
        office_id=office_id,
        municipality_id=municipality_id,
        password_hash=password_hash or hash_password(password),
        active=True,
    )
    session.add(user)
    session.flush()
    return user


def _placement(
    session: Session, role: Role, office_id: str | None, municipality_id: str | None
) -> tuple[str | None, str | None]:
    """Office roles need an office (their municipality follows); admins a municipality."""
    if role in OFFICE_ROLES:
        office = session.get(PostOffice, office_id) if office_id else None
        if office is None:
            raise UserError("office_required")
        return office.id, office.municipality_id
    if role == Role.MUNICIPALITY_ADMIN:
        if not municipality_id or session.get(Municipality, municipality_id) is None:
            raise UserError("municipality_required")
        return None, municipality_id
    return None, None


@dataclass(frozen=True)
class SignIn:
    user: StaffUser | None
    error: str | None  # bad_credentials | locked | too_many_attempts


def authenticate(
    session: Session, email: str, password: str, ip: str, now: datetime, settings: AuthSettings
) -> SignIn:
    """Known and unknown accounts take the same path (same queries, one argon2 verify) and
    get the same answers; the lock is per account and address (cloud.auth.ratelimit)."""
    email = normalise_email(email)
    if not ratelimit.check_address(session, ip, now, settings).allowed:
        return SignIn(None, "too_many_attempts")
    if not ratelimit.check_pair(session, email, ip, now, settings).allowed:
        # Not recorded: no password was tried, and retrying must not lengthen the wait.
        return SignIn(None, "locked")
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        failures, _ = ratelimit.pair_failures(session, email, ip, now, settings)
        ratelimit.record(session, email, ip, now, success=False)
        if ratelimit.backoff_s(failures + 1, settings):
            return SignIn(None, "locked")
        return SignIn(None, "bad_credentials")
    ratelimit.record(session, email, ip, now, success=True)
    user.locked_until = None  # no longer set; cleared for accounts locked by older versions
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return SignIn(user, None)


def change_password(
    session: Session,
    user: StaffUser,
    current: str,
    new: str,
    confirm: str,
    now: datetime,
    settings: AuthSettings,
) -> None:
    if not verify_password(user.password_hash, current):
        raise UserError("current_password_wrong")
    if new != confirm:
        raise UserError("password_mismatch")
    check_password_strength(new, settings)
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    session.flush()
