"""Municipality pages: monthly report (HTML, printable, CSV), audit log, staff accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from cloud.auth import users
from cloud.auth.roles import OFFICE_ROLES, Capability, Role
from cloud.escalation.chain import CAUSES
from cloud.models import Household, Municipality, PostOffice
from cloud.models.staff import AuditLog, StaffUser
from cloud.web.csvout import csv_response
from cloud.web.deps import Ctx, needs
from cloud.web.forms import FieldError, month
from cloud.web.i18n import AUDIT_ACTIONS
from cloud.web.render import local, page
from cloud.web.reports import OfficeMonth, monthly_report
from cloud.web.route_helpers import record_action, staff_names
from cloud.web.scoping import offices_in_scope, selected_office

router = APIRouter()

AUDIT_LIMIT = 500


def _month_param(ctx: Ctx) -> tuple[str, tuple[int, int] | None, str | None]:
    default = local(ctx.now, "%Y-%m")
    raw = ctx.request.query_params.get("month") or default
    try:
        return raw, month(raw), None
    except FieldError as exc:
        return raw, None, exc.key


def _report_page(
    ctx: Ctx, raw: str, rows: list[OfficeMonth], error: str | None, printable: bool
) -> Response:
    status = 422 if error else 200
    return page(
        ctx,
        "report.html",
        status=status,
        rows=rows,
        month=raw,
        error=error,
        causes=CAUSES,
        printable=printable,
    )


@router.get("/reports")
def report_page(ctx: Ctx = needs(Capability.REPORTS)) -> Response:
    raw, parsed, error = _month_param(ctx)
    rows = monthly_report(ctx.db, ctx.scope.office_filter(), *parsed) if parsed else []
    return _report_page(ctx, raw, rows, error, ctx.request.query_params.get("print") == "1")


@router.get("/reports/monthly.csv")
def report_csv(ctx: Ctx = needs(Capability.REPORTS)) -> Response:
    raw, parsed, error = _month_param(ctx)
    if parsed is None:
        return _report_page(ctx, raw, [], error, printable=False)
    rows = monthly_report(ctx.db, ctx.scope.office_filter(), *parsed)
    record_action(
        ctx,
        "export.monthly_report",
        target_type="report",
        target_id=raw,
        detail={"offices": len(rows)},
    )
    t = ctx.t
    header = [
        t("office"),
        t("households"),
        t("response_rate"),
        *[t(f"cause_{c}") for c in CAUSES],
        t("incidents"),
        t("median_ack"),
    ]
    body = [
        [
            r.office.name,
            r.households,
            f"{r.response_rate:.3f}" if r.response_rate is not None else "",
            *[r.incidents.get(c, 0) for c in CAUSES],
            r.incident_total,
            r.median_ack_min,
        ]
        for r in rows
    ]
    return csv_response(f"mimamori-report-{raw}.csv", header, body)


@router.get("/audit")
def audit_page(ctx: Ctx = needs(Capability.AUDIT)) -> Response:
    query = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(AUDIT_LIMIT)
    if not ctx.scope.everything:
        query = query.where(AuditLog.municipality_id == ctx.scope.municipality_id)
    action = ctx.request.query_params.get("action", "")
    if action:
        query = query.where(AuditLog.action.startswith(action))
    entries = list(ctx.db.scalars(query))
    return page(
        ctx,
        "audit.html",
        entries=entries,
        action=action,
        target_names=_names(ctx, entries),
        actor_names=staff_names(ctx, {e.user_email for e in entries if e.user_email}),
        audit_actions=AUDIT_ACTIONS,
    )


def _names(ctx: Ctx, entries: list[AuditLog]) -> dict[str, str]:
    """Staff read names, not UUIDs: households by their residents, staff by their name."""
    ids = {e.target_id for e in entries if e.target_id}
    names: dict[str, str] = {}
    for household in ctx.db.scalars(select(Household).where(Household.id.in_(ids))):
        names[household.id] = "・".join(r.name for r in household.residents) or (
            household.address or ""
        )
    for user in ctx.db.scalars(select(StaffUser).where(StaffUser.id.in_(ids))):
        names[user.id] = user.name
    return names


@dataclass(frozen=True)
class StaffRow:
    """One account on the staff list, with where it belongs in words."""

    user: StaffUser
    office_name: str | None
    municipality_name: str | None

    def belongs_to(self, t: Any) -> str:
        """The office of office staff; an admin's whole municipality; everything for the
        system administrator."""
        if self.office_name:
            return self.office_name
        if self.municipality_name:
            return t("whole_municipality").format(name=self.municipality_name)
        return t("all_municipalities")


def _users_in_scope(ctx: Ctx, office_id: str | None) -> list[StaffRow]:
    """Accounts of the admin's municipality (all, for the system administrator), grouped by
    office with the municipality's own admins first; `office_id` narrows to one office."""
    query = (
        select(StaffUser, PostOffice.name, Municipality.name)
        .outerjoin(PostOffice, StaffUser.office_id == PostOffice.id)
        .outerjoin(Municipality, StaffUser.municipality_id == Municipality.id)
        .order_by(
            Municipality.name.nulls_first(),
            PostOffice.name.nulls_first(),
            StaffUser.role,
            StaffUser.name,
        )
    )
    if not ctx.scope.everything:
        query = query.where(StaffUser.municipality_id == ctx.scope.municipality_id)
    if office_id:
        query = query.where(StaffUser.office_id == office_id)
    return [StaffRow(u, office, town) for u, office, town in ctx.db.execute(query)]


def _roles_for(ctx: Ctx) -> list[str]:
    roles = [Role.STAFF, Role.OFFICE_MANAGER, Role.MUNICIPALITY_ADMIN]
    if ctx.scope.everything:
        roles.append(Role.SYSTEM_ADMIN)
    return [r.value for r in roles]


def _users_page(
    ctx: Ctx, status: int = 200, office_id: str | None = None, **extra: Any
) -> Response:
    variables: dict[str, Any] = {
        "users": _users_in_scope(ctx, office_id),
        "offices": offices_in_scope(ctx),
        "office_id": office_id,
        "roles": _roles_for(ctx),
        "errors": {},
        "values": {},
        "created": ctx.request.query_params.get("created"),
        **extra,
    }
    return page(ctx, "users.html", status=status, **variables)


@router.get("/users")
def users_page(ctx: Ctx = needs(Capability.USERS)) -> Response:
    return _users_page(ctx, office_id=selected_office(ctx))


@router.post("/users")
def create_user(ctx: Ctx = needs(Capability.USERS)) -> Response:
    role = ctx.form.get("role", "")
    office_id = ctx.form.get("office") or None
    municipality_id = ctx.scope.municipality_id
    error: str | None = None
    if role not in _roles_for(ctx):
        error = "invalid_role"
    elif office_id and office_id not in {o.id for o in offices_in_scope(ctx)}:
        error = "office_required"
    if error is None:
        try:
            user = users.create_user(
                ctx.db,
                email=ctx.form.get("email", ""),
                password=ctx.form.get("password", ""),
                name=ctx.form.get("name", ""),
                role=role,
                office_id=office_id if Role(role) in OFFICE_ROLES else None,
                municipality_id=municipality_id,
                settings=ctx.auth,
            )
        except users.UserError as exc:
            error = exc.code
    if error is not None:
        values = {k: v for k, v in ctx.form.items() if k != "password"}
        return _users_page(ctx, 422, errors={"form": f"err_{error}"}, values=values)
    record_action(
        ctx,
        "admin.create_user",
        target_type="user",
        target_id=user.id,
        municipality_id=user.municipality_id,
        detail={"email": user.email, "role": user.role, "office_id": user.office_id},
    )
    return RedirectResponse("/users?created=1", status_code=303)
