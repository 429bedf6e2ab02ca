"""How people and their numbers appear on the desk, case page, household page and print
views: tel: links, the age in years, a map link, contact roles in calling order.

Importing this module registers the Jinja filters `tel`, `age`, `maplink`, `phonelinks`,
`contactline`, `office_phones`, `office_names`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import pass_context
from markupsafe import Markup, escape

from cloud.models import FamilyContact, Household, Resident
from cloud.services.contacts import ROLES, age_on, map_url, tel_or_none
from cloud.web.render import templates

# Order of the role chips and of the "who has the key" lookups.
CONTACT_ROLES = ROLES
CALLEE_SEPARATOR = "|"


# A stored number is already checked and in national format (0 + 9 or 10 digits): its E.164
# form is +81 and the digits without the trunk 0. Others (office phones typed before
# validation existed) go through phonenumbers. The desk renders hundreds of these per view.
_NATIONAL_DIGITS = re.compile(r"0\d{9,10}")


@lru_cache(maxsize=8192)
def tel(number: str | None) -> str:
    """tel: URI of a stored number; "" when it cannot be dialled (then no link is shown)."""
    if not number:
        return ""
    digits = number.replace("-", "").replace(" ", "")
    if _NATIONAL_DIGITS.fullmatch(digits):
        return "tel:+81" + digits[1:]
    return tel_or_none(number) or ""


def age_label(resident: Resident, today: date) -> str:
    """「90歳（1936年生）」 from a birth date; with only a year, the two possible ages."""
    if resident.birth_date is not None:
        years = age_on(resident.birth_date, today)
        return f"{years}歳（{resident.birth_date.year}年生）"
    if resident.birth_year:
        older = today.year - resident.birth_year
        return f"{older - 1}〜{older}歳（{resident.birth_year}年生）"
    return ""


def _age_filter(resident: Resident, today: date) -> str:
    return age_label(resident, today)


@lru_cache(maxsize=8192)
def _phone_links(numbers: tuple[str, ...]) -> Markup:
    links = []
    for number in numbers:
        uri = tel(number)
        text = escape(number)
        links.append(
            Markup('<a class="tel" href="{}">{}</a>').format(uri, text)
            if uri
            else Markup('<span class="tel">{}</span>').format(text)
        )
    return Markup(" / ").join(links)


def phone_links(numbers: list[str] | tuple[str, ...] | None) -> Markup:
    """Each number as a tel: link (a plain span when it cannot be dialled), " / " between.
    Python, not a Jinja macro: the desk renders several per card."""
    return _phone_links(tuple(numbers or ()))


@pass_context
def contact_line(context: Any, contact: FamilyContact) -> Markup:
    """「name（relationship） [roles] numbers」 for lists of contacts."""
    t = context["t"]
    who = contact.name + (f"（{contact.relationship_label}）" if contact.relationship_label else "")
    chips = Markup("").join(
        Markup('<span class="chip role role-{}">{}</span>').format(r, t("crole_" + r))
        for r in contact.roles or []
    )
    return Markup('<span class="who">{}</span> {} {}').format(
        who, chips, phone_links(contact.phones)
    )


def office_phones(offices: list[Any]) -> dict[str, str]:
    """office id -> its phone, for cards that name the office to call (offices without one
    are left out)."""
    return {o.id: o.phone for o in offices or [] if o.phone}


templates.env.filters["tel"] = tel
templates.env.filters["office_phones"] = office_phones
templates.env.filters["office_names"] = lambda offices: {o.id: o.name for o in offices or []}
templates.env.filters["age"] = _age_filter
templates.env.filters["maplink"] = map_url
templates.env.filters["phonelinks"] = phone_links
templates.env.filters["contactline"] = contact_line


def resident_names(household: Household) -> str:
    return "・".join(r.name for r in household.residents)


def key_holders(contacts: list[FamilyContact]) -> list[FamilyContact]:
    return [c for c in contacts if "key_holder" in (c.roles or [])]


@dataclass(frozen=True)
class CallTarget:
    """One choice in a call form: a person and one of their numbers."""

    name: str
    phone: str
    label: str

    @property
    def value(self) -> str:
        return f"{self.name}{CALLEE_SEPARATOR}{self.phone}"


def call_targets(
    household: Household,
    contacts: list[FamilyContact],
    t: Any,
    residents: list[Resident] | None = None,
) -> list[CallTarget]:
    """The resident's numbers first, then each contact's, in calling order. `residents`
    when already loaded (the desk loads them for all cards in one query)."""
    people = residents if residents is not None else household.residents
    names = "・".join(r.name for r in people) or t("resident")
    targets = [
        CallTarget(names, p, f"{names}（{t('resident')}） {p}") for p in household.phones or []
    ]
    if not targets:
        targets.append(CallTarget(names, "", f"{names}（{t('resident')}）"))
    for contact in contacts:
        relation = contact.relationship_label or ", ".join(
            t("crole_" + r) for r in (contact.roles or [])
        )
        label = f"{contact.name}（{relation}）" if relation else contact.name
        for phone in contact.phones or []:
            targets.append(CallTarget(contact.name, phone, f"{label} {phone}"))
    return targets


# Steps whose e-mail goes to the office's own address (cloud/escalation/steps.py): an address
# that is no contact's is the office, named as such next to its dashboard entry.
_OFFICE_MAIL_ACTIONS = frozenset({"staff", "staff_reminder"})


@dataclass(frozen=True)
class NotifiedChip:
    """One line of 「連絡済み」: an action and whom it reached, each channel named once."""

    action: str
    who: str
    channels: tuple[str, ...]  # channel codes in first-seen order: dashboard, email, line
    times: int  # steps that did this (hourly staff reminders repeat)

    def text(self, t: Any) -> str:
        via = "・".join(
            t("dashboard" if c == "dashboard" else "channel_" + c) for c in self.channels
        )
        label = f"{t('action_' + self.action)}: {self.who}" + (f"（{via}）" if via else "")
        return label + (t("times_n").format(n=self.times) if self.times > 1 else "")


def _reached(
    action: str, recipient: str, contacts: list[FamilyContact], office_name: str, t: Any
) -> tuple[str, str | None]:
    """(who, channel code or None) of one notification row."""
    if recipient.startswith("office:"):
        # "Shown on dashboard" already says where: no channel after it.
        return office_name, None if action == "dashboard" else "dashboard"
    if recipient == "gateway":
        return t("gateway"), None
    for contact in contacts:
        if contact.email and recipient == contact.email:
            return contact.name, "email"
        if contact.line_user_id and recipient == f"line:{contact.line_user_id}":
            return contact.name, "line"
    if recipient.startswith("line:"):
        return t("channel_line"), None
    return (office_name if action in _OFFICE_MAIL_ACTIONS else recipient), "email"


def notified_chips(
    notifications: list[Any], contacts: list[FamilyContact], office_name: str, t: Any
) -> list[NotifiedChip]:
    """The notifications of a case (rows with action, recipient, step), one chip per action
    and person: the office reached on the dashboard and by its e-mail address is named once,
    and repeated reminders count up instead of repeating."""
    merged: dict[tuple[str, str], tuple[list[str], set[int]]] = {}
    for n in notifications:
        who, channel = _reached(n.action, n.recipient, contacts, office_name, t)
        channels, steps = merged.setdefault((n.action, who), ([], set()))
        if channel and channel not in channels:
            channels.append(channel)
        steps.add(n.step)
    return [
        NotifiedChip(action, who, tuple(channels), len(steps))
        for (action, who), (channels, steps) in merged.items()
    ]


def split_target(value: str) -> tuple[str, str]:
    """A call form's target back into (callee, phone)."""
    name, _, phone = value.rpartition(CALLEE_SEPARATOR)
    return (name, phone) if name else (value, "")
