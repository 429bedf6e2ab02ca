"""People to call: the resident's phones, address, birth date and visitor notes, and the
ordered list of contacts (family, key holder, doctor, care manager, welfare volunteer).

Shared by the admin API, the CLI and the dashboard's household page. Phone numbers are
validated as Japanese numbers with `phonenumbers` (Google's libphonenumber metadata) and
stored in national format (03-1234-5678), which is what staff read and dial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

import phonenumbers
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cloud.models import DailyReportLog, FamilyContact, Household
from cloud.services import text
from cloud.services.tenancy import Invalid, get_or_404

# How alerts reach a contact (cloud/notify/outbox.channels_for).
CHANNEL_PREFS = ("line_first", "both", "email")
ROLES = ("family", "emergency", "key_holder", "doctor", "care_manager", "welfare_volunteer")
MAX_CONTACTS = 8
MAX_PHONES = 3
REGION = "JP"
MAP_SEARCH = "https://www.google.com/maps/search/?api=1&query="


class FieldInvalid(Invalid):
    """A bad value for one field: `field` lets forms show the error next to the input,
    `key` names the message (the dashboard shows t("err_" + key))."""

    def __init__(self, field: str, message: str, key: str = "invalid_value") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.key = key


def normalise_phone(value: str, field: str = "phone") -> str:
    """A valid Japanese number in national format, or FieldInvalid."""
    checked_line(value, field)
    text = value.strip()
    try:
        number = phonenumbers.parse(text, REGION)
    except phonenumbers.NumberParseException:
        raise FieldInvalid(field, f"{value!r} is not a phone number", "invalid_phone") from None
    if number.country_code != 81 or not phonenumbers.is_valid_number(number):
        raise FieldInvalid(
            field, f"{value!r} is not a valid Japanese phone number", "invalid_phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def phone_list(values: Iterable[str], field: str = "phones") -> list[str]:
    """Checked numbers, blanks dropped, repeats removed, order kept."""
    result: list[str] = []
    for value in values:
        if not value or not value.strip():
            continue
        number = normalise_phone(value, field)
        if number not in result:
            result.append(number)
    if len(result) > MAX_PHONES:
        raise FieldInvalid(field, f"at most {MAX_PHONES} phone numbers", "too_many_phones")
    return result


def split_phones(text: str) -> list[str]:
    """Form and CLI input: numbers separated by commas, 、, slashes or new lines."""
    for sep in ("、", "，", "/", "\n", ";"):
        text = text.replace(sep, ",")
    return [part for part in text.split(",") if part.strip()]


def tel_uri(national: str) -> str:
    """tel: link (RFC 3966, E.164) for a stored national number."""
    number = phonenumbers.parse(national, REGION)
    return "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def map_url(address: str | None) -> str | None:
    return MAP_SEARCH + quote(address, safe="") if address else None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def checked_roles(roles: Iterable[str]) -> list[str]:
    wanted = {r.strip() for r in roles if r and r.strip()}
    unknown = sorted(wanted - set(ROLES))
    if unknown:
        raise FieldInvalid(
            "roles", f"unknown role {', '.join(unknown)} (one of {', '.join(ROLES)})"
        )
    return [r for r in ROLES if r in wanted]


def checked_line(value: str | None, field: str) -> None:
    """One line, no control characters (cloud.services.text): shown as err_control_chars."""
    problem = text.problem(value, field)
    if problem:
        raise FieldInvalid(field, problem, "control_chars")


def checked_email(email: str | None) -> str | None:
    checked_line(email, "email")
    email = (email or "").strip()
    if not email:
        return None
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise FieldInvalid("email", f"{email!r} is not an e-mail address", "invalid_email")
    return email


@dataclass
class ContactInput:
    name: str
    email: str | None = None
    relationship: str | None = None
    phones: list[str] | None = None
    roles: list[str] | None = None
    priority: int | None = None  # None: after the last one
    notify_alerts: bool = True
    daily_report: bool = False


def _checked(data: ContactInput) -> dict[str, object]:
    checked_line(data.name, "name")
    checked_line(data.relationship, "relationship")
    name = data.name.strip()
    if not name:
        raise FieldInvalid("name", "a contact needs a name", "required")
    if len(name) > 200:
        raise FieldInvalid("name", "name too long", "too_long")
    relationship = (data.relationship or "").strip() or None
    if relationship and len(relationship) > 40:
        raise FieldInvalid("relationship", "relationship too long", "too_long")
    email = checked_email(data.email)
    phones = phone_list(data.phones or [])
    if email is None and (data.notify_alerts or data.daily_report):
        raise FieldInvalid(
            "email", "alerts and daily reports need an e-mail address", "email_for_alerts"
        )
    if email is None and not phones:
        raise FieldInvalid(
            "phones", "a contact needs a phone number or an e-mail address", "phone_or_email"
        )
    return {
        "name": name,
        "email": email,
        "relationship_label": relationship,
        "phones": phones,
        "roles": checked_roles(data.roles if data.roles is not None else ["family"]),
        "notify_alerts": bool(data.notify_alerts),
        "daily_report": bool(data.daily_report),
    }


def _email_taken(session: Session, household_id: str, email: str | None, own: str | None) -> bool:
    if email is None:
        return False
    stmt = select(FamilyContact.id).where(
        FamilyContact.household_id == household_id, FamilyContact.email == email
    )
    return any(found != own for found in session.scalars(stmt))


def add_contact(session: Session, household_id: str, data: ContactInput) -> FamilyContact:
    get_or_404(session, Household, household_id)
    values = _checked(data)
    count = session.scalar(select(func.count()).where(FamilyContact.household_id == household_id))
    if (count or 0) >= MAX_CONTACTS:
        raise FieldInvalid(
            "name", f"a household has at most {MAX_CONTACTS} contacts", "too_many_contacts"
        )
    if _email_taken(session, household_id, values["email"], None):  # type: ignore[arg-type]
        raise FieldInvalid("email", "this e-mail address is already a contact", "email_taken")
    if data.priority is None:
        last = session.scalar(
            select(func.max(FamilyContact.priority)).where(
                FamilyContact.household_id == household_id
            )
        )
        priority = (last or 0) + 1
    else:
        priority = data.priority
    row = FamilyContact(household_id=household_id, priority=priority, **values)
    session.add(row)
    session.flush()
    return row


def update_contact(session: Session, contact: FamilyContact, data: ContactInput) -> list[str]:
    """Replace the contact's fields; returns the names of those that changed (for audit)."""
    values = _checked(data)
    if _email_taken(session, contact.household_id, values["email"], contact.id):  # type: ignore[arg-type]
        raise FieldInvalid("email", "this e-mail address is already a contact", "email_taken")
    if data.priority is not None:
        values["priority"] = data.priority
    changed = [k for k, v in values.items() if getattr(contact, k) != v]
    for key in changed:
        setattr(contact, key, values[key])
    if "email" in changed:
        contact.unsubscribed_at = None  # a new address has not unsubscribed from anything
    session.flush()
    return changed


def set_channels(
    contact: FamilyContact,
    *,
    channel_pref: str | None = None,
    daily_report_line: bool | None = None,
) -> list[str]:
    """How the contact is told (None leaves a field as it is); returns what changed.

    `channel_pref` for alerts and follow-ups: line_first (e-mail if LINE fails), both, email.
    `daily_report_line` (opt-in): the daily report on LINE while LINE is linked, e-mail
    otherwise; opting in also switches the daily report on."""
    if channel_pref is not None and channel_pref not in CHANNEL_PREFS:
        raise FieldInvalid("channel_pref", f"one of {', '.join(CHANNEL_PREFS)}", "invalid_value")
    values: dict[str, object] = {}
    if channel_pref is not None:
        values["channel_pref"] = channel_pref
    if daily_report_line is not None:
        values["daily_report_line"] = daily_report_line
        if daily_report_line:
            values["daily_report"] = True
    changed = [k for k, v in values.items() if getattr(contact, k) != v]
    for key in changed:
        setattr(contact, key, values[key])
    return changed


def remove_contact(session: Session, contact: FamilyContact) -> None:
    # The daily-report log only de-duplicates reports to this contact: it goes with it.
    session.execute(delete(DailyReportLog).where(DailyReportLog.contact_id == contact.id))
    session.delete(contact)
    session.flush()


def move_contact(session: Session, contact: FamilyContact, step: int) -> None:
    """Move one place up (step -1) or down (+1) in the calling order; renumbers 1..n."""
    ordered = list(
        session.scalars(
            select(FamilyContact)
            .where(FamilyContact.household_id == contact.household_id)
            .order_by(FamilyContact.priority, FamilyContact.name)
        )
    )
    index = ordered.index(contact)
    target = min(max(index + step, 0), len(ordered) - 1)
    ordered.insert(target, ordered.pop(index))
    for position, row in enumerate(ordered, start=1):
        row.priority = position
    session.flush()
    session.expire(contact.household, ["contacts"])


@dataclass
class DetailsInput:
    """Resident details; None leaves a field as it is, "" / [] clears it."""

    phones: list[str] | None = None
    address: str | None = None
    birth_date: date | None = None
    clear_birth_date: bool = False
    visitor_notes: str | None = None


def set_details(session: Session, household: Household, data: DetailsInput) -> list[str]:
    """Set the resident's phones, address, birth date, visitor notes; returns changed names."""
    changed: list[str] = []
    if data.phones is not None:
        phones = phone_list(data.phones)
        if phones != list(household.phones or []):
            household.phones = phones
            changed.append("phones")
    if data.address is not None:
        checked_line(data.address, "address")
        address = data.address.strip() or None
        if address and len(address) > 400:
            raise FieldInvalid("address", "address too long", "too_long")
        if address != household.address:
            household.address = address
            changed.append("address")
    if data.visitor_notes is not None:
        notes = text.normalise_newlines(data.visitor_notes)
        problem = text.problem(notes, "visitor_notes", multiline=True)
        if problem:
            raise FieldInvalid("visitor_notes", problem, "control_chars")
        notes = notes.strip() or None
        if notes and len(notes) > 2000:
            raise FieldInvalid("visitor_notes", "notes too long", "too_long")
        if notes != household.visitor_notes:
            household.visitor_notes = notes
            changed.append("visitor_notes")
    resident = household.residents[0] if household.residents else None
    if resident is not None and (data.birth_date is not None or data.clear_birth_date):
        if data.birth_date is not None and not date(1900, 1, 1) <= data.birth_date:
            raise FieldInvalid("birth_date", "birth date before 1900", "invalid_date")
        if resident.birth_date != data.birth_date:
            resident.birth_date = data.birth_date
            resident.birth_year = data.birth_date.year if data.birth_date else None
            changed.append("birth_date")
    session.flush()
    return changed


def tel_or_none(value: str | None) -> str | None:
    """tel: link for a number typed anywhere (office phones predate validation), or None."""
    if not value:
        return None
    try:
        return tel_uri(normalise_phone(value))
    except FieldInvalid:
        return None
