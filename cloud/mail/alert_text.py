"""What an alert mail says (pure): the cause per trigger, its urgency, and the real next step.

Both parts of a mail (text and HTML) render these same sentences, so a phone mail app that
shows only the HTML part tells the same story as the text part.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cloud.escalation.chain import STAFF_ONLY_ACK_CAUSES, Step, family_ack_effect, step_at

URGENT = "至急ご確認ください。"
# Help requests by trigger (the gateway's help event says where it came from).
HELP_BY_TRIGGER = {
    "button": "見守りボタンで「助けて」の操作がありました。",
    "voice": "ご本人から「助けて」とのお声がありました。",
}
CAUSE_TEXTS = {
    # Also when the gateway stopped just before the deadline without reporting (the cloud
    # cannot tell whether it asked): say only what is known, that no answer was confirmed.
    "missed_checkin": "決まった時間までに、見守り機でのお返事が確認できませんでした。",
    "gateway_offline": (
        "停電や電源プラグの抜け、機器の故障などで見守り機が通信できない状態です。"
        "ご本人に何かあったとは限りませんが、念のためご様子をご確認ください。"
    ),
    "help_requested": "「助けて」との連絡がありました。",
    # The headline already says 「元気がない」とのお答えがありました: say where it came from.
    "unwell": "本日、見守り機が体調をおたずねしたときの、ご本人のお答えです。",
    "safety_needs_help": (
        "災害時の安否確認（見守り機からの「ご無事ですか」のおたずね）に、ご本人から"
        "「助けが必要」とのお答えがありました。"
    ),
    "callback": "ご本人が郵便局からのお電話を希望されています。",
}


def cause_text(cause: str, trigger: str | None) -> str:
    """The sentence that says what happened; a help request says how it was made."""
    if cause == "help_requested" and trigger in HELP_BY_TRIGGER:
        return HELP_BY_TRIGGER[trigger]
    return CAUSE_TEXTS[cause]


def is_urgent(cause: str) -> bool:
    """A person may be in danger: the mail says 「至急ご確認ください」."""
    return cause in STAFF_ONLY_ACK_CAUSES


def hm(instant: datetime, zone: str, now: datetime) -> str:
    """24-hour local time, '9:59'; with the date when it is not today: '12月1日 9:59'."""
    local = instant.astimezone(ZoneInfo(zone))
    time = f"{local.hour}:{local.minute:02d}"
    if local.date() == now.astimezone(ZoneInfo(zone)).date():
        return time
    return f"{local.month}月{local.day}日 {time}"


@dataclass(frozen=True)
class Upcoming:
    alongside: frozenset[str]  # actions due at the same moment as this step (done together)
    next_step: Step | None  # the first step due later


def upcoming(chain: dict[str, Any], base: datetime, index: int) -> Upcoming:
    """Steps due together with step `index`, and the first one due after it."""
    current = step_at(chain, base, index)
    if current is None:
        return Upcoming(frozenset(), None)
    alongside = set()
    before = index - 1
    while before >= 0 and (s := step_at(chain, base, before)) and s.due_at == current.due_at:
        alongside.add(s.action)
        before -= 1
    later = index + 1
    while (s := step_at(chain, base, later)) is not None and s.due_at <= current.due_at:
        alongside.add(s.action)
        later += 1
    return Upcoming(frozenset(alongside - {current.action}), s)


def next_step_text(
    *,
    cause: str,
    chain: dict[str, Any],
    base: datetime,
    index: int,
    audience: str,
    office: str,
    zone: str,
    now: datetime,
) -> str:
    """What happens next and when (never the moment the alarm opened)."""
    plan = upcoming(chain, base, index)
    sentences = []
    if audience == "family" and "staff" in plan.alongside:
        sentences.append(f"{office}の担当者にも同時にお知らせしています。")
    if audience == "staff" and "family" in plan.alongside:
        sentences.append("ご家族にも同時にメールでお知らせしています。")
    step = plan.next_step
    if step is not None:
        when = "このあと" if step.due_at <= now else f"{hm(step.due_at, zone, now)}に"
        until = "このあと" if step.due_at <= now else f"{hm(step.due_at, zone, now)}までに"
        unconfirmed = (
            "担当者がご本人の無事を確認できない場合は"
            if cause in STAFF_ONLY_ACK_CAUSES
            else "確認がとれない場合は"
        )
        texts = {
            "family": f"{when}ご家族へメールでお知らせします。",
            "staff": f"{until}確認がとれない場合は、{office}の担当者へお知らせし、"
            "お電話または訪問で確認します。",
            "manager": f"{until}{unconfirmed}、郵便局長と自治体の担当部署へ連絡します。",
            "staff_reminder": f"確認がとれるまで、{when}担当者へ再度お知らせします。",
            "reprompt": f"{when}見守り機からもう一度お声がけします。",
        }
        if step.action in texts:
            sentences.append(texts[step.action])
    return "".join(sentences)


def family_ack_text(cause: str, chain: dict[str, Any], resident: str) -> list[str]:
    """What the family is asked to do, and what their 「連絡がとれました」 will do."""
    ask = f"{resident}様ご本人と連絡がとれましたら、「連絡がとれました」とお知らせください。"
    if family_ack_effect(cause, chain) == "acknowledge":
        return [ask, "担当者への連絡はそこで止まります。"]  # as the family page says
    return [
        ask,
        "お知らせは担当者に伝わります。ご本人の安全のため、担当者が確認するまで連絡は続きます。",
    ]


_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def case_number(incident_id: str) -> str:
    """A short number to read out on the phone: 8 Crockford base32 characters of the id's hash
    ('7KQ2-M9XD'), the same wherever it is shown (mail, desk, case page)."""
    digest = hashlib.sha256(incident_id.encode()).digest()  # uniform whatever the id's kind
    code = base64.b32encode(digest[:5]).decode().translate(_CROCKFORD)
    return f"{code[:4]}-{code[4:]}"
