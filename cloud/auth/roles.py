"""Roles, what each may do, and which households each may see (pure, plus query filters)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from cloud.models import Household, PostOffice


class Role(StrEnum):
    STAFF = "staff"
    OFFICE_MANAGER = "office_manager"
    MUNICIPALITY_ADMIN = "municipality_admin"
    SYSTEM_ADMIN = "system_admin"


class Capability(StrEnum):
    DESK = "desk"  # desk, today board, household pages, incident actions, enrollment codes
    ANNOUNCE = "announce"
    SAFETY_VIEW = "safety_view"
    SAFETY_START = "safety_start"
    REPORTS = "reports"
    AUDIT = "audit"
    USERS = "users"


_ALL = frozenset(Capability)
CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.STAFF: frozenset({Capability.DESK, Capability.SAFETY_VIEW}),
    Role.OFFICE_MANAGER: frozenset(
        {Capability.DESK, Capability.SAFETY_VIEW, Capability.ANNOUNCE, Capability.REPORTS}
    ),
    Role.MUNICIPALITY_ADMIN: _ALL,
    Role.SYSTEM_ADMIN: _ALL,
}

OFFICE_ROLES = frozenset({Role.STAFF, Role.OFFICE_MANAGER})


def can(role: str, capability: Capability) -> bool:
    try:
        return capability in CAPABILITIES[Role(role)]
    except ValueError:
        return False


@dataclass(frozen=True)
class Scope:
    """What one signed-in user may see: one office, one municipality, or everything."""

    role: Role
    office_id: str | None
    municipality_id: str | None

    @property
    def everything(self) -> bool:
        return self.role == Role.SYSTEM_ADMIN

    def office_filter(self) -> ColumnElement[bool]:
        """WHERE clause on PostOffice."""
        if self.everything:
            return true()
        if self.role in OFFICE_ROLES:
            return PostOffice.id == self.office_id if self.office_id else false()
        if self.municipality_id:
            return PostOffice.municipality_id == self.municipality_id
        return false()

    def household_filter(self) -> ColumnElement[bool]:
        """WHERE clause on Household."""
        if self.everything:
            return true()
        if self.role in OFFICE_ROLES:
            return Household.office_id == self.office_id if self.office_id else false()
        if self.municipality_id:
            offices = select(PostOffice.id).where(
                PostOffice.municipality_id == self.municipality_id
            )
            return Household.office_id.in_(offices)
        return false()

    def sees_office(self, office_id: str | None, municipality_id: str | None) -> bool:
        if self.everything:
            return True
        if self.role in OFFICE_ROLES:
            return office_id is not None and office_id == self.office_id
        return municipality_id is not None and municipality_id == self.municipality_id

    def sent_to_area_filter(
        self,
        municipality_id: InstrumentedAttribute[str],
        office_id: InstrumentedAttribute[str | None],
    ) -> ColumnElement[bool]:
        """WHERE clause on something sent to a whole municipality or to one of its offices
        (announcements, safety checks: pass their two columns). Office staff see their own
        office's and the whole municipality's; municipality admins all of their own."""
        if self.everything:
            return true()
        if self.role in OFFICE_ROLES:
            return and_(
                municipality_id == self.municipality_id,
                or_(office_id.is_(None), office_id == self.office_id),
            )
        return municipality_id == self.municipality_id
