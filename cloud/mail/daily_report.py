"""The optional daily report to family (「9時の見守り: 元気（9:00）」) after the last slot.

Hooked into deadline handling, so it costs nothing for households without such contacts and
never needs a scan of all households. DailyReportLog makes it once per contact, day and
channel: by e-mail, or on LINE for a contact who opted in (cloud/notify/outbox.channels_for).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from cloud.mail import compose
from cloud.mail.links import LinkSigner
from cloud.models import (
    Checkin,
    DailyReportLog,
    FamilyContact,
    Household,
    LineChannelConfig,
    OutboxMail,
)
from cloud.notify import linking, outbox
from cloud.notify.base import EMAIL, LINE

HEALTH_INTENTS = ("fine", "usual", "unwell")
KIND = "daily_report"
NO_ANSWER = "応答なし"
# Carried with an e-mail report that said 応答なし for some slot, never sent (the sender drops
# it): "<day> <slots unanswered>". Right before sending, the sender asks `reissue_if_answered`
# whether an answer came late meanwhile; then a corrected report goes instead.
UNANSWERED_FIELD = "X-Mimamori-Report-Unanswered"


def report_lines(household: Household, checkins: list[Checkin]) -> list[str]:
    """One line per slot; 「本日の体調」 only when the health answer is not already one of them
    (an answer outside any slot), so nothing is said twice."""
    by_slot = {c.slot: c for c in checkins}
    zone = household.timezone
    lines = []
    shown: set[str] = set()
    for slot in household.slots:
        label = compose.slot_time_label(slot.time)
        found = by_slot.get(slot.name)
        if found is not None and found.status == "answered":
            intent = compose.INTENT_LABELS.get(str(found.intent), "応答あり")
            at = compose.local_hm(found.occurred_at, zone)
            lines.append(f"{label}の見守り: {intent}（{at}）")
            shown.add(found.id)
        else:
            lines.append(f"{label}の見守り: {NO_ANSWER}")
    health = next(
        (c for c in sorted(checkins, key=lambda c: c.occurred_at) if c.intent in HEALTH_INTENTS),
        None,
    )
    if health is not None and health.id not in shown:
        label = compose.INTENT_LABELS[str(health.intent)]
        lines.insert(0, f"本日の体調: {label}（{compose.local_hm(health.occurred_at, zone)}）")
    return lines


def send_daily_reports(
    session: Session, signer: LinkSigner, household: Household, day: date, now: datetime
) -> int:
    """Queue the day's report for each contact who wants it, on the channels the notify layer
    picks (LINE for those who opted in, else e-mail); how many deliveries were queued.

    One per (contact, day, channel): the log row and the outbox row are made in the caller's
    transaction, so a worker that dies before committing queues nothing, and a second worker
    or a retried pass finds the log row and queues nothing again."""
    contacts = [c for c in household.contacts if c.daily_report and c.unsubscribed_at is None]
    if not contacts:
        return 0
    lines = report_lines(household, _checkins(session, household, day))
    config = outbox.line_config_for(session, household)
    sent = 0
    for contact in contacts:
        context = _context(signer, household, contact, day, lines)
        channels = outbox.channels_for(contact, config is not None, daily_report=True)
        for channel in channels:
            log_row = _log(session, contact.id, day, channel)
            if log_row is None:
                continue
            if channel == LINE and config is not None:
                # LINE instead of e-mail: the e-mail goes should LINE fail for good.
                fallback = EMAIL not in channels and contact.email is not None
                row = _line(session, contact, config, context, now, fallback)
            else:
                row = _mail(session, household, contact, context, now)
            log_row.mail_id = row.id
            sent += 1
    return sent


def _line(
    session: Session,
    contact: FamilyContact,
    config: LineChannelConfig,
    context: dict[str, Any],
    now: datetime,
    fallback: bool,
) -> OutboxMail:
    text = compose.render_line("daily_report", context)
    stored = None
    if fallback:  # the linked contact gets no LINE offer: the plain report
        mail = _rendered(context)
        stored = outbox.stored_mail(
            mail, to=str(contact.email), contact_id=contact.id, kind=KIND, step=None
        )
    return outbox.enqueue_line(
        session,
        contact=contact,
        config=config,
        messages=outbox.text_messages(text),
        kind=KIND,
        now=now,
        incident_id=None,
        step=None,
        fallback_mail=stored,
    )


def _mail(
    session: Session,
    household: Household,
    contact: FamilyContact,
    context: dict[str, Any],
    now: datetime,
) -> OutboxMail:
    offer = linking.mail_offer(session, household, contact, now, for_report=True)
    rendered = _rendered({**context, "line_offer": offer})
    unanswered = _unanswered(context["lines"])
    if unanswered:
        rendered.headers[UNANSWERED_FIELD] = f"{context['day'].isoformat()} {unanswered}"
    return compose.enqueue(
        session,
        to_addr=str(contact.email),
        rendered=rendered,
        kind=KIND,
        now=now,
        contact_id=contact.id,
    )


def _unanswered(lines: list[str]) -> int:
    return sum(line.endswith(NO_ANSWER) for line in lines)


def reissue_if_answered(
    session: Session, signer: LinkSigner, mail: OutboxMail, now: datetime
) -> OutboxMail | None:
    """A queued e-mail report that said 応答なし for a slot answered since (a late answer):
    the corrected report, queued in its place (the day's log row names it), or None when
    the report still holds. The caller cancels `mail` in the same transaction."""
    carried = str((mail.headers or {}).get(UNANSWERED_FIELD) or "")
    day_text, _, count_text = carried.partition(" ")
    contact = session.get(FamilyContact, mail.contact_id) if mail.contact_id else None
    if not day_text or not count_text.isdigit() or contact is None:
        return None
    household = session.get_one(Household, contact.household_id)
    day = date.fromisoformat(day_text)
    lines = report_lines(household, _checkins(session, household, day))
    if _unanswered(lines) >= int(count_text):
        return None
    fresh = _mail(
        session, household, contact, _context(signer, household, contact, day, lines), now
    )
    session.execute(
        update(DailyReportLog)
        .where(DailyReportLog.mail_id == mail.id)
        .values(mail_id=fresh.id)
        .execution_options(synchronize_session=False)
    )
    return fresh


def _checkins(session: Session, household: Household, day: date) -> list[Checkin]:
    return list(
        session.scalars(
            select(Checkin).where(Checkin.household_id == household.id, Checkin.slot_date == day)
        )
    )


def _rendered(context: dict[str, Any]) -> compose.Rendered:
    rendered = compose.render(KIND, context)
    url = context["unsubscribe_url"]
    rendered.headers["List-Unsubscribe"] = f"<{url}>"
    rendered.headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return rendered


def failed_on_line(session: Session) -> list[tuple[OutboxMail, DailyReportLog]]:
    """Reports on LINE that failed for good (blocked, unknown user) with no e-mail report for
    the same contact and day yet."""
    line_log, mail_log = aliased(DailyReportLog), aliased(DailyReportLog)
    has_mail = (
        select(mail_log.id)
        .where(
            mail_log.contact_id == line_log.contact_id,
            mail_log.day == line_log.day,
            mail_log.channel == EMAIL,
        )
        .exists()
    )
    rows = session.execute(
        select(OutboxMail, line_log)
        .join(line_log, line_log.mail_id == OutboxMail.id)
        .where(
            OutboxMail.channel == LINE,
            OutboxMail.status == "failed",
            OutboxMail.kind == KIND,
            line_log.channel == LINE,
            ~has_mail,
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


def mail_instead(
    session: Session, failed: OutboxMail, logged: DailyReportLog, now: datetime
) -> OutboxMail | None:
    """The e-mail report a failed LINE report carries, once per contact and day. A contact
    without e-mail gets the log row alone (nothing to send; the row ends the search)."""
    log_row = _log(session, logged.contact_id, logged.day, EMAIL)
    stored = (failed.headers or {}).get(outbox.FALLBACK_FIELD)
    if log_row is None or not isinstance(stored, dict):
        return None
    mail = outbox.enqueue_stored(
        session, stored, incident_id=None, now=now, kind=f"{KIND}{outbox.FALLBACK_SUFFIX}"
    )
    log_row.mail_id = mail.id
    return mail


def _log(session: Session, contact_id: str, day: date, channel: str) -> DailyReportLog | None:
    row = DailyReportLog(contact_id=contact_id, day=day, channel=channel)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _context(
    signer: LinkSigner, household: Household, contact: FamilyContact, day: date, lines: list[str]
) -> dict:
    return {
        "recipient_name": contact.name,
        "resident_name": compose.resident_name(household),
        "day": day,
        "day_label": f"{day.month}月{day.day}日",
        "lines": lines,
        "office_name": household.office.name,
        "office_phone": household.office.phone or "",
        "unsubscribe_url": signer.unsubscribe_url(contact.id),
    }
