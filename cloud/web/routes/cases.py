"""The case file (/incidents/{id}), the shift handover (/handover) and the print views:
a visit sheet per household and the safety-check follow-up list with phone numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from cloud.auth.roles import Capability
from cloud.models import Checkin, Incident
from cloud.schedule import local_date_of
from cloud.services import caselog
from cloud.web import people
from cloud.web.case_view import contacts_of, incident_in_scope, render_case
from cloud.web.deps import Ctx, needs
from cloud.web.forms import FieldError
from cloud.web.render import DEFAULT_ZONE, page
from cloud.web.route_helpers import record_action
from cloud.web.routes.safety import _answers, _check_or_404
from cloud.web.scoping import household_or_404

router = APIRouter()

HANDOVER_DEFAULT = timedelta(hours=12)
HANDOVER_MAX = timedelta(days=31)
LATEST_ANSWERS = 6
# The follow-up list: who needs a call first.
# Households without a gateway cannot answer: staff call or visit them too.
FOLLOW_UP_ORDER = {
    "needs_help": 0,
    "no_answer": 1,
    "gateway_offline": 2,
    "not_installed": 3,
    "waiting": 4,
}


@router.get("/incidents/{incident_id}")
def case_page(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = incident_in_scope(ctx, incident_id)
    record_action(
        ctx, "incident.view", target_type="incident", target_id=incident.id, household=household
    )
    return render_case(ctx, incident, household)


def parse_since(value: str, now: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    """?since= as a local datetime-local value (2026-11-30T08:30); empty: 12 hours ago.
    Clamped to a month so a typo cannot make the page read the whole history."""
    value = value.strip()
    if not value:
        return now - HANDOVER_DEFAULT
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError("since", "err_invalid_datetime") from None
    when = naive if naive.tzinfo else naive.replace(tzinfo=ZoneInfo(zone))
    return min(max(when.astimezone(UTC), now - HANDOVER_MAX), now)


@router.get("/handover")
def handover(ctx: Ctx = needs(Capability.DESK)) -> Response:
    """申し送り: open cases and everything done on cases since a time (default 12 h ago)."""
    error = None
    try:
        since = parse_since(ctx.request.query_params.get("since", ""), ctx.now)
    except FieldError as exc:
        since, error = ctx.now - HANDOVER_DEFAULT, exc.key
    open_cases, lines = caselog.handover(ctx.db, ctx.scope.household_filter(), since)
    household_ids = list({h.id for _, h in open_cases} | {line.household.id for line in lines})
    entries = caselog.entries_of(ctx.db, [i.id for i, _ in open_cases])
    record_action(ctx, "handover.view", detail={"since": since.isoformat()})
    return page(
        ctx,
        "handover.html",
        status=422 if error else 200,
        active="desk",
        since=since,
        since_value=since.astimezone(ZoneInfo(DEFAULT_ZONE)).strftime("%Y-%m-%dT%H:%M"),
        open_cases=open_cases,
        lines=lines,
        entries=entries,
        contacts=contacts_of(ctx, household_ids),
        error=error,
    )


@router.get("/households/{household_id}/print")
def visit_sheet(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    """訪問シート (A4): who lives there, where, whom to call, who has the key, last answers."""
    household = household_or_404(ctx, household_id)
    contacts = contacts_of(ctx, [household.id])[household.id]
    answers = list(
        ctx.db.scalars(
            select(Checkin)
            .where(Checkin.household_id == household.id)
            .order_by(Checkin.occurred_at.desc())
            .limit(LATEST_ANSWERS)
        )
    )
    open_cases = list(
        ctx.db.scalars(
            select(Incident)
            .where(Incident.household_id == household.id, Incident.state != "resolved")
            .order_by(Incident.opened_at)
        )
    )
    record_action(
        ctx,
        "print.visit_sheet",
        target_type="household",
        target_id=household.id,
        household=household,
    )
    return page(
        ctx,
        "print_visit.html",
        household=household,
        contacts=contacts,
        key_holders=people.key_holders(contacts),
        answers=answers,
        open_cases=open_cases,
        today=local_date_of(ctx.now, household.timezone),
    )


@router.get("/safety/{check_id}/print")
def safety_follow_up(check_id: str, ctx: Ctx = needs(Capability.SAFETY_VIEW)) -> Response:
    """安否確認のフォロー一覧 (A4): everyone not yet known to be safe, with numbers to call."""
    check = _check_or_404(ctx, check_id)
    answers = [a for a in _answers(ctx, check) if a.status in FOLLOW_UP_ORDER]
    answers.sort(key=lambda a: (FOLLOW_UP_ORDER[a.status], a.household.address or ""))
    contacts = contacts_of(ctx, [a.household.id for a in answers])
    record_action(
        ctx,
        "print.safety_follow_up",
        target_type="safety_check",
        target_id=check.id,
        municipality_id=check.municipality_id,
        detail={"rows": len(answers)},
    )
    return page(
        ctx,
        "print_safety.html",
        check=check,
        answers=answers,
        contacts=contacts,
    )
