"""Rendering Japanese mails from Jinja2 templates and putting them in the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from cloud.mail import headers
from cloud.models import Household, OutboxMail, new_id

TEMPLATES = Path(__file__).resolve().parent / "templates"

CAUSE_HEADLINES = {
    "missed_checkin": "{slot_day}{slot_time}の見守りに応答がありません",
    "gateway_offline": "見守り機からの連絡が途絶えています",
    "help_requested": "助けの要請がありました",
    "unwell": "「元気がない」とのお答えがありました",
    "callback": "郵便局からの折り返し電話をご希望です",
    "safety_needs_help": "安否確認で「助けが必要」とのお答えがありました",
}
INTENT_LABELS = {
    "fine": "元気",
    "usual": "いつも通り",
    "unwell": "元気がない",
    "yes": "はい",
    "no": "いいえ",
    "help": "「助けて」",
    "callback": "電話をご希望",
    "trouble": "ご相談あり",
    "unknown": "聞き取れず",
    "repeat": "聞き取れず",
}


@lru_cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Templates are named *.html.j2: the extension list must name that whole ending, or
        # names reach the HTML part unescaped. Subjects and text parts stay unescaped.
        autoescape=select_autoescape(["html.j2"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


def render(template: str, context: dict[str, Any]) -> Rendered:
    env = environment()
    subject = env.get_template(f"{template}.subject.j2").render(**context).strip()
    text = env.get_template(f"{template}.txt.j2").render(**context)
    html = env.get_template(f"{template}.html.j2").render(**context)
    rendered = Rendered(subject=subject, text=text, html=html)
    if context.get("office_name"):
        rendered.headers[headers.SENDER_NAME_FIELD] = sender_name(str(context["office_name"]))
    return rendered


def render_line(template: str, context: dict[str, Any]) -> str:
    """The LINE text of a family message (`<template>.line.j2`): the mail's content, short,
    without the mail's greeting and footer."""
    return environment().get_template(f"{template}.line.j2").render(**context).strip()


def sender_name(office_name: str) -> str:
    """The From display name: the office people know, not a generic service name."""
    return f"{office_name} 見守りサービス"


def local_hm(instant: datetime | None, zone: str) -> str:
    """'8:02' in the household's zone, the way people say times in Japanese mail."""
    if instant is None:
        return ""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local.hour}:{local.minute:02d}"


def local_datetime_label(instant: datetime, zone: str) -> str:
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local.month}月{local.day}日 {local.hour}:{local.minute:02d}"


def day_label(day: date | None, now: datetime, zone: str) -> str:
    """'本日' for today in the household's zone, else '11月27日' (a reminder the next morning,
    or a mail sent late after an outage, must not say "today" about yesterday)."""
    if day is None or day == now.astimezone(ZoneInfo(zone)).date():
        return "本日"
    return f"{day.month}月{day.day}日"


def slot_time_label(hhmm: str | None) -> str:
    """'08:00' -> '8時', '08:30' -> '8時30分'."""
    if not hhmm:
        return ""
    hours, minutes = (int(p) for p in hhmm.split(":"))
    return f"{hours}時" if minutes == 0 else f"{hours}時{minutes}分"


def resident_name(household: Household) -> str:
    """How mails, LINE messages and family pages name the resident(s): 「山田 花子・山田 太郎」."""
    names = [r.name for r in household.residents]
    return "・".join(names) if names else "ご利用者"


def enqueue(
    session: Session,
    *,
    to_addr: str,
    rendered: Rendered,
    kind: str,
    now: datetime,
    incident_id: str | None = None,
    contact_id: str | None = None,
    step: int | None = None,
    mail_id: str | None = None,
    priority: int | None = None,
) -> OutboxMail:
    """`contact_id` and `step` make a family delivery unique per (incident, step, contact,
    channel) (cloud/notify/outbox.py); `mail_id` when the caller logged it already;
    `priority` for an alert (models.incidents.mail_priority with its incident's cause),
    otherwise the rule's default from kind and incident."""
    mail = OutboxMail(
        id=mail_id or new_id(),
        to_addr=to_addr,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        headers=rendered.headers,
        kind=kind,
        incident_id=incident_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        contact_id=contact_id,
        step=step,
        **({} if priority is None else {"priority": priority}),
    )
    session.add(mail)
    session.flush()
    return mail
