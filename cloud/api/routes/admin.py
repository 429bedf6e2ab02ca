"""Authenticated JSON admin API: tenancy, schedules, incidents, mail failures.

Auth: `Authorization: Bearer <MIMAMORI_ADMIN_TOKEN>` (cloud.api.deps.admin_principal).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.api.deps import Principal, admin_principal, admin_router, db_session, state
from cloud.escalation.chain import CAUSES, validate_chain
from cloud.models import (
    FamilyContact,
    Gateway,
    Household,
    Incident,
    Municipality,
    Notification,
    OutboxMail,
    Pause,
)
from cloud.services import contacts, household_settings, incidents, tenancy
from cloud.services.errors import ApiError
from mimamori_wire import v1

router = admin_router()


class MunicipalityIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Asia/Tokyo"
    email: str | None = None


class OfficeIn(BaseModel):
    municipality_id: str
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = None
    email: str | None = None
    manager_email: str | None = None


class SlotIn(BaseModel):
    time: str
    name: str | None = Field(default=None, max_length=32)
    window_min: int = Field(default=30, ge=5, le=240)
    grace_min: int = Field(default=5, ge=0, le=120)
    # Omitted: health only / default re-asks (cloud.services.tenancy.SlotInput).
    questions: list[v1.Question] | None = Field(default=None, max_length=4)
    reask_offsets_min: list[int] | None = Field(default=None, max_length=3)


class QuietHoursIn(BaseModel):
    start: str
    end: str


class SettingsIn(BaseModel):
    """PATCH: only the fields sent change; inactivity_deadline null switches the check off."""

    model_config = ConfigDict(extra="forbid")
    tts_speed: float | None = None
    tts_volume: float | None = None
    share_transcripts: bool | None = None
    quiet_hours: QuietHoursIn | None = None
    inactivity_deadline: str | None = None

    def change(self) -> household_settings.SettingsChange:
        deadline = None
        if "inactivity_deadline" in self.model_fields_set:
            deadline = self.inactivity_deadline or ""
        return household_settings.SettingsChange(
            tts_speed=self.tts_speed,
            tts_volume=self.tts_volume,
            share_transcripts=self.share_transcripts,
            quiet_start=self.quiet_hours.start if self.quiet_hours else None,
            quiet_end=self.quiet_hours.end if self.quiet_hours else None,
            inactivity_deadline=deadline,
        )


class HouseholdIn(BaseModel):
    office_id: str
    resident_name: str = Field(min_length=1, max_length=200)
    kana: str | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    slots: list[SlotIn] = Field(default_factory=lambda: [SlotIn(time="08:00")], max_length=3)
    timezone: str | None = None
    language: str = "ja"
    address: str | None = None
    # The resident's numbers (`phone` is the one-number form), birth date, visitor notes.
    phone: str | None = Field(default=None, max_length=40)
    phones: list[str] | None = Field(default=None, max_length=3)
    birth_date: date | None = None
    visitor_notes: str | None = Field(default=None, max_length=2000)

    def details(self) -> contacts.DetailsInput:
        return details_input(self.phone, self.phones, self.birth_date, self.visitor_notes)


class HouseholdPatch(BaseModel):
    """PATCH: only the fields sent change; null or "" clears one."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, max_length=400)
    phone: str | None = Field(default=None, max_length=40)
    phones: list[str] | None = Field(default=None, max_length=3)
    birth_date: date | None = None
    visitor_notes: str | None = Field(default=None, max_length=2000)

    def details(self) -> contacts.DetailsInput:
        sent = self.model_fields_set
        phones: list[str] | None = None
        if "phones" in sent or "phone" in sent:
            phones = list(self.phones or []) + ([self.phone] if self.phone else [])
        return contacts.DetailsInput(
            phones=phones,
            address=(self.address or "") if "address" in sent else None,
            birth_date=self.birth_date,
            clear_birth_date="birth_date" in sent and self.birth_date is None,
            visitor_notes=(self.visitor_notes or "") if "visitor_notes" in sent else None,
        )


def details_input(
    phone: str | None, phones: list[str] | None, birth_date: date | None, notes: str | None
) -> contacts.DetailsInput:
    numbers = list(phones or []) + ([phone] if phone else [])
    return contacts.DetailsInput(phones=numbers or None, birth_date=birth_date, visitor_notes=notes)


class ContactIn(BaseModel):
    """A person to call or mail: `phone` is the one-number form of `phones`; `roles` from
    family, emergency, key_holder, doctor, care_manager, welfare_volunteer; `priority` is
    the calling order (smallest first; omitted: last). Contacts without e-mail get no mail."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(
        default=None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    relationship: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, max_length=40)
    phones: list[str] | None = Field(default=None, max_length=3)
    roles: list[str] | None = Field(default=None, max_length=6)
    priority: int | None = Field(default=None, ge=0, le=1000)
    daily_report: bool = False
    notify_alerts: bool | None = None  # default: yes when there is an e-mail address

    def data(self) -> contacts.ContactInput:
        alerts = self.notify_alerts if self.notify_alerts is not None else bool(self.email)
        return contacts.ContactInput(
            name=self.name,
            email=self.email,
            relationship=self.relationship,
            phones=list(self.phones or []) + ([self.phone] if self.phone else []),
            roles=self.roles,
            priority=self.priority,
            notify_alerts=alerts,
            daily_report=self.daily_report,
        )


class PauseIn(BaseModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    reason: str = ""


class HolidayIn(BaseModel):
    day: date
    note: str = ""


class AckIn(BaseModel):
    by: str = Field(default="staff", max_length=320)


class ResolveIn(BaseModel):
    outcome: str
    note: str | None = Field(default=None, max_length=4000)


def _now(request: Request) -> datetime:
    return state(request).clock()


@router.post("/municipalities", status_code=201)
def create_municipality(
    body: MunicipalityIn, session: Session = Depends(db_session, scope="function")
) -> dict:
    row = tenancy.create_municipality(session, body.name, body.timezone, body.email)
    return {"id": row.id, "name": row.name, "timezone": row.timezone}


@router.put("/municipalities/{municipality_id}/escalation-chains")
def set_chains(
    municipality_id: str,
    body: dict[str, Any],
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    row = tenancy.get_or_404(session, Municipality, municipality_id)
    for cause, chain in body.items():
        if cause not in CAUSES:
            raise ApiError(422, "invalid_chain", f"unknown cause {cause!r}")
        try:
            validate_chain(chain)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ApiError(422, "invalid_chain", f"{cause}: {exc}") from None
    row.escalation_chains = body
    return {"id": row.id, "escalation_chains": body}


@router.post("/offices", status_code=201)
def create_office(body: OfficeIn, session: Session = Depends(db_session, scope="function")) -> dict:
    row = tenancy.create_office(
        session, body.municipality_id, body.name, body.phone, body.email, body.manager_email
    )
    return {"id": row.id, "name": row.name, "municipality_id": row.municipality_id}


@router.post("/households", status_code=201)
def create_household(
    body: HouseholdIn, request: Request, session: Session = Depends(db_session, scope="function")
) -> dict:
    household = tenancy.create_household(
        session,
        body.office_id,
        body.resident_name,
        _now(request),
        kana=body.kana,
        birth_year=body.birth_year,
        slots=[tenancy.SlotInput(**s.model_dump()) for s in body.slots],
        timezone=body.timezone,
        language=body.language,
        address=body.address,
    )
    contacts.set_details(session, household, body.details())
    return household_json(session, household)


@router.get("/households")
def list_households(
    office_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
    session: Session = Depends(db_session, scope="function"),
) -> list[dict]:
    stmt = select(Household).order_by(Household.created_at).limit(limit)
    if office_id:
        stmt = stmt.where(Household.office_id == office_id)
    return [household_json(session, h) for h in session.scalars(stmt)]


@router.get("/households/{household_id}")
def get_household(
    household_id: str, session: Session = Depends(db_session, scope="function")
) -> dict:
    return household_json(session, tenancy.get_or_404(session, Household, household_id))


@router.patch("/households/{household_id}")
def patch_household(
    household_id: str,
    body: HouseholdPatch,
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    household = tenancy.get_or_404(session, Household, household_id)
    changed = contacts.set_details(session, household, body.details())
    return {**household_json(session, household), "changed": changed}


@router.put("/households/{household_id}/slots")
def put_slots(
    household_id: str,
    body: list[SlotIn],
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    household = tenancy.get_or_404(session, Household, household_id)
    slots = [tenancy.SlotInput(**s.model_dump()) for s in body]
    tenancy.set_slots(session, household, slots, _now(request))
    return household_json(session, household)


@router.patch("/households/{household_id}/settings")
def patch_settings(
    household_id: str,
    body: SettingsIn,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    household = tenancy.get_or_404(session, Household, household_id)
    changed = household_settings.apply(session, household, body.change(), _now(request))
    return {**household_json(session, household), "changed": changed}


@router.post("/households/{household_id}/contacts", status_code=201)
def add_contact(
    household_id: str, body: ContactIn, session: Session = Depends(db_session, scope="function")
) -> dict:
    row = contacts.add_contact(session, household_id, body.data())
    return contact_json(row)


@router.put("/contacts/{contact_id}")
def put_contact(
    contact_id: str, body: ContactIn, session: Session = Depends(db_session, scope="function")
) -> dict:
    row = tenancy.get_or_404(session, FamilyContact, contact_id)
    changed = contacts.update_contact(session, row, body.data())
    return {**contact_json(row), "changed": changed}


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(
    contact_id: str, session: Session = Depends(db_session, scope="function")
) -> None:
    contacts.remove_contact(session, tenancy.get_or_404(session, FamilyContact, contact_id))


@router.post("/households/{household_id}/pauses", status_code=201)
def add_pause(
    household_id: str,
    body: PauseIn,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    row = tenancy.add_pause(
        session, household_id, body.starts_at, body.ends_at, body.reason, _now(request)
    )
    return {"id": row.id, "starts_at": row.starts_at, "ends_at": row.ends_at}


@router.post("/pauses/{pause_id}/end")
def end_pause(
    pause_id: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> dict:
    tenancy.get_or_404(session, Pause, pause_id)
    row = tenancy.end_pause(session, pause_id, _now(request))
    return {"id": row.id, "ends_at": row.ends_at}


@router.post("/households/{household_id}/holidays", status_code=201)
def add_holiday(
    household_id: str,
    body: HolidayIn,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    row = tenancy.add_holiday(session, household_id, body.day, body.note, _now(request))
    return {"id": row.id, "day": row.day.isoformat()}


@router.post("/households/{household_id}/enrollment-codes", status_code=201)
def issue_code(
    household_id: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> dict:
    ttl = timedelta(seconds=state(request).settings.enrollment_code_ttl_s)
    row, code = tenancy.issue_enrollment_code(session, household_id, _now(request), ttl)
    return {"code": code, "expires_at": row.expires_at}


@router.post("/gateways/{gateway_id}/revoke")
def revoke_gateway(
    gateway_id: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> dict:
    """A lost or replaced gateway: its token stops working at once."""
    gateway = tenancy.get_or_404(session, Gateway, gateway_id)
    gateway.revoked_at = gateway.revoked_at or _now(request)
    return {"id": gateway.id, "revoked_at": gateway.revoked_at}


@router.get("/incidents")
def list_incidents(
    state_filter: str | None = Query(default=None, alias="state", max_length=32),
    household_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
    session: Session = Depends(db_session, scope="function"),
) -> list[dict]:
    stmt = select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
    if state_filter:
        stmt = stmt.where(Incident.state == state_filter)
    if household_id:
        stmt = stmt.where(Incident.household_id == household_id)
    return [incident_json(i) for i in session.scalars(stmt)]


@router.get("/incidents/{incident_id}")
def get_incident(
    incident_id: str, session: Session = Depends(db_session, scope="function")
) -> dict:
    incident = tenancy.get_or_404(session, Incident, incident_id)
    notes = session.scalars(
        select(Notification)
        .where(Notification.incident_id == incident_id)
        .order_by(Notification.id)
    )
    return {
        **incident_json(incident),
        "notifications": [
            {
                "step": n.step,
                "action": n.action,
                "recipient": n.recipient,
                "channel": n.channel,
                "created_at": n.created_at,
                "mail_id": n.mail_id,
            }
            for n in notes
        ],
    }


@router.post("/incidents/{incident_id}/acknowledge")
def acknowledge(
    incident_id: str,
    body: AckIn,
    request: Request,
    principal: Principal = Depends(admin_principal),
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    incident = tenancy.get_or_404(session, Incident, incident_id)
    changed = incidents.acknowledge(session, incident, body.by, _now(request))
    return {**incident_json(incident), "changed": changed}


@router.post("/incidents/{incident_id}/resolve")
def resolve(
    incident_id: str,
    body: ResolveIn,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    incident = tenancy.get_or_404(session, Incident, incident_id)
    incidents.resolve(session, incident, body.outcome, body.note, _now(request))
    return incident_json(incident)


@router.get("/mail")
def list_mail(
    status: str = Query(default="failed", max_length=32),
    limit: int = Query(default=100, ge=1, le=1000),
    session: Session = Depends(db_session, scope="function"),
) -> list[dict]:
    stmt = (
        select(OutboxMail)
        .where(OutboxMail.status == status)
        .order_by(OutboxMail.created_at.desc())
        .limit(limit)
    )
    return [
        {
            "id": m.id,
            "to": m.to_addr,
            "subject": m.subject,
            "kind": m.kind,
            "incident_id": m.incident_id,
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "created_at": m.created_at,
            "sent_at": m.sent_at,
        }
        for m in session.scalars(stmt)
    ]


def incident_json(incident: Incident) -> dict:
    return {
        "id": incident.id,
        "household_id": incident.household_id,
        "cause": incident.cause,
        "state": incident.state,
        "slot": incident.slot,
        "slot_date": incident.slot_date.isoformat() if incident.slot_date else None,
        "deadline_at": incident.deadline_at,
        "opened_at": incident.opened_at,
        "next_step": incident.next_step,
        "next_step_at": incident.next_step_at,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_by_name": incident.acknowledged_by_name,
        "family_reached_at": incident.family_reached_at,
        "family_reached_by": incident.family_reached_by,
        "resolved_at": incident.resolved_at,
        "outcome": incident.outcome,
        "note": incident.note,
        "chain": incident.chain,
    }


def household_json(session: Session, household: Household) -> dict:
    session.refresh(household)
    gateways = session.scalars(select(Gateway).where(Gateway.household_id == household.id))
    return {
        "id": household.id,
        "office_id": household.office_id,
        "timezone": household.timezone,
        "language": household.language,
        "address": household.address,
        "active": household.active,
        "config_version": household.config_version,
        "next_deadline": household.next_deadline,
        "next_slot": household.next_slot_name,
        "last_heartbeat_at": household.last_heartbeat_at,
        "residents": [
            {
                "id": r.id,
                "name": r.name,
                "kana": r.kana,
                "birth_year": r.birth_year,
                "birth_date": r.birth_date.isoformat() if r.birth_date else None,
            }
            for r in household.residents
        ],
        "slots": [
            {
                "name": s.name,
                "time": s.time,
                "window_min": s.window_min,
                "grace_min": s.grace_min,
                "questions": s.questions,
                "reask_offsets_min": s.reask_offsets_min,
            }
            for s in household.slots
        ],
        "settings": household_settings.settings_json(household),
        "phones": list(household.phones or []),
        "visitor_notes": household.visitor_notes,
        "contacts": [contact_json(c) for c in household.contacts],
        "pauses": [
            {"id": p.id, "starts_at": p.starts_at, "ends_at": p.ends_at, "reason": p.reason}
            for p in household.pauses
        ],
        "holidays": [{"day": h.day.isoformat(), "note": h.note} for h in household.holidays],
        "gateways": [
            {
                "id": g.id,
                "hardware_id": g.hardware_id,
                "software_version": g.software_version,
                "last_heartbeat_at": g.last_heartbeat_at,
                "revoked": g.revoked_at is not None,
            }
            for g in gateways
        ],
    }


def contact_json(contact: FamilyContact) -> dict:
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "relationship": contact.relationship_label,
        "phones": list(contact.phones or []),
        "roles": list(contact.roles or []),
        "priority": contact.priority,
        "notify_alerts": contact.notify_alerts,
        "daily_report": contact.daily_report,
        "daily_report_line": contact.daily_report_line,
        "channel_pref": contact.channel_pref,
        "line_linked": contact.line_user_id is not None,
        "unsubscribed": contact.unsubscribed_at is not None,
        "reports_stopped_at": contact.reports_stopped_at,
    }
