"""The desk (default page): open incidents by urgency, with acknowledge / note / resolve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from cloud.auth.roles import Capability, Scope
from cloud.escalation.state import OUTCOMES
from cloud.models import EventRecord, Household, Incident, Notification, PostOffice, Resident
from cloud.models.staff import IncidentNote
from cloud.services import incidents as incident_service
from cloud.services.errors import ApiError
from cloud.web.deps import Ctx, needs, not_found
from cloud.web.ordering import desk_key, is_urgent, last_step_done, severity
from cloud.web.render import page, templates
from cloud.web.route_helpers import record_action
from cloud.web.scoping import offices_in_scope, selected_office
from cloud.web.watch_banner import watch_notices
from mimamori_wire import v1

router = APIRouter()

NOTE_KINDS = ("call", "visit", "other")
NOTE_MAX = 2000
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


def _incident_in_scope(ctx: Ctx, incident_id: str) -> tuple[Incident, Household]:
    """Another office's incident is 'not found', never 'forbidden': ids reveal nothing."""
    row = ctx.db.execute(
        select(Incident, Household)
        .join(Household, Incident.household_id == Household.id)
        .where(Incident.id == incident_id, ctx.scope.household_filter())
    ).first()
    if row is None:
        raise not_found()
    return row[0], row[1]


def _back(ctx: Ctx, **params: str) -> RedirectResponse:
    office = selected_office(ctx)
    query = {**({"office": office} if office else {}), **params}
    suffix = "?" + urlencode(query) if query else ""
    return RedirectResponse("/" + suffix, status_code=303)


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


def _form_error(ctx: Ctx, incident_id: str, field_name: str, key: str) -> Response:
    variables = _desk_vars(
        ctx, errors={incident_id: {field_name: key}}, values={incident_id: dict(ctx.form)}
    )
    return page(ctx, "desk.html", status=422, **variables)


@router.post("/incidents/{incident_id}/ack")
def acknowledge(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = _incident_in_scope(ctx, incident_id)
    assert ctx.user is not None
    if incident_service.acknowledge(ctx.db, incident, ctx.user.email, ctx.now):
        _audit(ctx, "incident.acknowledge", incident, household)
    return _back(ctx)


@router.post("/incidents/{incident_id}/note")
def add_note(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = _incident_in_scope(ctx, incident_id)
    assert ctx.user is not None
    text = ctx.form.get("text", "").strip()
    kind = ctx.form.get("kind", "")
    if kind not in NOTE_KINDS:
        return _form_error(ctx, incident.id, "kind", "err_invalid_note_kind")
    if not text:
        return _form_error(ctx, incident.id, "text", "err_required")
    if len(text) > NOTE_MAX:
        return _form_error(ctx, incident.id, "text", "err_too_long")
    ctx.db.add(
        IncidentNote(
            incident_id=incident.id,
            kind=kind,
            text=text,
            author_id=ctx.user.id,
            author_name=ctx.user.name,
            created_at=ctx.now,
        )
    )
    # Writing down a call means someone has taken the case: the chain stops too.
    incident_service.acknowledge(ctx.db, incident, ctx.user.email, ctx.now)
    _audit(ctx, "incident.note", incident, household, {"kind": kind})
    return _back(ctx, saved=incident.id)


@router.post("/incidents/{incident_id}/resolve")
def resolve(incident_id: str, ctx: Ctx = needs(Capability.DESK)) -> Response:
    incident, household = _incident_in_scope(ctx, incident_id)
    assert ctx.user is not None
    outcome = ctx.form.get("outcome", "")
    note = ctx.form.get("note", "").strip()
    if outcome not in OUTCOMES:
        return _form_error(ctx, incident.id, "outcome", "err_invalid_outcome")
    if len(note) > NOTE_MAX:
        return _form_error(ctx, incident.id, "note", "err_too_long")
    if incident.state == "open":
        incident_service.acknowledge(ctx.db, incident, ctx.user.email, ctx.now)
    try:
        incident_service.resolve(ctx.db, incident, outcome, note or None, ctx.now)
    except ApiError:
        return _form_error(ctx, incident.id, "outcome", "err_already_resolved")
    _audit(ctx, "incident.resolve", incident, household, {"outcome": outcome})
    return _back(ctx, saved=incident.id)
