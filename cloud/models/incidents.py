"""Incidents, the notifications sent for them, and the mail outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, created_at_column, id_column

OPEN_STATES = ("open", "acknowledged")
# The predicate of the partial indexes on open incidents. A query that wants them repeats it
# as SQL text (`unresolved()`), not as a bound parameter: PostgreSQL must prove the index's
# predicate from the query's, which it cannot do for a parameter in a prepared generic plan.
UNRESOLVED_SQL = "state != 'resolved'"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per household and cause, enforced by the database itself.
        Index(
            "uq_incidents_open_household_cause",
            "household_id",
            "cause",
            unique=True,
            sqlite_where=text(UNRESOLVED_SQL),
            postgresql_where=text(UNRESOLVED_SQL),
        ),
        Index("ix_incidents_household_state", "household_id", "state"),
        # The desk's recently resolved, newest first, without sorting the whole history.
        Index("ix_incidents_resolved_at", "resolved_at"),
    )

    id: Mapped[str] = id_column()
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    # missed_checkin | gateway_offline | help_requested | unwell | callback | safety_needs_help
    cause: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="open")
    slot: Mapped[str | None] = mapped_column(String(32))
    slot_date: Mapped[date | None] = mapped_column(Date)
    deadline_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    source_event_id: Mapped[str | None] = mapped_column(String(36))
    # The chain as it was when the incident opened: later edits do not change running ones.
    chain: Mapped[dict[str, Any]] = mapped_column()
    next_step: Mapped[int] = mapped_column(Integer, default=0)
    next_step_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    # Who, for people: the staff member's name, or 「ご家族（name）」 (cloud.services.caselog).
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    # A family member reported reaching the resident; for urgent causes the chain goes on.
    family_reached_at: Mapped[datetime | None]
    family_reached_by: Mapped[str | None] = mapped_column(String(200))
    resolved_by_name: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


def unresolved() -> ColumnElement[bool]:
    """WHERE the incident is open (open or acknowledged), in the partial indexes' words."""
    return Incident.state != literal_column("'resolved'")


class Notification(Base):
    """The log that makes each (incident, step, recipient) happen at most once."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("incident_id", "step", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    step: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16))  # email | gateway | dashboard
    created_at: Mapped[datetime]
    mail_id: Mapped[str | None] = mapped_column(String(36))


# mail_outbox.priority: what a sender claims first when many mails are due at once (09:10),
# smallest first. 0-2 since migration 0010; the levels of urgent causes are below them, so
# rows queued before need no migration.
HELP_PRIORITY, UNWELL_PRIORITY = -2, -1
ALERT_PRIORITY, INCIDENT_PRIORITY, BULK_PRIORITY = 0, 1, 2
_ALERT_PRIORITY_OF_CAUSE = {
    "help_requested": HELP_PRIORITY,
    "safety_needs_help": HELP_PRIORITY,  # "needs help" in a disaster check is a call for help
    "unwell": UNWELL_PRIORITY,
}


def mail_priority(kind: str | None, incident_id: str | None, cause: str | None = None) -> int:
    """The one rule of mail order: alerts of a call for help, then of an unwell resident, then
    the other alerts (missed check-in, gateway offline, call-back), then other mail of an
    incident (follow-ups: answered late, gateway back), then the rest (daily reports).
    `cause`: the incident's, for alerts (a row without it ranks as a missed check-in's)."""
    if (kind or "").startswith("alert."):
        return _ALERT_PRIORITY_OF_CAUSE.get(cause or "", ALERT_PRIORITY)
    return INCIDENT_PRIORITY if incident_id else BULK_PRIORITY


def _priority_at_insert(context: Any) -> int:
    row = context.get_current_parameters()
    return mail_priority(row.get("kind"), row.get("incident_id"))


class OutboxMail(Base):
    """Mail waiting to be sent; a sender claims due rows, retries with backoff."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        # The senders' claim order (cloud/mail/sender.py): alarms first, then oldest due.
        Index("ix_mail_outbox_claim", "status", "priority", "next_attempt_at"),
        # Retention finds finished (sent/failed) mail by age without scanning the outbox.
        Index("ix_mail_outbox_status_created", "status", "created_at"),
        # At-least-once never doubles an alert: one delivery per (incident, step, contact,
        # channel) (cloud/notify/outbox.py). Follow-ups and staff mail have no contact/step.
        UniqueConstraint(
            "incident_id", "step", "contact_id", "channel", name="uq_mail_outbox_delivery"
        ),
        Index("ix_mail_outbox_channel_status", "channel", "status"),
    )

    id: Mapped[str] = id_column()
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(400))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kind: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # pending|sent|failed|cancelled (an alert still queued when a late answer came)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    # The worker holding the short send lease (cloud/mail/sender.py); None when nobody does.
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    # When a sender last began handing the row to its server (the per-send compare-and-set,
    # cloud/mail/sender.py); cleared when that attempt failed. Set: it may have arrived, so a
    # late answer keeps it and follows it up; unset: a late answer cancels it, leased or not.
    handed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None]
    # The notify layer (cloud/notify): which channel sends the row (email | line), and for
    # alerts the contact and chain step it belongs to.
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
    contact_id: Mapped[str | None] = mapped_column(String(36))
    step: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(
        SmallInteger, default=_priority_at_insert, server_default=str(BULK_PRIORITY)
    )


class DailyReportLog(Base):
    """One daily report per contact, local date and channel (email | line)."""

    __tablename__ = "daily_reports"
    __table_args__ = (
        UniqueConstraint("contact_id", "day", "channel", name="uq_daily_reports_delivery"),
        Index("ix_daily_reports_mail_id", "mail_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("family_contacts.id"))
    day: Mapped[date] = mapped_column(Date)
    mail_id: Mapped[str | None] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
