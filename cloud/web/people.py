"""How people and their numbers appear on the desk, case page, household page and print
views: tel: links, the age in years, a map link, contact roles in calling order.

Importing this module registers the Jinja filters `tel`, `age`, `maplink`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cloud.models import FamilyContact, Household, Resident
from cloud.services.contacts import ROLES, age_on, map_url, tel_or_none
from cloud.web.render import templates

# Order of the role chips and of the "who has the key" lookups.
CONTACT_ROLES = ROLES
CALLEE_SEPARATOR = "|"


def tel(number: str | None) -> str:
    """tel: URI of a stored number; "" when it cannot be dialled (then no link is shown)."""
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


templates.env.filters["tel"] = tel
templates.env.filters["age"] = _age_filter
templates.env.filters["maplink"] = map_url


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


def call_targets(household: Household, contacts: list[FamilyContact], t: Any) -> list[CallTarget]:
    """The resident's numbers first, then each contact's, in calling order."""
    names = resident_names(household) or t("resident")
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


def split_target(value: str) -> tuple[str, str]:
    """A call form's target back into (callee, phone)."""
    name, _, phone = value.rpartition(CALLEE_SEPARATOR)
    return (name, phone) if name else (value, "")
