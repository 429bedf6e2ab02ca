"""Login throttling: per-account lockout and a per-address ceiling, counted in the database
so every API process sees the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.auth.settings import AuthSettings
from cloud.models.staff import LoginAttempt


@dataclass(frozen=True)
class Throttle:
    allowed: bool
    reason: str | None = None  # "ip" | "locked"


def lock_needed(recent_failures: int, max_failures: int) -> bool:
    """Pure: a run of failures this long locks the account."""
    return recent_failures >= max_failures


def check_address(session: Session, ip: str, now: datetime, settings: AuthSettings) -> Throttle:
    since = now - timedelta(seconds=settings.login_window_s)
    attempts = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.ip == ip, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    )
    if (attempts or 0) >= settings.login_max_per_ip:
        return Throttle(False, "ip")
    return Throttle(True)


def recent_failures(session: Session, email: str, now: datetime, settings: AuthSettings) -> int:
    """Failures for this e-mail since its last success, within the window."""
    since = now - timedelta(seconds=settings.login_window_s)
    last_ok = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.success.is_(True)
        )
    )
    if last_ok is not None and last_ok > since:
        since = last_ok
    return (
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.at >= since,
                LoginAttempt.success.is_(False),
            )
        )
        or 0
    )


def record(session: Session, email: str, ip: str, now: datetime, success: bool) -> None:
    session.add(LoginAttempt(email=email, ip=ip, at=now, success=success))
