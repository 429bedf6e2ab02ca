"""What one escalation step does, inside the runner's transaction: the re-prompt command, the
family's e-mail / LINE deliveries, staff and manager mail, one notification row each; and the
follow-ups (answered late, gateway back, e-mail after a failed LINE alert) that other layers
ask for through `Notifier` (services see it as `cloud.services.ports.FollowUps`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cloud.core import metrics
from cloud.core.config import Settings
from cloud.escalation.chain import Step, step_at
from cloud.mail import alert_text, compose
from cloud.mail.links import LinkSigner
from cloud.models import (
    Command,
    EventRecord,
    FamilyContact,
    Household,
    Incident,
    LineChannelConfig,
    Notification,
    OutboxMail,
    new_id,
)
from cloud.models.incidents import mail_priority
from cloud.notify import followups, linking, outbox
from cloud.notify.base import EMAIL, LINE
from mimamori_wire import v1

REPROMPT_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class Notifier:
    """What steps need besides the session (link signing and the dashboard's address), and
    the follow-ups other layers ask of escalation without importing it."""

    signer: LinkSigner

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(LinkSigner(settings.secret_key, settings.base_url, settings.ack_link_max_age_s))

    def answered_late(
        self,
        session: Session,
        household: Household,
        incident: Incident,
        answer: dict[str, Any],
        now: datetime,
    ) -> None:
        tell_answered_late(session, self, household, incident, answer, now)

    def gateway_back(
        self, session: Session, household: Household, incident: Incident, now: datetime
    ) -> None:
        tell_gateway_back(session, self, household, incident, now)

    def mail_fallback(
        self, session: Session, failed: OutboxMail, now: datetime
    ) -> OutboxMail | None:
        return mail_fallback(session, self, failed, now)


def _log_statement(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per dialect (building and
    hashing a new statement per row was most of a notification's CPU)."""
    stmt = _LOG_STATEMENTS.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = Notification.__table__
        stmt = (
            insert(table)
            .values({c: bindparam(f"n_{c}", type_=table.c[c].type) for c in _LOGGED})
            .on_conflict_do_nothing(index_elements=["incident_id", "step", "recipient"])
            .returning(table.c.id)
        )
        _LOG_STATEMENTS[dialect] = stmt
    return stmt


_LOGGED = ("incident_id", "step", "action", "recipient", "channel", "created_at", "mail_id")
_LOG_STATEMENTS: dict[str, Insert] = {}


def log_notification(
    session: Session,
    incident: Incident,
    step: Step,
    recipient: str,
    channel: str,
    now: datetime,
    mail_id: str | None = None,
) -> bool:
    """Insert the (incident, step, recipient) row, naming its delivery (`mail_id`, made by
    the caller right after); False when it was already there. One INSERT ... ON CONFLICT DO
    NOTHING on the unique key: no savepoint, no later UPDATE of mail_id."""
    values = (incident.id, step.index, step.action, recipient, channel, now, mail_id)
    params = {f"n_{c}": v for c, v in zip(_LOGGED, values, strict=True)}
    stmt = _log_statement(session.get_bind().dialect.name)
    return session.scalar(stmt, params) is not None


def run_step(
    session: Session,
    ctx: Notifier,
    incident: Incident,
    household: Household,
    step: Step,
    now: datetime,
) -> None:
    metrics.STEPS_RUN.labels(step.action).inc()
    if step.action == "reprompt":
        _reprompt(session, incident, household, step, now)
    elif step.action == "dashboard":
        log_notification(session, incident, step, f"office:{household.office_id}", "dashboard", now)
    elif step.action == "family":
        line_config = outbox.line_config_for(session, household)
        for contact in alert_contacts(household):
            channels = outbox.channels_for(contact, line_config is not None)
            if LINE in channels and line_config is not None:
                _line(session, ctx, incident, household, step, now, contact, line_config)
            if EMAIL in channels:
                _mail(session, ctx, incident, household, step, now, contact.email, contact)
    elif step.action in ("staff", "staff_reminder"):
        log_notification(session, incident, step, f"office:{household.office_id}", "dashboard", now)
        if household.office.email:
            _mail(session, ctx, incident, household, step, now, household.office.email, None)
    elif step.action == "manager":
        office = household.office
        for address in {office.manager_email, office.municipality.email} - {None}:
            _mail(session, ctx, incident, household, step, now, str(address), None)


def alert_priority(incident: Incident) -> int:
    """Where the incident's alerts queue: a call for help before a queue of missed
    check-ins (models.incidents.mail_priority)."""
    return mail_priority("alert.", incident.id, incident.cause)


def alert_contacts(household: Household) -> list[FamilyContact]:
    return [c for c in household.contacts if c.notify_alerts and c.unsubscribed_at is None]


def _reprompt(
    session: Session, incident: Incident, household: Household, step: Step, now: datetime
) -> None:
    if not log_notification(session, incident, step, "gateway", "gateway", now):
        return
    session.add(
        Command(
            household_id=household.id,
            kind=v1.CommandKind.REPROMPT.value,
            payload=v1.RepromptPayload(slot=incident.slot, incident_id=incident.id).model_dump(
                mode="json"
            ),
            issued_at=now,
            incident_id=incident.id,
            expires_at=now + REPROMPT_TTL,
        )
    )


def _mail(
    session: Session,
    ctx: Notifier,
    incident: Incident,
    household: Household,
    step: Step,
    now: datetime,
    address: str,
    contact: FamilyContact | None,
) -> OutboxMail | None:
    mail_id = new_id()
    if not log_notification(session, incident, step, address, "email", now, mail_id):
        return None
    context = alert_context(ctx, incident, household, step, contact, now, session)
    if contact is not None:  # a family member not yet on LINE: how to add it (one code per mail)
        context["line_offer"] = linking.mail_offer(session, household, contact, now)
    rendered = compose.render("alert", context)
    if contact is not None:
        _unsubscribe_headers(ctx, rendered, contact)
    # For tracing and for receivers that de-duplicate.
    rendered.headers["X-Mimamori-Incident"] = incident.id
    rendered.headers["X-Mimamori-Step"] = str(step.index)
    return compose.enqueue(
        session,
        to_addr=address,
        rendered=rendered,
        kind=f"alert.{step.action}",
        now=now,
        incident_id=incident.id,
        priority=alert_priority(incident),
        # A family delivery is one per (incident, step, contact, channel).
        contact_id=contact.id if contact is not None else None,
        step=step.index if contact is not None else None,
        mail_id=mail_id,
    )


def _line(
    session: Session,
    ctx: Notifier,
    incident: Incident,
    household: Household,
    step: Step,
    now: datetime,
    contact: FamilyContact,
    config: LineChannelConfig,
) -> None:
    row_id = new_id()
    recipient = f"line:{contact.line_user_id}"
    if not log_notification(session, incident, step, recipient, LINE, now, row_id):
        return
    context = alert_context(ctx, incident, household, step, contact, now, session)
    page = ctx.signer.ack_url(incident.id, contact.id)  # the family page of the case
    outbox.enqueue_line(
        session,
        contact=contact,
        config=config,
        messages=outbox.alert_messages(context, incident.id, page),
        kind=f"alert.{step.action}",
        now=now,
        incident_id=incident.id,
        step=step.index,
        row_id=row_id,
        priority=alert_priority(incident),
    )


def mail_fallback(
    session: Session, ctx: Notifier, failed: OutboxMail, now: datetime
) -> OutboxMail | None:
    """E-mail for the same (incident, step, contact) after its LINE delivery failed for good."""
    incident = session.get(Incident, failed.incident_id)
    contact = session.get(FamilyContact, failed.contact_id)
    if incident is None or contact is None or not contact.email or failed.step is None:
        return None
    household = session.get(Household, incident.household_id)
    step = step_at(incident.chain, incident.deadline_at or incident.opened_at, failed.step)
    if household is None or step is None:
        return None
    mail = _mail(session, ctx, incident, household, step, now, contact.email, contact)
    if mail is not None:
        mail.kind = f"alert.{step.action}.line_fallback"
    return mail


def _unsubscribe_headers(ctx: Notifier, rendered: compose.Rendered, contact: FamilyContact) -> None:
    url = ctx.signer.unsubscribe_url(contact.id)
    rendered.headers["List-Unsubscribe"] = f"<{url}>"
    rendered.headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


def alert_context(
    ctx: Notifier,
    incident: Incident,
    household: Household,
    step: Step,
    contact: FamilyContact | None,
    now: datetime,
    session: Session | None = None,
) -> dict[str, Any]:
    zone = household.timezone
    audience = "family" if contact is not None else "staff"
    slot_time = next((s.time for s in household.slots if s.name == incident.slot), None)
    headline = compose.CAUSE_HEADLINES[incident.cause].format(
        slot_day=compose.day_label(incident.slot_date, now, zone),
        slot_time=compose.slot_time_label(slot_time),
    )
    resident = compose.resident_name(household)
    chain = incident.chain or {}
    return {
        "audience": audience,
        "recipient_name": contact.name if contact else household.office.name,
        "resident_name": resident,
        "address": household.address or "",
        "resident_phones": list(household.phones or []) if audience == "staff" else [],
        "headline": headline,
        "cause": incident.cause,
        "cause_text": alert_text.cause_text(incident.cause, _trigger(session, incident)),
        "urgent": alert_text.is_urgent(incident.cause),
        "reminder": step.action == "staff_reminder",
        "opened_at": compose.local_datetime_label(incident.opened_at, zone),
        "slot_time": compose.slot_time_label(slot_time),
        "next_text": alert_text.next_step_text(
            cause=incident.cause,
            chain=chain,
            base=incident.deadline_at or incident.opened_at,
            index=step.index,
            audience=audience,
            office=household.office.name,
            zone=zone,
            now=now,
        ),
        "ack_lines": alert_text.family_ack_text(incident.cause, chain, resident),
        "office_name": household.office.name,
        "office_phone": household.office.phone or "",
        "ack_url": ctx.signer.ack_url(incident.id, contact.id) if contact else "",
        "unsubscribe_url": ctx.signer.unsubscribe_url(contact.id) if contact else "",
        "dashboard_url": f"{ctx.signer.base_url}/incidents/{incident.id}",
        "case_number": alert_text.case_number(incident.id),
    }


def _trigger(session: Session | None, incident: Incident) -> str | None:
    """'button' or 'voice' for a help request (from its gateway event), else None."""
    if session is None or incident.source_event_id is None:
        return None
    event = session.get(EventRecord, incident.source_event_id)
    source = (event.payload or {}).get("source") if event is not None else None
    return str(source) if source else None


def tell_answered_late(
    session: Session,
    ctx: Notifier,
    household: Household,
    incident: Incident,
    answer: dict[str, Any],
    now: datetime,
) -> None:
    """Everyone who got an alert for this incident hears that the resident answered.

    `answer` is the check-in row: occurred_at and intent.
    """
    extra = {
        "answered_at": compose.local_hm(answer["occurred_at"], household.timezone),
        "intent_label": compose.INTENT_LABELS.get(str(answer.get("intent")), ""),
    }
    tell_notified(session, ctx, household, incident, "answered_late", extra, now)


def tell_gateway_back(
    session: Session, ctx: Notifier, household: Household, incident: Incident, now: datetime
) -> None:
    """Everyone alarmed about a silent gateway hears that it is connected again."""
    extra = {"back_at": compose.local_hm(now, household.timezone)}
    tell_notified(session, ctx, household, incident, "gateway_back", extra, now)


def tell_notified(
    session: Session,
    ctx: Notifier,
    household: Household,
    incident: Incident,
    template: str,
    extra: dict[str, Any],
    now: datetime,
) -> None:
    """One follow-up (template) to each person alerted about the incident, on the channels
    the notify layer picks per contact (LINE or e-mail, e-mail fallback; staff by e-mail)."""
    followups.tell_alerted(session, ctx.signer, household, incident, template, extra, now)
