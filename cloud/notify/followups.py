"""Follow-ups after an alert (「ご本人から応答がありました」, 「再接続しました」) to everyone who
got an alert for the incident: family members on the channels `outbox.channels_for` picks for
them now (LINE-linked ones on LINE, with the same e-mail fallback as alerts), staff by e-mail.

Alerts of the incident not yet handed to their server are cancelled first (status
`cancelled`), queued or leased by a sender (its per-send compare-and-set then refuses them,
cloud/mail/sender.py): a family must not hear "no answer" about a resident who has answered,
nor "offline" about a gateway that is back. Only what was sent or may be on its way (handed
over) counts as alerted and gets the follow-up; a delivery cancelled needs no correction.

A follow-up is the message that closes the case: the incident is resolved in the same
transaction, so it has at most one. A family follow-up's `step` is CLOSING_STEP (below every
chain step), so the outbox's unique key (incident, step, contact, channel) keeps it from being
queued twice. A LINE follow-up carries its e-mail
(FALLBACK_FIELD), queued by the fallback pass if the push fails for good.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.core.logging import log_event
from cloud.mail import compose
from cloud.mail.links import LinkSigner
from cloud.models import (
    FamilyContact,
    Household,
    Incident,
    LineChannelConfig,
    Notification,
    OutboxMail,
)
from cloud.notify import outbox
from cloud.notify.base import CANCELLED, EMAIL, LINE

CLOSING_STEP = -1

log = logging.getLogger("mimamori.notify")


@dataclass(frozen=True)
class Alerted:
    contacts: list[FamilyContact]  # family members told by any channel, in the order told
    staff: list[str]  # other addresses mailed (office, manager, municipality)


def cancel_unsent_alerts(session: Session, incident: Incident, reason: str) -> list[str]:
    """Cancel the incident's alert deliveries not yet handed over; their ids.

    Compare-and-set on (pending, handed_at unset), leased or not: a delivery a sender has
    handed over may be on its way to the server, so it stays and its recipient hears the
    follow-up. A sender's hand-over and this UPDATE lock the row (PostgreSQL; SQLite
    serialises writers): whichever comes first wins, the other sees the row changed."""
    cancelled = list(
        session.scalars(
            update(OutboxMail)
            .where(
                OutboxMail.incident_id == incident.id,
                OutboxMail.status == "pending",
                OutboxMail.handed_at.is_(None),
                OutboxMail.kind.startswith("alert."),
            )
            .values(status=CANCELLED, last_error=f"cancelled: {reason}"[:2000])
            .returning(OutboxMail.id)
            .execution_options(synchronize_session="fetch")
        )
    )
    if cancelled:
        log_event(
            log,
            "mail.cancelled",
            incident_id=incident.id,
            household_id=incident.household_id,
            reason=reason,
            count=len(cancelled),
        )
    return cancelled


def alerted(session: Session, incident: Incident, household: Household) -> Alerted:
    """Who got an alert for `incident` (sent, failed or on its way; not cancelled in the
    queue), from its notification log (e-mail and LINE)."""
    notes = session.scalars(
        select(Notification)
        .where(Notification.incident_id == incident.id, Notification.channel.in_((EMAIL, LINE)))
        .order_by(Notification.id)
    ).all()
    mail_ids = [n.mail_id for n in notes if n.mail_id]
    rows = {
        m.id: m
        for m in session.scalars(
            select(OutboxMail)
            .where(OutboxMail.id.in_(mail_ids))
            .execution_options(populate_existing=True)
        )
    }
    notes = [
        n for n in notes if rows.get(n.mail_id or "") is None or rows[n.mail_id].status != CANCELLED
    ]
    by_id = {c.id: c for c in household.contacts}
    by_email = {c.email: c for c in household.contacts if c.email}
    contacts: dict[str, FamilyContact] = {}
    staff: list[str] = []
    for note in notes:
        row = rows.get(note.mail_id or "")
        # The delivery names its contact; older mail only its address.
        found = by_id.get(row.contact_id) if row is not None and row.contact_id else None
        contact = found or by_email.get(note.recipient)
        if contact is not None:
            contacts.setdefault(contact.id, contact)
        elif note.channel == EMAIL and note.recipient not in staff:
            staff.append(note.recipient)
    return Alerted(list(contacts.values()), staff)


def tell_alerted(
    session: Session,
    signer: LinkSigner,
    household: Household,
    incident: Incident,
    template: str,
    extra: dict[str, Any],
    now: datetime,
) -> int:
    """Cancel the incident's alerts still queued, then one follow-up (template) to each
    person alerted about `incident`; how many deliveries were queued."""
    cancel_unsent_alerts(session, incident, template)
    slot_time = next((s.time for s in household.slots if s.name == incident.slot), None)
    base = {
        "resident_name": compose.resident_name(household),
        "slot_time": compose.slot_time_label(slot_time),
        "office_name": household.office.name,
        "office_phone": household.office.phone or "",
        **extra,
    }
    found = alerted(session, incident, household)
    queued = 0
    for address in found.staff:
        staff = {**base, "audience": "staff", "recipient_name": household.office.name}
        rendered = compose.render(template, {**staff, "unsubscribe_url": ""})
        compose.enqueue(
            session,
            to_addr=address,
            rendered=rendered,
            kind=template,
            now=now,
            incident_id=incident.id,
        )
        queued += 1
    config = outbox.line_config_for(session, household)
    for contact in found.contacts:
        context = {
            **base,
            "audience": "family",
            "recipient_name": contact.name,
            "unsubscribe_url": signer.unsubscribe_url(contact.id),
        }
        queued += _tell_contact(session, incident, contact, config, template, context, now)
    return queued


def _tell_contact(
    session: Session,
    incident: Incident,
    contact: FamilyContact,
    config: LineChannelConfig | None,
    template: str,
    context: dict[str, Any],
    now: datetime,
) -> int:
    step = CLOSING_STEP
    channels = outbox.channels_for(contact, config is not None)
    mail = _family_mail(template, context, contact) if contact.email else None
    queued = 0
    if LINE in channels and config is not None:
        text = compose.render_line(template, context)
        fallback = mail if mail is not None and EMAIL not in channels else None

        def line() -> OutboxMail:
            return outbox.enqueue_line(
                session,
                contact=contact,
                config=config,
                messages=outbox.text_messages(text),
                kind=template,
                now=now,
                incident_id=incident.id,
                step=step,
                fallback_mail=fallback,
            )

        queued += _once(session, line) is not None
    if EMAIL in channels and mail is not None:
        queued += _once(session, lambda: _enqueue_mail(session, mail, incident, now)) is not None
    return queued


def _family_mail(template: str, context: dict[str, Any], contact: FamilyContact) -> dict[str, Any]:
    """The follow-up e-mail as stored data (also kept in a LINE row as its fallback)."""
    rendered = compose.render(template, context)
    url = context["unsubscribe_url"]
    rendered.headers["List-Unsubscribe"] = f"<{url}>"
    rendered.headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return outbox.stored_mail(
        rendered, to=str(contact.email), contact_id=contact.id, kind=template, step=CLOSING_STEP
    )


def _enqueue_mail(
    session: Session, mail: dict[str, Any], incident: Incident, now: datetime, kind: str = ""
) -> OutboxMail:
    return outbox.enqueue_stored(
        session, mail, incident_id=incident.id, now=now, kind=kind or str(mail["kind"])
    )


def _once(session: Session, make: Callable[[], OutboxMail]) -> OutboxMail | None:
    """The delivery, or None when this (incident, step, contact, channel) already has one."""
    try:
        with session.begin_nested():
            return make()
    except IntegrityError:
        return None


def has_stored_fallback(failed: OutboxMail) -> bool:
    return outbox.FALLBACK_FIELD in (failed.headers or {})


def stored_fallback(session: Session, failed: OutboxMail, now: datetime) -> OutboxMail | None:
    """The e-mail a failed LINE follow-up carries, queued once for the same step."""
    mail = (failed.headers or {}).get(outbox.FALLBACK_FIELD)
    incident = session.get(Incident, failed.incident_id) if failed.incident_id else None
    if not isinstance(mail, dict) or incident is None:
        return None
    kind = f"{mail['kind']}{outbox.FALLBACK_SUFFIX}"
    return _once(session, lambda: _enqueue_mail(session, mail, incident, now, kind))
