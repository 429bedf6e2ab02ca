"""Login throttling, counted in the database so every API process sees the same numbers.

Failures are throttled per (account, client address) with exponential backoff, never per
account alone: a stranger typing wrong passwords elsewhere cannot lock a staff member out of
the desk. A per-address ceiling over all accounts slows password spraying. Nothing here
depends on whether the account exists, so answers cannot tell real addresses from unknown.
"""

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
    reason: str | None = None  # "ip" | "locked" (this account from this address)


def backoff_s(failures: int, settings: AuthSettings) -> float:
    """Pure: how long a run of `failures` blocks further tries: none below the threshold,
    then login_backoff_s doubling with each failure, at most lockout_s."""
    if failures < settings.login_max_failures:
        return 0.0
    steps = min(failures - settings.login_max_failures, 32)
    return float(min(settings.login_backoff_s * 2**steps, settings.lockout_s))


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


def pair_failures(
    session: Session, email: str, ip: str, now: datetime, settings: AuthSettings
) -> tuple[int, datetime | None]:
    """Failures of this account from this address within the window, since the pair's last
    success: (how many, when the latest was)."""
    since = now - timedelta(seconds=settings.login_window_s)
    pair = (LoginAttempt.email == email, LoginAttempt.ip == ip)
    last_ok = session.scalar(
        select(func.max(LoginAttempt.at)).where(*pair, LoginAttempt.success.is_(True))
    )
    if last_ok is not None and last_ok > since:
        since = last_ok
    count, latest = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            *pair, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
        )
    ).one()
    return count or 0, latest


def check_pair(
    session: Session, email: str, ip: str, now: datetime, settings: AuthSettings
) -> Throttle:
    failures, latest = pair_failures(session, email, ip, now, settings)
    wait = backoff_s(failures, settings)
    if wait and latest is not None and now < latest + timedelta(seconds=wait):
        return Throttle(False, "locked")
    return Throttle(True)


def record(session: Session, email: str, ip: str, now: datetime, success: bool) -> None:
    session.add(LoginAttempt(email=email, ip=ip, at=now, success=success))
