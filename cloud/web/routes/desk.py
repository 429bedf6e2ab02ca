"""The desk (default page): open incidents by urgency, with acknowledge / note / resolve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, select

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
from cloud.models.incidents import unresolved
from cloud.models.staff import IncidentNote
from cloud.services import caselog, text
from cloud.services import incidents as incident_service
from cloud.services.contacts import FieldInvalid
from cloud.services.errors import ApiError
from cloud.web import people
from cloud.web.case_view import (
    NOTE_FORM_KINDS,
    back_after,
    contacts_of,
    done_message,
    incident_in_scope,
    render_case,
)
from cloud.web.deps import Ctx, needs
from cloud.web.ordering import desk_key, is_urgent, last_step_done, severity
from cloud.web.render import page, templates
from cloud.web.route_helpers import page_number, record_action
from cloud.web.scoping import offices_in_scope, selected_office
from cloud.web.watch_banner import watch_notices
from mimamori_wire import v1

router = APIRouter()

NOTE_MAX = caselog.TEXT_MAX
RECENT_RESOLVED = 20
RECENT_RESOLVED_FOR = timedelta(days=7)
# Open incidents shown as full cards per desk page (the rest are counted and paged).
DESK_PAGE_SIZE = 50
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

    def notified_chips(self, t: Any) -> list[people.NotifiedChip]:
        return people.notified_chips(self.notified, self.contacts, self.office_name, t)

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


@dataclass(frozen=True)
class OpenCase:
    """What ordering, counting and the urgent alert need of an open incident: no details."""

    id: str
    state: str
    cause: str
    opened_at: datetime

    @property
    def urgent(self) -> bool:
        return is_urgent(self.cause)


@dataclass
class DeskList:
    """The open incidents in scope, most urgent first, and the page of them shown in full."""

    cases: list[OpenCase]
    rows: list[IncidentRow]
    page: int
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * DESK_PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    def known_ids(self) -> list[str]:
        """Ids the desk's poller treats as already seen: the page shown, and every urgent
        case (so one on a later page does not raise the new-urgent alert)."""
        shown = [r.incident.id for r in self.rows]
        on_page = set(shown)
        return shown + [c.id for c in self.cases if c.urgent and c.id not in on_page]

    def urgent_open_ids(self) -> list[str]:
        return [c.id for c in self.cases if c.urgent and c.state == "open"]


def _in_scope(query: Select[Any], scope: Scope, office_id: str | None) -> Select[Any]:
    query = query.join(Household, Incident.household_id == Household.id).where(
        scope.household_filter()
    )
    return query.where(Household.office_id == office_id) if office_id else query


def open_cases(ctx: Ctx, scope: Scope, office_id: str | None) -> list[OpenCase]:
    """Every open incident in scope as four columns, in desk order. The open ones are read
    through the partial index on unresolved incidents, never a scan of the history."""
    query = select(Incident.id, Incident.state, Incident.cause, Incident.opened_at).where(
        unresolved()
    )
    cases = [OpenCase(*row) for row in ctx.db.execute(_in_scope(query, scope, office_id))]
    cases.sort(key=lambda c: (desk_key(c.state, c.cause, c.opened_at), c.id))
    return cases


def load_desk(
    ctx: Ctx,
    scope: Scope,
    office_id: str | None,
    page_raw: str | None,
    showing: str | None = None,
) -> tuple[DeskList, list[IncidentRow]]:
    """The page of open incidents shown in full (cards with people, steps and notes), and
    the recently resolved ones: at a bad 09:00 an office has hundreds open, and rendering
    every card was most of the desk's time. Details are read for the shown incidents only,
    the page's and the resolved list's in the same few statements (IN lists of at most
    DESK_PAGE_SIZE + RECENT_RESOLVED ids). `showing`: the page that holds this incident (a
    form sent back with an error must show its card)."""
    cases = open_cases(ctx, scope, office_id)
    pages = max(1, -(-len(cases) // DESK_PAGE_SIZE))
    current = page_number(page_raw, pages)
    position = next((n for n, c in enumerate(cases) if c.id == showing), None)
    if position is not None:
        current = position // DESK_PAGE_SIZE + 1
    shown = [c.id for c in cases[(current - 1) * DESK_PAGE_SIZE : current * DESK_PAGE_SIZE]]
    resolved = recently_resolved_ids(ctx, scope, office_id)
    rows = {r.incident.id: r for r in _full_rows(ctx, shown + resolved)}
    return (
        DeskList(cases, [rows[i] for i in shown if i in rows], current, pages),
        [rows[i] for i in resolved if i in rows],
    )


def _full_rows(ctx: Ctx, incident_ids: list[str]) -> list[IncidentRow]:
    if not incident_ids:
        return []
    query = (
        select(Incident, Household, PostOffice.name)
        .join(Household, Incident.household_id == Household.id)
        .join(PostOffice, Household.office_id == PostOffice.id)
        .where(Incident.id.in_(incident_ids))
    )
    by_id = {i.id: IncidentRow(i, h, name) for i, h, name in ctx.db.execute(query).all()}
    rows = [by_id[i] for i in incident_ids if i in by_id]
    _attach_details(ctx, rows)
    return rows


def recently_resolved_ids(ctx: Ctx, scope: Scope, office_id: str | None) -> list[str]:
    """The last RECENT_RESOLVED incidents resolved within RECENT_RESOLVED_FOR, newest first:
    read backwards along the resolved-at index, so the history's size does not matter."""
    query = (
        select(Incident.id)
        .where(
            Incident.state == "resolved",
            Incident.resolved_at >= ctx.now - RECENT_RESOLVED_FOR,
        )
        .order_by(Incident.resolved_at.desc())
        .limit(RECENT_RESOLVED)
    )
    return list(ctx.db.scalars(_in_scope(query, scope, office_id)))


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
    # Sorted here, not by ORDER BY id: that offered PostgreSQL a walk of the whole primary
    # key in id order, filtering for the page's incidents, instead of probing them.
    notified = ctx.db.scalars(
        select(Notification).where(Notification.incident_id.in_(list(by_incident)))
    )
    for notification in sorted(notified, key=lambda n: n.id):
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


def desk_query(office_id: str | None, page: int) -> str:
    """The desk's office filter and page as a query string ("" for the first page of all):
    the poll URL and every card's form keep them, so staff stay where they were."""
    query = {"office": office_id, "page": page if page > 1 else None}
    wanted = urlencode({k: v for k, v in query.items() if v})
    return "?" + wanted if wanted else ""


def feed_url(office_id: str | None, page: int) -> str:
    """The desk's poll URL: the same office filter and page as the page it updates."""
    return "/desk/feed" + desk_query(office_id, page)


def _desk_vars(ctx: Ctx, showing: str | None = None, **extra: Any) -> dict[str, Any]:
    office_id = selected_office(ctx)
    page_raw = ctx.request.query_params.get("page")
    desk, resolved_rows = load_desk(ctx, ctx.scope, office_id, page_raw, showing)
    return {
        "safety_help": safety_needs_help(ctx, office_id),
        "desk": desk,
        "rows": desk.rows,
        "resolved_rows": resolved_rows,
        "feed_url": feed_url(office_id, desk.page),
        "desk_query": desk_query(office_id, desk.page),
        "offices": offices_in_scope(ctx),
        "office_id": office_id,
        "outcomes": OUTCOMES,
        "note_kinds": NOTE_FORM_KINDS,
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
    desk: DeskList = variables["desk"]
    body = {
        "html": html,
        "ids": desk.known_ids(),
        "urgent": desk.urgent_open_ids(),
        "count": len(desk.cases),
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
        ctx,
        showing=incident.id,
        errors={incident.id: {field_name: key}},
        values={incident.id: dict(ctx.form)},
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
