"""Household page: people, schedule, devices, 30-day timeline and trend, enrollment codes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select, update

from cloud.api.deps import state
from cloud.auth.roles import Capability
from cloud.models import Checkin, EnrollmentCode, EventRecord, Gateway, Household, Incident
from cloud.schedule import local_date_of
from cloud.services import household_settings
from cloud.services.tenancy import issue_enrollment_code
from cloud.web import settings_form
from cloud.web.deps import Ctx, needs
from cloud.web.render import page
from cloud.web.route_helpers import heartbeat_stale, record_action
from cloud.web.routes.board import current_gateway, gateway_health
from cloud.web.scoping import household_or_404

router = APIRouter()

TIMELINE_DAYS = 30
TIMELINE_LIMIT = 300
TREND_INTENTS = ("fine", "usual", "unwell")


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # event kind, or "incident"
    summary: dict[str, Any]


@dataclass
class TrendDay:
    day: date
    counts: Counter[str]
    missed: int


def trend(checkins: list[Checkin], first: date, days: int) -> list[TrendDay]:
    """Pure: per local day, how many answers were 元気 / いつも通り / 元気がない, and misses."""
    table = {
        first + timedelta(days=i): TrendDay(first + timedelta(days=i), Counter(), 0)
        for i in range(days)
    }
    for checkin in checkins:
        day = table.get(checkin.slot_date)
        if day is None:
            continue
        if checkin.status == "answered" and checkin.intent:
            day.counts[checkin.intent] += 1
        else:
            day.missed += 1
    return [table[d] for d in sorted(table)]


def _timeline(ctx: Ctx, household: Household, since: datetime) -> list[TimelineItem]:
    items = [
        TimelineItem(e.occurred_at, e.kind, e.payload or {})
        for e in ctx.db.scalars(
            select(EventRecord)
            .where(EventRecord.household_id == household.id, EventRecord.occurred_at >= since)
            .order_by(EventRecord.occurred_at.desc())
            .limit(TIMELINE_LIMIT)
        )
    ]
    items += [
        TimelineItem(
            i.opened_at,
            "incident",
            {"cause": i.cause, "state": i.state, "outcome": i.outcome, "note": i.note},
        )
        for i in ctx.db.scalars(
            select(Incident).where(
                Incident.household_id == household.id, Incident.opened_at >= since
            )
        )
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return items


def _codes(ctx: Ctx, household: Household) -> list[EnrollmentCode]:
    return list(
        ctx.db.scalars(
            select(EnrollmentCode)
            .where(EnrollmentCode.household_id == household.id)
            .order_by(EnrollmentCode.created_at.desc())
            .limit(10)
        )
    )


def _render(ctx: Ctx, household: Household, status: int = 200, **extra: Any) -> Response:
    since = ctx.now - timedelta(days=TIMELINE_DAYS)
    today = local_date_of(ctx.now, household.timezone)
    first = today - timedelta(days=TIMELINE_DAYS - 1)
    checkins = list(
        ctx.db.scalars(
            select(Checkin).where(Checkin.household_id == household.id, Checkin.slot_date >= first)
        )
    )
    gateways = list(ctx.db.scalars(select(Gateway).where(Gateway.household_id == household.id)))
    current = current_gateway(gateways)
    devices = (current.last_heartbeat or {}).get("devices", []) if current else []
    # Events the gateway keeps in its quarantine (the cloud refused them): a device problem.
    quarantined = (current.last_heartbeat or {}).get("quarantined_events") if current else None
    variables: dict[str, Any] = {
        "household": household,
        "gateways": gateways,
        "health": gateway_health(gateways, ctx.now, heartbeat_stale(ctx)),
        "devices": devices,
        "quarantined_events": quarantined if isinstance(quarantined, int) else 0,
        "timeline": _timeline(ctx, household, since),
        "trend": trend(checkins, first, TIMELINE_DAYS),
        "trend_intents": TREND_INTENTS,
        "codes": _codes(ctx, household),
        "new_code": None,
        "message": None,
        "settings_form": settings_form.values_of(household),
        "settings_errors": {},
        "questions": settings_form.OPTIONAL_QUESTIONS,
        **extra,
    }
    return page(ctx, "household.html", status=status, **variables)


def _audit(
    ctx: Ctx, action: str, household: Household, detail: dict[str, Any] | None = None
) -> None:
    record_action(
        ctx,
        action,
        target_type="household",
        target_id=household.id,
        household=household,
        detail=detail,
    )


@router.get("/households/{household_id}")
def household_page(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    household = household_or_404(ctx, household_id)
    _audit(ctx, "household.view", household)
    return _render(ctx, household)


@router.post("/households/{household_id}/codes")
def issue_code(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    household = household_or_404(ctx, household_id)
    ttl = timedelta(seconds=state(ctx.request).settings.enrollment_code_ttl_s)
    row, code = issue_enrollment_code(ctx.db, household.id, ctx.now, ttl)
    _audit(ctx, "enrollment.issue", household, {"code_id": row.id})
    return _render(ctx, household, new_code=code)


@router.post("/households/{household_id}/codes/revoke")
def revoke_codes(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    household = household_or_404(ctx, household_id)
    # An unused code is revoked by expiring it now: enroll() already refuses expired codes.
    result = ctx.db.execute(
        update(EnrollmentCode)
        .where(
            EnrollmentCode.household_id == household.id,
            EnrollmentCode.used_at.is_(None),
            EnrollmentCode.expires_at > ctx.now,
        )
        .values(expires_at=ctx.now)
    )
    _audit(ctx, "enrollment.revoke", household, {"revoked": result.rowcount})
    return _render(ctx, household, message="codes_revoked")


@router.post("/households/{household_id}/settings")
def save_settings(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    """音声・見守り設定: staff who may open the household page may adapt it to the resident."""
    household = household_or_404(ctx, household_id)
    change, errors = settings_form.parse(ctx.form, ctx.form_list, household)
    if errors:
        return _render(
            ctx,
            household,
            status=422,
            settings_form=settings_form.values_from_form(ctx.form, ctx.form_list, household),
            settings_errors=errors,
        )
    changed = household_settings.apply(ctx.db, household, change, ctx.now)
    _audit(
        ctx,
        "household.settings",
        household,
        {"changed": changed, "config_version": household.config_version},
    )
    return _render(ctx, household, message="settings_saved" if changed else "settings_unchanged")
