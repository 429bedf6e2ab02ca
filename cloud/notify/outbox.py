"""Deliveries per contact and channel: which channels an alert uses, the LINE push it
becomes, and the e-mail fallback when LINE fails for good within the same step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import transaction
from cloud.mail import compose
from cloud.models import FamilyContact, Household, LineChannelConfig, OutboxMail, new_id
from cloud.notify.base import CANCELLED, EMAIL, LINE
from cloud.notify.line import CHANNEL_FIELD, MESSAGES_FIELD

PREFS = ("line_first", "both", "email")
TEXT_MAX = 5000  # LINE's limit for one text message
ACK_DATA = "ack:{incident}"
CALLBACK_DATA = "callback:{incident}"
FALLBACK_FIELD = "mail_fallback"  # in a LINE row's headers: the e-mail if LINE fails for good
FALLBACK_SUFFIX = ".line_fallback"  # the kind of an e-mail sent because LINE failed


def line_config_for(session: Session, household: Household) -> LineChannelConfig | None:
    """The office's own LINE channel, else its municipality's (office_id None).

    Looked up once per office and session: an escalation batch of 500 households of one
    office asks once, not per household."""
    office = household.office
    known: dict[str, LineChannelConfig | None] = session.info.setdefault(_LINE_CONFIGS, {})
    if office.id in known:
        return known[office.id]
    rows = session.scalars(
        select(LineChannelConfig).where(LineChannelConfig.municipality_id == office.municipality_id)
    ).all()
    own = [r for r in rows if r.office_id == office.id]
    shared = [r for r in rows if r.office_id is None]
    known[office.id] = (own or shared or [None])[0]
    return known[office.id]


_LINE_CONFIGS = "line_config_by_office"  # session.info key: the lookups of this session


def channels_for(
    contact: FamilyContact, line_available: bool, *, daily_report: bool = False
) -> list[str]:
    """The one place that decides how a contact is told: the channels an alert, a follow-up
    or (daily_report) the daily report goes out on now.

    Alerts and follow-ups: by `channel_pref`; LINE-first contacts get e-mail only after a
    LINE failure (cloud/notify/fallback.py). The daily report goes on LINE only for a contact
    who opted in (`daily_report_line`), instead of e-mail, or besides it with `both`."""
    line_ok = line_available and contact.line_user_id and contact.line_blocked_at is None
    mail = [EMAIL] if contact.email else []
    wants_line = contact.daily_report_line if daily_report else contact.channel_pref != "email"
    if not (wants_line and line_ok):
        return mail
    return [LINE, *mail] if contact.channel_pref == "both" else [LINE]


def clip(text: str) -> str:
    """Within LINE's limit for one text message."""
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def text_messages(text: str) -> list[dict]:
    return [{"type": "text", "text": clip(text.strip())}]


def alert_text(context: dict[str, Any]) -> str:
    """Short Japanese push text: who, what happened, when, what the post office does next."""
    lines = [
        f"【見守り】{context['resident_name']}様",  # as in the mails and LINE follow-ups
        str(context["headline"]),
        f"発生：{context['opened_at']}",
    ]
    if context.get("next_text"):
        lines.append(str(context["next_text"]))
    lines.append(f"{context['office_name']} {context.get('office_phone') or ''}".rstrip())
    return clip("\n".join(lines))


def alert_messages(context: dict[str, Any], incident_id: str, page_url: str) -> list[dict]:
    """The text, then a buttons template: 連絡がとれました / 郵便局に電話してほしい / page."""
    actions = [
        {
            "type": "postback",
            "label": "連絡がとれました",
            "data": ACK_DATA.format(incident=incident_id),
            "displayText": "連絡がとれました",
        },
        {
            "type": "postback",
            "label": "郵便局に電話してほしい",
            "data": CALLBACK_DATA.format(incident=incident_id),
            "displayText": "郵便局に電話してほしい",
        },
    ]
    if page_url.startswith("https://"):  # LINE accepts only https links
        actions.append({"type": "uri", "label": "詳しく見る", "uri": page_url})
    return [
        {"type": "text", "text": alert_text(context)},
        {
            "type": "template",
            "altText": "ご家族の方へ：連絡がとれたらお知らせください",
            "template": {"type": "buttons", "text": "ご対応を選んでください", "actions": actions},
        },
    ]


def enqueue_line(
    session: Session,
    *,
    contact: FamilyContact,
    config: LineChannelConfig,
    messages: list[dict],
    kind: str,
    now: datetime,
    incident_id: str | None,
    step: int | None,
    fallback_mail: dict[str, Any] | None = None,
    row_id: str | None = None,
    priority: int | None = None,
) -> OutboxMail:
    """A LINE delivery; `fallback_mail` is the e-mail to send instead should it fail for
    good (follow-ups: cloud/notify/followups.py; alerts re-render theirs per step)."""
    headers: dict[str, Any] = {CHANNEL_FIELD: config.id, MESSAGES_FIELD: messages}
    if fallback_mail is not None:
        headers[FALLBACK_FIELD] = fallback_mail
    row = OutboxMail(
        id=row_id or new_id(),
        to_addr=str(contact.line_user_id),
        subject=kind,
        text_body=str(messages[0].get("text", "")),
        html_body=None,
        headers=headers,
        kind=kind,
        incident_id=incident_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        channel=LINE,
        contact_id=contact.id,
        step=step,
        **({} if priority is None else {"priority": priority}),
    )
    session.add(row)
    session.flush()
    return row


def stored_mail(
    rendered: compose.Rendered, *, to: str, contact_id: str, kind: str, step: int | None
) -> dict[str, Any]:
    """An e-mail as data, kept in a LINE row (FALLBACK_FIELD) to be sent if LINE fails."""
    return {
        "to": to,
        "contact_id": contact_id,
        "kind": kind,
        "step": step,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "headers": rendered.headers,
    }


def enqueue_stored(
    session: Session, stored: dict[str, Any], *, incident_id: str | None, now: datetime, kind: str
) -> OutboxMail:
    rendered = compose.Rendered(
        str(stored["subject"]), str(stored["text"]), str(stored["html"]), dict(stored["headers"])
    )
    step = stored.get("step")
    return compose.enqueue(
        session,
        to_addr=str(stored["to"]),
        rendered=rendered,
        kind=kind,
        now=now,
        incident_id=incident_id,
        contact_id=str(stored["contact_id"]),
        step=int(step) if step is not None else None,
    )


def failed_line_without_fallback(session: Session) -> list[OutboxMail]:
    """Alert deliveries on LINE that failed for good and have no e-mail for the same
    (incident, step, contact) yet."""
    line = OutboxMail.__table__.alias("line_row")
    email = OutboxMail.__table__.alias("email_row")
    exists_mail = (
        select(email.c.id)
        .where(
            email.c.channel == EMAIL,
            email.c.incident_id == line.c.incident_id,
            email.c.step == line.c.step,
            email.c.contact_id == line.c.contact_id,
        )
        .exists()
    )
    ids = session.scalars(
        select(line.c.id).where(
            line.c.channel == LINE,
            line.c.status == "failed",
            line.c.step.is_not(None),
            line.c.contact_id.is_not(None),
            ~exists_mail,
        )
    ).all()
    return [session.get(OutboxMail, i) for i in ids]  # type: ignore[misc]


def token_lookup(sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    def lookup(channel_ref: str) -> str | None:
        with transaction(sessions) as session:
            row = session.get(LineChannelConfig, channel_ref)
            return row.access_token if row is not None else None

    return lookup


def case_deliveries(
    session: Session, incident_id: str, *, with_cancelled: bool = False
) -> list[dict[str, Any]]:
    """Which channel reached whom and when, for the case page: one entry per delivery of the
    incident, oldest first; `fallback` marks an e-mail sent because LINE failed. Deliveries
    cancelled in the queue (the case closed first) reached nobody: listed only
    `with_cancelled` (the case page's whole story), `cancelled_by` saying what closed it."""
    wanted = [OutboxMail.incident_id == incident_id]
    if not with_cancelled:
        wanted.append(OutboxMail.status != CANCELLED)
    rows = session.scalars(
        select(OutboxMail)
        .where(*wanted)
        # A fallback is made in the same instant on a frozen clock: after its LINE row by kind.
        .order_by(OutboxMail.created_at, OutboxMail.step, OutboxMail.kind)
    ).all()
    names = {
        c.id: c.name
        for c in session.scalars(
            select(FamilyContact).where(
                FamilyContact.id.in_({r.contact_id for r in rows if r.contact_id})
            )
        )
    }
    return [
        {
            "id": r.id,
            "channel": r.channel,
            "to": names.get(r.contact_id or "", r.to_addr if r.channel == EMAIL else "LINE"),
            "contact_id": r.contact_id,
            "step": r.step,
            "kind": r.kind,
            "status": r.status,
            "attempts": r.attempts,  # a pending row already tried waits for its retry
            "sent_at": r.sent_at,
            "created_at": r.created_at,
            "fallback": r.kind.endswith(FALLBACK_SUFFIX),
            "error": r.last_error if r.status == "failed" else None,
            # cancel_unsent_alerts writes "cancelled: <follow-up template>"
            "cancelled_by": (r.last_error or "").removeprefix("cancelled: ")
            if r.status == CANCELLED
            else None,
        }
        for r in rows
    ]
