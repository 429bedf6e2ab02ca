"""Which channel reached whom and when, as staff read it: the delivery rows of the case page
and the household page (from cloud.notify.outbox.case_deliveries), and the failed deliveries
of the user's scope per channel. Pure mapping first, the one query last."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from cloud.models import (
    FamilyContact,
    Household,
    Incident,
    Notification,
    OutboxMail,
    PostOffice,
)
from cloud.notify.base import CANCELLED, CHANNELS, EMAIL, LINE

# DeliveryResult.reason codes (cloud/notify/base.py) staff get explained in Japanese
# (i18n key reason_<code>); anything else is reason_other.
FAILURE_REASONS = frozenset(
    {
        "line_blocked",
        "line_auth",
        "line_4xx",
        "line_rate",
        "line_connect",
        "line",
        "address",
        "smtp_5xx",
        "smtp_unsupported",
        "smtp",
        "connect",
        "build",
        "max_attempts",
    }
)
# The follow-ups whose arrival cancels a still-queued alert (cloud/notify/followups.py).
CANCEL_REASONS = frozenset({"answered_late", "gateway_back"})
FAILED_DAYS = 30
FAILED_LIMIT = 200


def failure_reason(last_error: str | None) -> str:
    """The reason code of an outbox row's last_error ("<reason>: <detail>", or
    "max_attempts (n): ..." when retries ran out)."""
    if not last_error:
        return "other"
    if last_error.startswith("max_attempts"):
        return "max_attempts"
    code = last_error.split(":", 1)[0].strip()
    return code if code in FAILURE_REASONS else "other"


@dataclass(frozen=True)
class DeliveryRow:
    at: datetime  # sent, else queued
    incident_id: str | None
    step: int | None  # 1-based, as staff count; None for a follow-up
    channel: str  # email | line
    name: str  # the contact, else the address the row went to
    relationship: str | None
    # sent | pending | retrying | failed | switched (LINE failed, e-mail sent) | cancelled
    # (still queued when the answer came or the gateway came back: never sent)
    status: str
    reason: str | None  # failure_reason() of a failed row, cancel_reason() of a cancelled one
    fallback: bool  # an e-mail sent because LINE did not reach the contact
    phones: tuple[str, ...] = ()  # the contact's numbers: a failed notice means a call


def staff_step(step: int | None) -> int | None:
    """Chain step as staff count it (1, 2, ...); None for follow-ups (no step, or the
    closing step -1)."""
    return step + 1 if step is not None and step >= 0 else None


def cancel_reason(cancelled_by: str | None) -> str:
    """Why a queued alert was never sent, as a reason code: the follow-up that closed the
    case (the resident answered late, the gateway came back). Takes the follow-up's name or
    the outbox row's last_error ("cancelled: <follow-up>")."""
    code = (cancelled_by or "").removeprefix("cancelled: ")
    return f"cancelled_{code}" if code in CANCEL_REASONS else "cancelled_other"


def mail_state(status: str, attempts: int | None) -> str:
    """An outbox row's state as staff read it (label dlv_<state>), the same in the delivery
    table and the case history: a queued row already tried once is waiting to retry."""
    if status == CANCELLED:
        return "cancelled"
    if status == "failed":
        return "failed"
    if status == "pending":
        return "retrying" if attempts else "pending"
    return "sent"


def _status(delivery: dict[str, Any], switched: bool) -> str:
    state = mail_state(delivery["status"], delivery.get("attempts"))
    return "switched" if state == "failed" and switched else state


def chain_steps(session: Session, incident_ids: list[str]) -> dict[str, int]:
    """Outbox id -> the chain step that sent it, from the notification log: a staff alert
    mail has no step of its own (the outbox keys steps per family member)."""
    if not incident_ids:
        return {}
    rows = session.execute(
        select(Notification.mail_id, Notification.step).where(
            Notification.incident_id.in_(incident_ids), Notification.mail_id.is_not(None)
        )
    ).tuples()
    return {mail_id: step for mail_id, step in rows if mail_id is not None}


def staff_addresses(office: PostOffice, t: Any) -> dict[str, str]:
    """The addresses staff alerts go to (the office's own, its manager's, the municipality's:
    cloud/escalation/steps.py) -> the name staff know them by, not the bare address."""
    named = {
        office.municipality.email: office.municipality.name,
        office.manager_email: f"{office.name}（{t('role_office_manager')}）",
        office.email: office.name,
    }
    return {address: name for address, name in named.items() if address}


def delivery_rows(
    incident_id: str,
    deliveries: Iterable[dict[str, Any]],
    contacts: dict[str, FamilyContact],
    steps: dict[str, int] | None = None,
    addresses: dict[str, str] | None = None,
) -> list[DeliveryRow]:
    """One row per delivery of case_deliveries(), in its order (oldest first); `steps`
    (chain_steps) gives a staff alert its step, `addresses` (staff_addresses) its name."""
    listed = list(deliveries)
    steps = steps or {}
    addresses = addresses or {}
    fallbacks = {(d["step"], d["contact_id"]) for d in listed if d["fallback"]}
    rows = []
    for d in listed:
        contact = contacts.get(d["contact_id"] or "")
        switched = d["channel"] == LINE and (d["step"], d["contact_id"]) in fallbacks
        rows.append(
            DeliveryRow(
                at=d["sent_at"] or d["created_at"],
                incident_id=incident_id,
                step=staff_step(d["step"] if d["step"] is not None else steps.get(d.get("id", ""))),
                channel=d["channel"],
                name=contact.name if contact else addresses.get(d["to"], str(d["to"])),
                relationship=contact.relationship_label if contact else None,
                status=_status(d, switched),
                reason=_reason(d),
                fallback=bool(d["fallback"]),
                phones=tuple(contact.phones or ()) if contact else (),
            )
        )
    return rows


def _reason(delivery: dict[str, Any]) -> str | None:
    if delivery["status"] == "failed":
        return failure_reason(delivery["error"])
    if delivery["status"] == CANCELLED:
        return cancel_reason(delivery.get("cancelled_by"))
    return None


def contacts_by_id(contacts: Iterable[FamilyContact]) -> dict[str, FamilyContact]:
    return {c.id: c for c in contacts}


def latest_rows(rows: list[DeliveryRow], limit: int) -> list[DeliveryRow]:
    """The household page: newest first, a few."""
    return sorted(rows, key=lambda r: r.at, reverse=True)[:limit]


@dataclass(frozen=True)
class FailedDelivery:
    row: DeliveryRow
    household: Household
    cause: str
    resolved: bool


def _failed_in_scope(in_scope: ColumnElement[bool], now: datetime) -> list[ColumnElement[bool]]:
    return [
        OutboxMail.status == "failed",
        OutboxMail.created_at >= now - timedelta(days=FAILED_DAYS),
        in_scope,
    ]


def failed_deliveries(
    session: Session,
    in_scope: ColumnElement[bool],
    now: datetime,
    channel: str | None = None,
) -> list[FailedDelivery]:
    """Deliveries of cases that failed for good in the last FAILED_DAYS days, newest first,
    in the user's scope (a household filter), optionally of one channel."""
    query = (
        select(OutboxMail, Incident, Household)
        .join(Incident, Incident.id == OutboxMail.incident_id)
        .join(Household, Household.id == Incident.household_id)
        .where(*_failed_in_scope(in_scope, now))
        .order_by(OutboxMail.created_at.desc())
        .limit(FAILED_LIMIT)
        # The list names each household's residents: one query, not one per row.
        .options(selectinload(Household.residents))
    )
    if channel in CHANNELS:
        query = query.where(OutboxMail.channel == channel)
    found = session.execute(query).tuples().all()
    contacts = _contacts(session, {m.contact_id for m, _, _ in found if m.contact_id})
    switched = _switched(session, {i.id for _, i, _ in found})
    result = []
    for mail, incident, household in found:
        contact = contacts.get(mail.contact_id or "")
        replaced = (incident.id, mail.step, mail.contact_id) in switched
        row = DeliveryRow(
            at=mail.created_at,
            incident_id=incident.id,
            step=staff_step(mail.step),
            channel=mail.channel,
            name=contact.name if contact else mail.to_addr,
            relationship=contact.relationship_label if contact else None,
            status="switched" if replaced and mail.channel == LINE else "failed",
            reason=failure_reason(mail.last_error),
            fallback=mail.kind.endswith(".line_fallback"),
            phones=tuple(contact.phones or ()) if contact else (),
        )
        result.append(FailedDelivery(row, household, incident.cause, incident.state == "resolved"))
    return result


def failed_counts(session: Session, in_scope: ColumnElement[bool], now: datetime) -> dict[str, int]:
    """How many failed per channel in the same window and scope (the filter's counts)."""
    counts = dict.fromkeys(CHANNELS, 0)
    rows = session.execute(
        select(OutboxMail.channel, func.count(OutboxMail.id))
        .join(Incident, Incident.id == OutboxMail.incident_id)
        .join(Household, Household.id == Incident.household_id)
        .where(*_failed_in_scope(in_scope, now))
        .group_by(OutboxMail.channel)
    ).tuples()
    for channel, count in rows:
        counts[channel] = int(count)
    return counts


def _contacts(session: Session, ids: set[str]) -> dict[str, FamilyContact]:
    if not ids:
        return {}
    return {
        c.id: c for c in session.scalars(select(FamilyContact).where(FamilyContact.id.in_(ids)))
    }


def _switched(session: Session, incident_ids: set[str]) -> set[tuple[str, int | None, str | None]]:
    """(incident, step, contact) of LINE deliveries an e-mail replaced."""
    if not incident_ids:
        return set()
    rows = session.execute(
        select(OutboxMail.incident_id, OutboxMail.step, OutboxMail.contact_id).where(
            OutboxMail.incident_id.in_(incident_ids),
            OutboxMail.channel == EMAIL,
            OutboxMail.kind.like("%.line_fallback"),
        )
    ).tuples()
    return {(str(i), s, c) for i, s, c in rows}
