"""The case page of one incident, shared by the desk's forms (which return to it) and the
case routes: loading an incident in the user's scope, rendering the case file, redirects."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from cloud.escalation.chain import family_ack_effect
from cloud.escalation.state import OUTCOMES
from cloud.models import FamilyContact, Household, Incident, OutboxMail, PostOffice
from cloud.notify.base import LINE
from cloud.notify.outbox import case_deliveries
from cloud.schedule import local_date_of
from cloud.services import caselog
from cloud.web import people
from cloud.web.deliveries import (
    cancel_reason,
    chain_steps,
    contacts_by_id,
    delivery_rows,
    mail_state,
    staff_addresses,
)
from cloud.web.deps import Ctx, not_found
from cloud.web.render import page
from cloud.web.scoping import selected_office

# The note form's kinds: a call goes through the call form, which records whom, which number
# and the result (a "call" note would have none of them).
NOTE_FORM_KINDS = tuple(k for k in caselog.STAFF_ENTRY_KINDS if k != "call")
# What a saved form reports in the banner (?done=...).
DONE_MESSAGES = {
    "ack": "saved_ack",
    "note": "saved_note",
    "call": "saved_call",
    "resolved": "saved_resolved",
}


def incident_in_scope(ctx: Ctx, incident_id: str) -> tuple[Incident, Household]:
    """Another office's incident is 'not found', never 'forbidden': ids reveal nothing."""
    row = ctx.db.execute(
        select(Incident, Household)
        .join(Household, Incident.household_id == Household.id)
        .where(Incident.id == incident_id, ctx.scope.household_filter())
    ).first()
    if row is None:
        raise not_found()
    return row[0], row[1]


def contacts_of(ctx: Ctx, household_ids: list[str]) -> dict[str, list[FamilyContact]]:
    found: dict[str, list[FamilyContact]] = {h: [] for h in household_ids}
    if not household_ids:
        return found
    for contact in ctx.db.scalars(
        select(FamilyContact)
        .where(FamilyContact.household_id.in_(household_ids))
        .order_by(FamilyContact.priority, FamilyContact.name)
    ):
        found[contact.household_id].append(contact)
    return found


def recipient_names(ctx: Ctx, incident: Incident, contacts: list[FamilyContact]) -> dict[str, str]:
    """Notification recipients as staff know them: an e-mail address or `line:<user id>`
    (also of a member who has since blocked the account) -> the contact's name."""
    names = {c.email: c.name for c in contacts if c.email}
    by_id = contacts_by_id(contacts)
    for to_addr, contact_id in ctx.db.execute(
        select(OutboxMail.to_addr, OutboxMail.contact_id).where(
            OutboxMail.incident_id == incident.id, OutboxMail.channel == LINE
        )
    ).tuples():
        if contact_id in by_id:
            names[f"line:{to_addr}"] = by_id[contact_id].name
    return names


def done_message(ctx: Ctx) -> str | None:
    return DONE_MESSAGES.get(ctx.request.query_params.get("done", ""))


def render_case(
    ctx: Ctx,
    incident: Incident,
    household: Household,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    contacts = contacts_of(ctx, [household.id])[household.id]
    office = ctx.db.get_one(PostOffice, household.office_id)
    addresses = staff_addresses(office, ctx.t)
    return page(
        ctx,
        "case.html",
        status=status,
        incident=incident,
        household=household,
        office=office,
        contacts=contacts,
        key_holders=people.key_holders(contacts),
        contact_names=recipient_names(ctx, incident, contacts) | addresses,
        deliveries=delivery_rows(
            incident.id,
            case_deliveries(ctx.db, incident.id, with_cancelled=True),
            contacts_by_id(contacts),
            chain_steps(ctx.db, [incident.id]),
            addresses,
        ),
        items=caselog.case_items(ctx.db, incident),
        cancel_reason=cancel_reason,
        mail_state=mail_state,
        targets=people.call_targets(household, contacts, ctx.t),
        call_results=caselog.CALL_RESULTS,
        note_kinds=NOTE_FORM_KINDS,
        outcomes=OUTCOMES,
        staff_must_confirm=family_ack_effect(incident.cause, incident.chain) == "record",
        today=local_date_of(ctx.now, household.timezone),  # ages: the resident's day
        errors=errors or {},
        values=values or {},
        message=done_message(ctx),
    )


def back_after(ctx: Ctx, incident: Incident, done: str) -> RedirectResponse:
    """After a desk or case-page form: back where the form was, with the right banner."""
    if ctx.form.get("back") == "case":
        return RedirectResponse(f"/incidents/{incident.id}?done={done}", status_code=303)
    office = selected_office(ctx)
    query: dict[str, Any] = {**({"office": office} if office else {})}
    page = ctx.request.query_params.get("page", "")
    if page.isdigit() and int(page) > 1:  # the desk page the form was on (a card's action)
        query["page"] = int(page)
    if done != "ack":
        query.update(saved=incident.id, done=done)
    suffix = "?" + urlencode(query) if query else ""
    return RedirectResponse("/" + suffix, status_code=303)
