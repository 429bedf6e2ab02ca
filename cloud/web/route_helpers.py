"""Small helpers the dashboard's route handlers share: writing the audit entry for what the
signed-in user of a request did, and the request-time settings several pages read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cloud.api.deps import state
from cloud.models import Household
from cloud.models.staff import StaffUser
from cloud.web import audit
from cloud.web.deps import Ctx


def record_action(
    ctx: Ctx,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    household: Household | None = None,
    municipality_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row for what this request's signed-in user did, at its time and address."""
    audit.record(
        ctx.db,
        ctx.user,
        action,
        ctx.now,
        target_type=target_type,
        target_id=target_id,
        household=household,
        municipality_id=municipality_id,
        ip=ctx.ip,
        detail=detail,
    )


def heartbeat_stale(ctx: Ctx) -> timedelta:
    """A gateway silent for longer than this shows as offline."""
    return timedelta(seconds=state(ctx.request).settings.heartbeat_stale_s)


def page_number(raw: str | None, pages: int) -> int:
    """Pure: ?page= as a 1-based page within range; junk means the first page."""
    try:
        wanted = int(raw or "1")
    except ValueError:
        return 1
    return min(max(wanted, 1), max(pages, 1))


def staff_names(ctx: Ctx, emails: set[str]) -> dict[str, str]:
    """Account e-mail -> the person's name: pages say who did something by name (an account
    that no longer exists keeps its address)."""
    if not emails:
        return {}
    rows = ctx.db.execute(
        select(StaffUser.email, StaffUser.name).where(StaffUser.email.in_(emails))
    ).all()
    return {email: name for email, name in rows}
