"""The household page's editing forms (resident details, contacts, pauses, days off):
form fields -> service inputs, errors as translation keys next to the field (pure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cloud.services.contacts import ContactInput, DetailsInput, FieldInvalid, split_phones
from cloud.web.forms import FieldError

FormList = Callable[[str], list[str]]
PHONE_FIELDS = ("phone1", "phone2", "phone3")
REASON_MAX = 200


def _date(value: str, field: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "err_invalid_date") from None


def _phones(form: dict[str, str]) -> list[str]:
    numbers: list[str] = []
    for name in PHONE_FIELDS:
        numbers += split_phones(form.get(name, ""))
    return numbers


def details(form: dict[str, str], today: date) -> DetailsInput:
    """Fields missing from the form stay as they are; sent empty, they are cleared."""
    birth = _date(form.get("birth_date", ""), "birth_date")
    if birth is not None and birth > today:
        raise FieldError("birth_date", "err_invalid_date")
    return DetailsInput(
        phones=_phones(form) if any(name in form for name in PHONE_FIELDS) else None,
        address=form.get("address"),
        birth_date=birth,
        clear_birth_date=birth is None and "birth_date" in form,
        visitor_notes=form.get("visitor_notes"),
    )


def contact(form: dict[str, str], form_list: FormList) -> ContactInput:
    return ContactInput(
        name=form.get("name", ""),
        email=form.get("email", "") or None,
        relationship=form.get("relationship", ""),
        phones=_phones(form),
        roles=form_list("roles"),
        priority=None,
        notify_alerts=form.get("notify_alerts") == "1",
        daily_report=form.get("daily_report") == "1",
    )


def channels(form: dict[str, str]) -> tuple[str | None, bool | None]:
    """How alerts reach the contact (channel_pref) and the daily report on LINE (opt-in), for
    contacts.set_channels; (None, None) when the form has no such fieldset (left as is)."""
    if "channel_pref" not in form:
        return None, None
    # The LINE report is a way of getting the daily report: off with the report itself.
    daily_line = form.get("daily_report_line") == "1" and form.get("daily_report") == "1"
    return form["channel_pref"], daily_line


def error_of(exc: FieldInvalid | FieldError) -> tuple[str, str]:
    """(field, translation key) of either kind of form error."""
    if isinstance(exc, FieldInvalid):
        field = "phone1" if exc.field == "phones" else exc.field
        return field, "err_" + exc.key
    return exc.field, exc.key


def pause(form: dict[str, str], zone: str, now: datetime) -> tuple[datetime, datetime | None, str]:
    """入院・ショートステイ: from the start of the first day (default today) to the end of the
    last day (optional), local dates in the household's zone; the reason is required.

    A pause from today covers all of today, the slot being asked right now included: staff
    registering a hospital stay at 18:20 mean no alarm for this evening's unanswered ask."""
    reason = form.get("reason", "").strip()
    if not reason:
        raise FieldError("reason", "err_required")
    if len(reason) > REASON_MAX:
        raise FieldError("reason", "err_too_long")
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    first = _date(form.get("start_date", ""), "start_date") or today
    last = _date(form.get("end_date", ""), "end_date")
    if first < today:
        raise FieldError("start_date", "err_past_datetime")
    if last is not None and last < first:
        raise FieldError("end_date", "err_end_before_start")
    starts = datetime.combine(first, time(0), tz).astimezone(UTC)
    ends = None
    if last is not None:
        ends = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return starts, ends, reason


def holiday(form: dict[str, str], today: date) -> tuple[date, str]:
    day = _date(form.get("day", ""), "day")
    if day is None:
        raise FieldError("day", "err_required")
    if day < today:
        raise FieldError("day", "err_past_datetime")
    note = form.get("note", "").strip()
    if len(note) > REASON_MAX:
        raise FieldError("note", "err_too_long")
    return day, note
