"""The case file of an incident: calls, visits and notes written by staff, the family's
「連絡がとれました」, and everything the escalation did, in one time line that stays with
the case after it is resolved; and the shift handover (open cases, what was done since).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from cloud.escalation.chain import family_ack_effect
from cloud.models import FamilyContact, Household, Incident, Notification, OutboxMail
from cloud.models.staff import IncidentNote
from cloud.services import text as text_rules
from cloud.services.contacts import FieldInvalid, checked_line, normalise_phone
from cloud.services.incidents import acknowledge

STAFF_ENTRY_KINDS = ("call", "visit", "other")
FAMILY_REACHED = "family_reached"
CALL_RESULTS = ("answered", "no_answer", "busy")
TEXT_MAX = 2000
CALLEE_MAX = 200


def family_label(name: str) -> str:
    """How a family member's action reads on the desk: never the raw family:<email>."""
    return f"ご家族（{name}）"


@dataclass(frozen=True)
class EntryInput:
    kind: str
    text: str = ""
    callee: str | None = None
    phone: str | None = None
    call_result: str | None = None


def checked_entry(entry: EntryInput) -> EntryInput:
    """Pure: the entry with clean values, or FieldInvalid naming the field."""
    if entry.kind not in STAFF_ENTRY_KINDS:
        raise FieldInvalid("kind", f"kind must be one of {STAFF_ENTRY_KINDS}", "invalid_note_kind")
    text = text_rules.normalise_newlines(entry.text)
    problem = text_rules.problem(text, "text", multiline=True)
    if problem:
        raise FieldInvalid("text", problem, "control_chars")
    checked_line(entry.callee, "callee")
    text = text.strip()
    if len(text) > TEXT_MAX:
        raise FieldInvalid("text", "text too long", "too_long")
    if entry.kind != "call" or not (entry.call_result or entry.callee):
        # A visit, a note, or a note about a call written in words.
        if not text:
            raise FieldInvalid("text", "a note needs text", "required")
        return EntryInput(entry.kind, text)
    if entry.call_result not in CALL_RESULTS:
        raise FieldInvalid("call_result", f"result must be one of {CALL_RESULTS}", "call_result")
    callee = (entry.callee or "").strip()
    if not callee:
        raise FieldInvalid("callee", "say whom you called", "required")
    if len(callee) > CALLEE_MAX:
        raise FieldInvalid("callee", "name too long", "too_long")
    phone = normalise_phone(entry.phone, "phone") if entry.phone and entry.phone.strip() else None
    return EntryInput("call", text, callee, phone, entry.call_result)


def add_entry(
    session: Session,
    incident: Incident,
    entry: EntryInput,
    *,
    author_id: str | None,
    author_name: str,
    now: datetime,
) -> IncidentNote:
    """A call, visit or note on the case; any state, also after it is resolved."""
    clean = checked_entry(entry)
    row = IncidentNote(
        incident_id=incident.id,
        kind=clean.kind,
        text=clean.text,
        callee=clean.callee,
        phone=clean.phone,
        call_result=clean.call_result,
        author_id=author_id,
        author_name=author_name,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def family_reached(
    session: Session, incident: Incident, contact: FamilyContact, now: datetime
) -> str:
    """A family member says they reached the resident (signed link in their mail).

    Always recorded on the case for staff. Whether it also acknowledges (stops the chain)
    is the chain's rule (cloud.escalation.chain.family_ack_effect): never for help, unwell
    or "needs help". Returns "acknowledged", "recorded", "already" or "closed".
    """
    if incident.state == "resolved":
        return "closed"
    label = family_label(contact.name)
    first = incident.family_reached_at is None
    if first:
        incident.family_reached_at = now
        incident.family_reached_by = contact.name
        session.add(
            IncidentNote(
                incident_id=incident.id,
                kind=FAMILY_REACHED,
                text="",
                callee=None,
                author_id=None,
                author_name=label,
                created_at=now,
            )
        )
    if family_ack_effect(incident.cause, incident.chain) == "acknowledge" and acknowledge(
        session, incident, f"family:{contact.email}", now, name=label
    ):
        return "acknowledged"
    session.flush()
    return "recorded" if first else "already"


def entries_of(session: Session, incident_ids: list[str]) -> dict[str, list[IncidentNote]]:
    found: dict[str, list[IncidentNote]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return found
    for note in session.scalars(
        select(IncidentNote)
        .where(IncidentNote.incident_id.in_(incident_ids))
        .order_by(IncidentNote.created_at)
    ):
        found[note.incident_id].append(note)
    return found


@dataclass
class CaseItem:
    """One line of the case file. kind: opened | step | mail | entry | acknowledged |
    resolved."""

    at: datetime
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)
    note: IncidentNote | None = None


def _mail_detail(mail: OutboxMail | None) -> dict[str, Any]:
    if mail is None:
        return {}
    return {
        "mail_status": mail.status,
        "mail_sent_at": mail.sent_at,
        "mail_attempts": mail.attempts,
        "mail_error": mail.last_error,
        "mail_subject": mail.subject,
        "mail_kind": mail.kind,
        "mail_to": mail.to_addr,
    }


def case_items(session: Session, incident: Incident) -> list[CaseItem]:
    """Everything that happened on the case, oldest first (pure reads, no writes)."""
    items = [CaseItem(incident.opened_at, "opened")]
    mails = {
        m.id: m
        for m in session.scalars(select(OutboxMail).where(OutboxMail.incident_id == incident.id))
    }
    linked: set[str] = set()
    for n in session.scalars(
        select(Notification)
        .where(Notification.incident_id == incident.id)
        .order_by(Notification.id)
    ):
        mail = mails.get(n.mail_id) if n.mail_id else None
        if n.mail_id:
            linked.add(n.mail_id)
        detail = {
            "step": n.step,
            "action": n.action,
            "recipient": n.recipient,
            "channel": n.channel,
            **_mail_detail(mail),
        }
        items.append(CaseItem(n.created_at, "step", detail))
    for mail in mails.values():  # follow-ups (answered late, gateway back) have no step
        if mail.id not in linked:
            items.append(CaseItem(mail.created_at, "mail", _mail_detail(mail)))
    for note in entries_of(session, [incident.id])[incident.id]:
        items.append(CaseItem(note.created_at, "entry", note=note))
    if incident.acknowledged_at is not None:
        who = incident.acknowledged_by_name or incident.acknowledged_by
        items.append(CaseItem(incident.acknowledged_at, "acknowledged", {"who": who}))
    if incident.resolved_at is not None:
        detail = {
            "who": incident.resolved_by_name,
            "outcome": incident.outcome,
            "note": incident.note,
        }
        items.append(CaseItem(incident.resolved_at, "resolved", detail))
    order = {"opened": 0, "step": 1, "mail": 1, "entry": 2, "acknowledged": 3, "resolved": 4}
    items.sort(key=lambda item: (item.at, order[item.kind]))
    return items


@dataclass
class HandoverLine:
    at: datetime
    what: str  # opened | entry | acknowledged | resolved
    incident: Incident
    household: Household
    note: IncidentNote | None = None


def handover(
    session: Session, in_scope: ColumnElement[bool], since: datetime
) -> tuple[list[tuple[Incident, Household]], list[HandoverLine]]:
    """Open cases in scope, and every opening, entry, acknowledgement and resolution since
    `since` (newest first): what the next shift needs to know."""
    open_cases = [
        (i, h)
        for i, h in session.execute(
            select(Incident, Household)
            .join(Household, Incident.household_id == Household.id)
            .where(Incident.state != "resolved", in_scope)
            .order_by(Incident.opened_at)
            .options(selectinload(Household.residents))
        ).tuples()
    ]
    touched = session.execute(
        select(Incident, Household)
        .join(Household, Incident.household_id == Household.id)
        .where(
            in_scope,
            or_(
                Incident.opened_at >= since,
                Incident.acknowledged_at >= since,
                Incident.resolved_at >= since,
                Incident.id.in_(
                    select(IncidentNote.incident_id).where(IncidentNote.created_at >= since)
                ),
            ),
        )
        .options(selectinload(Household.residents))
    ).tuples()
    lines: list[HandoverLine] = []
    cases = {i.id: (i, h) for i, h in touched}
    for incident, household in cases.values():
        for at, what in (
            (incident.opened_at, "opened"),
            (incident.acknowledged_at, "acknowledged"),
            (incident.resolved_at, "resolved"),
        ):
            if at is not None and at >= since:
                lines.append(HandoverLine(at, what, incident, household))
    for incident_id, notes in entries_of(session, list(cases)).items():
        incident, household = cases[incident_id]
        lines += [
            HandoverLine(n.created_at, "entry", incident, household, n)
            for n in notes
            if n.created_at >= since
        ]
    lines.sort(key=lambda line: line.at, reverse=True)
    return open_cases, lines
