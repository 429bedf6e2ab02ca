"""Scope helpers for pages: the offices a user may pick, and loading a household or 404."""

from __future__ import annotations

from sqlalchemy import select

from cloud.auth.roles import OFFICE_ROLES
from cloud.models import Household, Municipality, PostOffice
from cloud.web.deps import Ctx, not_found


def offices_in_scope(ctx: Ctx) -> list[PostOffice]:
    return list(
        ctx.db.scalars(
            select(PostOffice).where(ctx.scope.office_filter()).order_by(PostOffice.name)
        )
    )


def selected_office(ctx: Ctx) -> str | None:
    """The ?office= filter of admins; ignored unless the office is in the user's scope."""
    wanted = ctx.request.query_params.get("office") or ctx.form.get("office") or None
    if not wanted:
        return None
    office = ctx.db.get(PostOffice, wanted)
    if office is None or not ctx.scope.sees_office(office.id, office.municipality_id):
        return None
    return office.id


def household_or_404(ctx: Ctx, household_id: str) -> Household:
    household = ctx.db.scalar(
        select(Household).where(Household.id == household_id, ctx.scope.household_filter())
    )
    if household is None:
        raise not_found()
    return household


def office_or_404(ctx: Ctx, office_id: str) -> PostOffice:
    office = ctx.db.get(PostOffice, office_id)
    if office is None or not ctx.scope.sees_office(office.id, office.municipality_id):
        raise not_found()
    return office


def area_options(ctx: Ctx) -> list[tuple[str, str]]:
    """(value, label) for an area select: 'm:<id>' whole municipality (admins), 'o:<id>'."""
    options: list[tuple[str, str]] = []
    offices = offices_in_scope(ctx)
    if ctx.scope.role not in OFFICE_ROLES:
        whole = ctx.t("whole_municipality")
        query = select(Municipality).order_by(Municipality.name)
        if not ctx.scope.everything:
            query = query.where(Municipality.id == ctx.scope.municipality_id)
        for municipality in ctx.db.scalars(query):
            options.append((f"m:{municipality.id}", whole.format(name=municipality.name)))
    options += [(f"o:{office.id}", office.name) for office in offices]
    return options


def parse_area(ctx: Ctx, value: str) -> tuple[str, str | None] | None:
    """(municipality_id, office_id or None) for an area value the user may use, else None."""
    if value not in {v for v, _ in area_options(ctx)}:
        return None
    kind, ident = value.split(":", 1)
    if kind == "m":
        return ident, None
    office = ctx.db.get(PostOffice, ident)
    return (office.municipality_id, office.id) if office else None


def visible_household_ids(ctx: Ctx) -> list[str] | None:
    """None for system admins (everything); otherwise the ids in the user's scope."""
    if ctx.scope.everything:
        return None
    return list(ctx.db.scalars(select(Household.id).where(ctx.scope.household_filter())))
