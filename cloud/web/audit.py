"""Writing the audit log: who did what to which household, in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cloud.models import Household, PostOffice
from cloud.models.staff import AuditLog, StaffUser


def record(
    session: Session,
    user: StaffUser | None,
    action: str,
    now: datetime,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    household: Household | None = None,
    office: PostOffice | None = None,
    municipality_id: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    email: str | None = None,
) -> None:
    """One row; the municipality is filled in from the household or office when given,
    so admins see exactly the entries about their own municipality."""
    if household is not None:
        office = office or household.office
    if office is not None:
        municipality_id = municipality_id or office.municipality_id
    if municipality_id is None and user is not None:
        municipality_id = user.municipality_id
    session.add(
        AuditLog(
            at=now,
            user_id=user.id if user else None,
            user_email=user.email if user else (email or "-"),
            action=action,
            target_type=target_type,
            target_id=target_id,
            municipality_id=municipality_id,
            office_id=office.id if office is not None else (user.office_id if user else None),
            ip=ip,
            detail=detail or {},
        )
    )
