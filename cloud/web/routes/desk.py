"""The desk (default page): open incidents by urgency, with acknowledge / note / resolve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from cloud.auth.roles import Capability, Scope
from cloud.escalation.chain import family_ack_effect
from cloud.escalation.state import OUTCOMES
from cloud.models import (
    EventRecord,
    FamilyContact,
    Household,
    Incident,
    Notification,
    PostOffice,
    Resident,
)
from cloud.models.staff import IncidentNote
from cloud.services import caselog, text
from cloud.services import incidents as incident_service
from cloud.services.contacts import FieldInvalid
from cloud.services.errors import ApiError
from cloud.web import people
from cloud.web.case_view import (
    back_after,
    contacts_of,
    done_message,
    incident_in_scope,
    render_case,
)
from cloud.web.deps import Ctx, needs
from cloud.web.ordering import desk_key, is_urgent, last_step_done, severity
from cloud.web.render import page, templates
from cloud.web.route_helpers import record_action
from cloud.web.scoping import offices_in_scope, selected_office
from cloud.web.watch_banner import watch_notices
from mimamori_wire import v1

router = APIRouter()

NOTE_KINDS = caselog.STAFF_ENTRY_KINDS
NOTE_MAX = caselog.TEXT_MAX
RECENT_RESOLVED = 20
SAFETY_ON_DESK = timedelta(hours=48)


@dataclass
class IncidentRow:
    incident: Incident
    household: Household
    office_name: str
    residents: list[Resident] = field(default_factory=list)
    notified: list[Notification] = field(default_factory=list)
    notes: list[IncidentNote] = field(default_factory=list)
    contacts: list[FamilyContact] = field(default_factory=list)

    def targets(self, t: Any) -> list[people.CallTarget]:
        return people.call_targets(self.household, self.contacts, t, self.residents)

    @property
    def staff_must_confirm(self) -> bool:
        return family_ack_effect(self.incident.cause, self.incident.chain or {}) == "record"

    @property
    def severity(self) -> int:
        return severity(self.incident.cause)

    @property
    def urgent(self) -> bool:
        return is_urgent(self.incident.cause)

    @property
    def step(self) -> tuple[int, str] | None:
        return last_step_done(self.incident.chain or {}, self.incident.next_step)


def load_incidents(
    ctx: Ctx, scope: Scope, office_id: str | None, *, resolved: bool = False
) -> list[IncidentRow]:
    query = (
        select(Incident, Household, PostOffice.name)
        .join(Household, Incident.household_id == Household.id)
        .join(PostOffice, Household.office_id == PostOffice.id)
        .where(scope.household_filter())
    )
    if office_id:
        query = query.where(Household.office_id == office_id)
    if resolved:
        query = query.where(Incident.state == "resolved")
        query = query.order_by(Incident.resolved_at.desc()).limit(RECENT_RESOLVED)
    else:
        query = query.where(Incident.state != "resolved")
    rows = [IncidentRow(i, h, name) for i, h, name in ctx.db.execute(query).all()]
    _attach_details(ctx, rows)
    if not resolved:
        rows.sort(key=lambda r: desk_key(r.incident.state, r.incident.cause, r.incident.opened_at))
    return rows


def _attach_details(ctx: Ctx, rows: list[IncidentRow]) -> None:
    if not rows:
        return
    by_household: dict[str, list[IncidentRow]] = {}
    by_incident = {r.incident.id: r for r in rows}
    for row in rows:
        by_household.setdefault(row.household.id, []).append(row)
    for resident in ctx.db.scalars(
        select(Resident).where(Resident.household_id.in_(list(by_household)))
    ):
        for row in by_household[resident.household_id]:
            row.residents.append(resident)
    for household_id, contacts in contacts_of(ctx, list(by_household)).items():
        for row in by_household[household_id]:
            row.contacts = contacts
    for note in ctx.db.scalars(
        select(IncidentNote)
        .where(IncidentNote.incident_id.in_(list(by_incident)))
        .order_by(IncidentNote.created_at)
    ):
        by_incident[note.incident_id].notes.append(note)
    for notification in ctx.db.scalars(
        select(Notification)
        .where(Notification.incident_id.in_(list(by_incident)))
        .order_by(Notification.id)
    ):
        by_incident[notification.incident_id].notified.append(notification)


def safety_needs_help(ctx: Ctx, office_id: str | None) -> dict[str, int]:
    """check id -> households in scope whose latest answer to a recent safety check is
    "needs help": in a disaster those belong on the desk, not only on the check's page."""
    since = ctx.now - SAFETY_ON_DESK
    query = (
        select(EventRecord.household_id, EventRecord.payload)
        .join(Household, EventRecord.household_id == Household.id)
        .where(
            EventRecord.kind == v1.EventKind.SAFETY_CHECK_ANSWERED.value,
            EventRecord.occurred_at >= since,
            ctx.scope.household_filter(),
        )
        .order_by(EventRecord.occurred_at)
    )
    if office_id:
        query = query.where(Household.office_id == office_id)
    latest: dict[tuple[str, str], str] = {}
    for household_id, payload in ctx.db.execute(query):
        check_id = str((payload or {}).get("check_id", ""))
        latest[(check_id, household_id)] = str((payload or {}).get("status", ""))
    counts: dict[str, int] = {}
    for (check_id, _), status in latest.items():
        if status == "needs_help":
            counts[check_id] = counts.get(check_id, 0) + 1
    return counts


def _desk_vars(ctx: Ctx, **extra: Any) -> dict[str, Any]:
    office_id = selected_office(ctx)
    return {
        "safety_help": safety_needs_help(ctx, office_id),
        "rows": load_incidents(ctx, ctx.scope, office_id),
        "resolved_rows": load_incidents(ctx, ctx.scope, office_id, resolved=True),
        "offices": offices_in_scope(ctx),
        "office_id": office_id,
        "outcomes": OUTCOMES,
        "note_kinds": NOTE_KINDS,
        "errors": {},
        "values": {},
        "saved": ctx.request.query_params.get("saved"),
        "saved_message": done_message(ctx) or "saved_note",
        "call_results": caselog.CALL_RESULTS,
        **extra,
    }


@router.get("/")
def desk(ctx: Ctx = needs(Capability.DESK)) -> Response:
    return page(ctx, "desk.html", **_desk_vars(ctx))


@router.get("/desk/feed")
def desk_feed(ctx: Ctx = needs(Capability.DESK)) -> Response:
    """Polled by the desk page: the incident list as HTML plus ids to detect new urgent ones."""
    variables = _desk_vars(ctx)
    html = templates.get_template("_incidents.html").render(ctx.template_vars(**variables))
    rows = variables["rows"]
    body = {
        "html": html,
        "ids": [r.incident.id for r in rows],
        "urgent": [r.incident.id for r in rows if r.urgent and r.incident.state == "open"],
        "count": len(rows),
        # The stopped-watch banner (base.html) follows the polled desk without a reload.
        "watch_stopped": watch_notices(ctx).stopped,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _audit(
    ctx: Ctx,
    action: str,
    incident: Incident,
    household: Household,
    detail: dict[str, Any] | None = None,
) -> None:
    record_action(
        ctx,
        action,
        target_type="incident",
        target_id=incident.id,
        household=household,
        detail=detail,
    )


def form_error(
    ctx: Ctx, incident: Incident, household: Household, field_name: str, key: str
) -> Response:
    """The form again with the error next to the field: on the case page or the desk."""
    if ctx.form.get("back") == "case":
        return render_case(
            ctx, incident, household, 422, errors={field_name: key}, values=dict(ctx.form)
        )
    variables = _desk_vars(
        ctx, errors={incident.id: {field_name: key}}, values={incident.id: dict(ctx.form)}
    )
    return page(ctx, "desk.html", status=422, **variables)


def _take(ctx: Ctx, incident: Incident) -> bool:
    """Staff take the case (the chain stops); False when it was already taken or closed."""
    assert ctx.user is not None
    return incident_service.acknowledge(
        ctx.db, incident, ctx.user.email, ctx.now, name=ctx.user.name
    )


@router.post("/incidents/{incident_id}/ack")
def acknowledge(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = incident_in_scope(ctx, incident_id)
    if _take(ctx, incident):
        _audit(ctx, "incident.acknowledge", incident, household)
    return back_after(ctx, incident, "ack")


def _add_entry(
    ctx: Ctx, incident: Incident, household: Household, entry: caselog.EntryInput
) -> Response:
    """A note, visit or call on the case (also after it is resolved: the file stays open
    for what happens later). Writing one down on an open case means someone took it."""
    assert ctx.user is not None
    try:
        row = caselog.add_entry(
            ctx.db,
            incident,
            entry,
            author_id=ctx.user.id,
            author_name=ctx.user.name,
            now=ctx.now,
        )
    except FieldInvalid as exc:
        return form_error(ctx, incident, household, exc.field, "err_" + exc.key)
    if incident.state == "open":
        _take(ctx, incident)
    is_call = row.call_result is not None
    detail = {"kind": row.kind, **({"call_result": row.call_result} if is_call else {})}
    _audit(ctx, "incident.call" if is_call else "incident.note", incident, household, detail)
    return back_after(ctx, incident, "call" if is_call else "note")


@router.post("/incidents/{incident_id}/note")
def add_note(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = incident_in_scope(ctx, incident_id)
    entry = caselog.EntryInput(kind=ctx.form.get("kind", ""), text=ctx.form.get("text", ""))
    return _add_entry(ctx, incident, household, entry)


@router.post("/incidents/{incident_id}/call")
def add_call(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    """電話の記録: who was called on which number, and the result."""
    incident, household = incident_in_scope(ctx, incident_id)
    callee, phone = people.split_target(ctx.form.get("target", ""))
    entry = caselog.EntryInput(
        kind="call",
        text=ctx.form.get("text", ""),
        callee=callee or None,
        phone=phone,
        call_result=ctx.form.get("call_result") or "",
    )
    return _add_entry(ctx, incident, household, entry)


@router.post("/incidents/{incident_id}/resolve")
def resolve(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = incident_in_scope(ctx, incident_id)
    assert ctx.user is not None
    outcome = ctx.form.get("outcome", "")
    note = text.normalise_newlines(ctx.form.get("note", "")).strip()
    if outcome not in OUTCOMES:
        return form_error(ctx, incident, household, "outcome", "err_invalid_outcome")
    if not text.is_clean(note, multiline=True):
        return form_error(ctx, incident, household, "note", "err_control_chars")
    if len(note) > NOTE_MAX:
        return form_error(ctx, incident, household, "note", "err_too_long")
    if incident.state == "open":
        _take(ctx, incident)
    try:
        incident_service.resolve(
            ctx.db, incident, outcome, note or None, ctx.now, by_name=ctx.user.name
        )
    except ApiError:
        return form_error(ctx, incident, household, "outcome", "err_already_resolved")
    _audit(ctx, "incident.resolve", incident, household, {"outcome": outcome})
    return back_after(ctx, incident, "resolved")
