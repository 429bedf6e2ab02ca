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
from cloud.models import (
    Checkin,
    EnrollmentCode,
    EventRecord,
    FamilyContact,
    Gateway,
    Holiday,
    Household,
    Incident,
    Pause,
)
from cloud.models.staff import IncidentNote
from cloud.notify.outbox import case_deliveries
from cloud.schedule import local_date_of
from cloud.services import contacts as contact_service
from cloud.services import household_settings, tenancy
from cloud.services.contacts import FieldInvalid
from cloud.services.tenancy import Invalid, issue_enrollment_code
from cloud.web import deliveries, household_forms, line_link, people, settings_form
from cloud.web.case_view import contacts_of
from cloud.web.deps import Ctx, needs, not_found
from cloud.web.forms import FieldError
from cloud.web.render import page
from cloud.web.route_helpers import heartbeat_stale, record_action
from cloud.web.routes.board import current_gateway, gateway_health
from cloud.web.scoping import household_or_404

router = APIRouter()

TIMELINE_DAYS = 30
TIMELINE_LIMIT = 300
# The latest deliveries (which channel reached whom) come from this many latest cases.
DELIVERY_CASES = 5
DELIVERIES_LISTED = 10
TREND_INTENTS = ("fine", "usual", "unwell")
CASES_LISTED = 50


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
    # Calls, visits and notes stay with their case and show here too.
    items += [
        TimelineItem(
            note.created_at,
            "case_entry",
            {"note": note, "incident_id": incident_id, "cause": cause},
        )
        for note, incident_id, cause in ctx.db.execute(
            select(IncidentNote, Incident.id, Incident.cause)
            .join(Incident, IncidentNote.incident_id == Incident.id)
            .where(Incident.household_id == household.id, IncidentNote.created_at >= since)
        ).tuples()
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return items


def _cases(ctx: Ctx, household: Household) -> list[Incident]:
    return list(
        ctx.db.scalars(
            select(Incident)
            .where(Incident.household_id == household.id)
            .order_by(Incident.opened_at.desc())
            .limit(CASES_LISTED)
        )
    )


def _codes(ctx: Ctx, household: Household) -> list[EnrollmentCode]:
    return list(
        ctx.db.scalars(
            select(EnrollmentCode)
            .where(EnrollmentCode.household_id == household.id)
            .order_by(EnrollmentCode.created_at.desc())
            .limit(10)
        )
    )


def _latest_deliveries(
    ctx: Ctx, household: Household, cases: list[Incident], contacts: list[FamilyContact]
) -> list[deliveries.DeliveryRow]:
    by_id = deliveries.contacts_by_id(contacts)
    latest = cases[:DELIVERY_CASES]
    steps = deliveries.chain_steps(ctx.db, [i.id for i in latest])
    addresses = deliveries.staff_addresses(household.office, ctx.t) if latest else {}
    rows = [
        row
        for incident in latest
        for row in deliveries.delivery_rows(
            incident.id, case_deliveries(ctx.db, incident.id), by_id, steps, addresses
        )
    ]
    return deliveries.latest_rows(rows, DELIVERIES_LISTED)


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
    contacts = contacts_of(ctx, [household.id])[household.id]
    cases = _cases(ctx, household)
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
        "contacts": contacts,
        "contact_roles": people.CONTACT_ROLES,
        "channel_prefs": contact_service.CHANNEL_PREFS,
        "cases": cases,
        "cases_by_id": {c.id: c for c in cases},
        "deliveries": _latest_deliveries(ctx, household, cases, contacts),
        "line_setup": line_link.line_setup(ctx.db, household),
        "line_state": line_link.line_state,
        "line_codes": line_link.open_codes(ctx.db, household.id, ctx.now),
        "new_line_code": None,
        "line_qr": None,
        "today": local_date_of(ctx.now, household.timezone),
        "form_errors": {},
        "form_values": {},
        # A form's answer is this page: the browser shows (and reloads) the page's address.
        "canonical_url": f"/households/{household.id}",
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


def _form_failed(
    ctx: Ctx, household: Household, form: str, exc: FieldInvalid | FieldError
) -> Response:
    field, key = household_forms.error_of(exc)
    return _render(
        ctx,
        household,
        status=422,
        form_errors={form: {field: key}},
        form_values={form: dict(ctx.form)},
    )


@router.post("/households/{household_id}/details")
def save_details(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    """ご本人の情報: phones, address, birth date, notes for visitors."""
    household = household_or_404(ctx, household_id)
    try:
        data = household_forms.details(ctx.form, local_date_of(ctx.now, household.timezone))
        # A savepoint: nothing of a refused change stays (the page is re-read after it).
        with ctx.db.begin_nested():
            changed = contact_service.set_details(ctx.db, household, data)
    except (FieldInvalid, FieldError) as exc:
        return _form_failed(ctx, household, "details", exc)
    _audit(ctx, "household.details", household, {"changed": changed})
    return _render(ctx, household, message="details_saved" if changed else "settings_unchanged")


def _contact_of(ctx: Ctx, household: Household, contact_id: str) -> FamilyContact:
    contact = ctx.db.get(FamilyContact, contact_id)
    if contact is None or contact.household_id != household.id:
        raise not_found()
    return contact


@router.post("/households/{household_id}/contacts")
def add_contact(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    household = household_or_404(ctx, household_id)
    try:
        with ctx.db.begin_nested():
            row = contact_service.add_contact(
                ctx.db, household.id, household_forms.contact(ctx.form, ctx.form_list)
            )
            pref, daily_line = household_forms.channels(ctx.form)
            contact_service.set_channels(row, channel_pref=pref, daily_report_line=daily_line)
            ctx.db.flush()
    except (FieldInvalid, FieldError) as exc:
        return _form_failed(ctx, household, "contact-new", exc)
    _audit(ctx, "contact.add", household, {"contact_id": row.id, "roles": row.roles})
    ctx.db.expire(household)
    return _render(ctx, household, message="contact_saved")


@router.post("/households/{household_id}/contacts/{contact_id}")
def update_contact(
    household_id: str, contact_id: str, ctx: Ctx = needs(Capability.DESK)
) -> Response:
    household = household_or_404(ctx, household_id)
    contact = _contact_of(ctx, household, contact_id)
    try:
        with ctx.db.begin_nested():
            changed = contact_service.update_contact(
                ctx.db, contact, household_forms.contact(ctx.form, ctx.form_list)
            )
            pref, daily_line = household_forms.channels(ctx.form)
            changed += contact_service.set_channels(
                contact, channel_pref=pref, daily_report_line=daily_line
            )
            ctx.db.flush()
    except (FieldInvalid, FieldError) as exc:
        return _form_failed(ctx, household, f"contact-{contact.id}", exc)
    _audit(ctx, "contact.update", household, {"contact_id": contact.id, "changed": changed})
    return _render(ctx, household, message="contact_saved")


@router.post("/households/{household_id}/contacts/{contact_id}/line-code")
def issue_line_code(
    household_id: str, contact_id: str, ctx: Ctx = needs(Capability.DESK)
) -> Response:
    """A one-time code the family member sends to the office's LINE account to link it."""
    household = household_or_404(ctx, household_id)
    contact = _contact_of(ctx, household, contact_id)
    setup = line_link.line_setup(ctx.db, household)
    if setup is None:
        return _render(ctx, household, status=409, message="line_not_configured")
    issued = line_link.issue(ctx.db, contact, ctx.now)
    url = setup.add_friend_url
    qr = line_link.qr_svg(url, ctx.t("line_qr_title")) if url else None
    _audit(
        ctx,
        "contact.line_code",
        household,
        {"contact_id": contact.id, "expires_at": issued.expires_at.isoformat()},
    )
    return _render(ctx, household, new_line_code=issued, line_qr=qr)


@router.post("/households/{household_id}/contacts/{contact_id}/move")
def move_contact(household_id: str, contact_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    household = household_or_404(ctx, household_id)
    contact = _contact_of(ctx, household, contact_id)
    step = -1 if ctx.form.get("direction") == "up" else 1
    contact_service.move_contact(ctx.db, contact, step)
    _audit(ctx, "contact.move", household, {"contact_id": contact.id, "priority": contact.priority})
    return _render(ctx, household, message="contact_order_saved")


@router.post("/households/{household_id}/contacts/{contact_id}/remove")
def remove_contact(
    household_id: str, contact_id: str, ctx: Ctx = needs(Capability.DESK)
) -> Response:
    household = household_or_404(ctx, household_id)
    contact = _contact_of(ctx, household, contact_id)
    _audit(ctx, "contact.remove", household, {"contact_id": contact.id, "name": contact.name})
    contact_service.remove_contact(ctx.db, contact)
    ctx.db.expire(household)
    return _render(ctx, household, message="contact_removed")


@router.post("/households/{household_id}/pauses")
def add_pause(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    """入院・ショートステイ: no check-ins and no alarms while it lasts."""
    household = household_or_404(ctx, household_id)
    try:
        starts, ends, reason = household_forms.pause(ctx.form, household.timezone, ctx.now)
        row = tenancy.add_pause(ctx.db, household.id, starts, ends, reason, ctx.now)
    except FieldError as exc:
        return _form_failed(ctx, household, "pause", exc)
    except Invalid as exc:
        return _form_failed(ctx, household, "pause", FieldError("reason", _invalid_key(exc)))
    _audit(
        ctx,
        "pause.add",
        household,
        {"pause_id": row.id, "reason": reason, "ends_at": ends.isoformat() if ends else None},
    )
    return _render(ctx, household, message="pause_added")


def _invalid_key(exc: Invalid) -> str:
    return "err_control_chars" if "control" in str(exc) else "err_invalid_value"


@router.post("/households/{household_id}/pauses/{pause_id}/end")
def end_pause(household_id: str, pause_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    household = household_or_404(ctx, household_id)
    pause = ctx.db.get(Pause, pause_id)
    if pause is None or pause.household_id != household.id:
        raise not_found()
    tenancy.end_pause(ctx.db, pause.id, ctx.now)
    _audit(ctx, "pause.end", household, {"pause_id": pause.id})
    return _render(ctx, household, message="pause_ended")


@router.post("/households/{household_id}/holidays")
def add_holiday(household_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    """休みの日 (e.g. デイサービス): the resident is not asked that day."""
    household = household_or_404(ctx, household_id)
    try:
        day, note = household_forms.holiday(ctx.form, local_date_of(ctx.now, household.timezone))
        tenancy.add_holiday(ctx.db, household.id, day, note, ctx.now)
    except FieldError as exc:
        return _form_failed(ctx, household, "holiday", exc)
    except Invalid as exc:
        key = "err_holiday_exists" if "already" in str(exc) else _invalid_key(exc)
        return _form_failed(ctx, household, "holiday", FieldError("day", key))
    _audit(ctx, "holiday.add", household, {"day": day.isoformat()})
    return _render(ctx, household, message="holiday_added")


@router.post("/households/{household_id}/holidays/{holiday_id}/remove")
def remove_holiday(
    household_id: str, holiday_id: str, ctx: Ctx = needs(Capability.DESK)
) -> Response:
    household = household_or_404(ctx, household_id)
    holiday = ctx.db.get(Holiday, holiday_id)
    if holiday is None or holiday.household_id != household.id:
        raise not_found()
    _audit(ctx, "holiday.remove", household, {"day": holiday.day.isoformat()})
    tenancy.remove_holiday(ctx.db, holiday, ctx.now)
    return _render(ctx, household, message="holiday_removed")
