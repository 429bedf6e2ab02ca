"""Creating and changing municipalities, offices, households, contacts (CLI and admin API)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from cloud.models import (
    EnrollmentCode,
    Holiday,
    Household,
    Municipality,
    Pause,
    PostOffice,
    Resident,
    ScheduleSlot,
    new_id,
)
from cloud.models.tenancy import DEFAULT_REASK_OFFSETS_MIN
from cloud.schedule import PauseSpec, SlotSpec, next_deadline
from cloud.services import text
from mimamori_wire.v1 import Question

MAX_SLOTS = 3
MAX_REASKS = 3
# Default slot names by local hour: the gateway and staff talk about "the morning check-in".
SLOT_NAMES_BY_HOUR = ((11, "morning"), (16, "noon"), (24, "evening"))
# No 0/O/1/I/L: codes are read aloud over the phone and typed by installers.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class NotFound(LookupError):
    pass


class Invalid(ValueError):
    pass


def check_text(multiline: bool = False, **fields: str | None) -> None:
    """Names, addresses, e-mail addresses, phone numbers: one line, no control characters
    (cloud.services.text); free text (multiline) may hold line breaks."""
    for field, value in fields.items():
        problem = text.problem(value, field, multiline)
        if problem:
            raise Invalid(problem)


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r}") from None
    return name


T = TypeVar("T")


def get_or_404(session: Session, model: type[T], ident: str) -> T:
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{model.__name__} {ident} not found")
    return row


def create_municipality(
    session: Session, name: str, timezone: str = "Asia/Tokyo", email: str | None = None
) -> Municipality:
    check_text(name=name, timezone=timezone, email=email)
    row = Municipality(name=name, timezone=check_zone(timezone), email=email)
    session.add(row)
    session.flush()
    return row


def create_office(
    session: Session,
    municipality_id: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    manager_email: str | None = None,
) -> PostOffice:
    check_text(name=name, phone=phone, email=email, manager_email=manager_email)
    get_or_404(session, Municipality, municipality_id)
    row = PostOffice(
        municipality_id=municipality_id,
        name=name,
        phone=phone,
        email=email,
        manager_email=manager_email,
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class SlotInput:
    time: str
    name: str | None = None
    window_min: int = 30
    grace_min: int = 5
    # None: health only / the default re-asks that fit in the window.
    questions: list[str] | None = None
    reask_offsets_min: list[int] | None = None


def create_household(
    session: Session,
    office_id: str,
    resident_name: str,
    now: datetime,
    *,
    kana: str | None = None,
    birth_year: int | None = None,
    slots: list[SlotInput] | None = None,
    timezone: str | None = None,
    language: str = "ja",
    address: str | None = None,
    flush: bool = True,
) -> Household:
    """flush=False lets bulk imports write many households in one batched flush."""
    check_text(resident_name=resident_name, kana=kana, address=address, language=language)
    office = get_or_404(session, PostOffice, office_id)
    zone = check_zone(timezone or office.municipality.timezone)
    # Built in memory and flushed once: seeding thousands of households stays fast.
    household = Household(
        id=new_id(),
        office_id=office_id,
        timezone=zone,
        language=language,
        address=address,
        active=True,
        config_version=0,
        residents=[Resident(name=resident_name, kana=kana, birth_year=birth_year)],
        pauses=[],
        holidays=[],
    )
    household.slots = _slot_rows(slots or [SlotInput("08:00")])
    changed(session, household, now)
    session.add(household)
    if flush:
        session.flush()
    return household


def set_slots(
    session: Session, household: Household, slots: list[SlotInput], now: datetime
) -> None:
    rows = _slot_rows(slots)
    # Delete first and flush: the unit of work would insert before deleting, and the new
    # rows may reuse names that are unique per household.
    household.slots.clear()
    session.flush()
    household.slots.extend(rows)
    changed(session, household, now)
    session.flush()


def _slot_rows(slots: list[SlotInput]) -> list[ScheduleSlot]:
    if not 1 <= len(slots) <= MAX_SLOTS:
        raise Invalid(f"a household has 1 to {MAX_SLOTS} slots")
    names: set[str] = set()
    rows = []
    for index, slot in enumerate(sorted(slots, key=lambda s: _hhmm(s.time))):
        time_ = _hhmm(slot.time)
        check_text(slot_name=slot.name)
        name = slot.name or default_slot_name(time_)
        if name in names and not slot.name:
            name = f"slot{index + 1}"
        if name in names:
            raise Invalid(f"slot name {name!r} used twice")
        names.add(name)
        rows.append(
            ScheduleSlot(
                name=name,
                time=time_,
                window_min=slot.window_min,
                grace_min=slot.grace_min,
                questions=checked_questions(slot.questions),
                reask_offsets_min=checked_reask_offsets(slot.reask_offsets_min, slot.window_min),
            )
        )
    return rows


def checked_questions(questions: list[str] | None) -> list[str]:
    """Known questions without repeats, health always asked and always first."""
    known = {q.value for q in Question}
    result = [Question.HEALTH.value]
    for question in questions or []:
        if question not in known:
            raise Invalid(f"unknown question {question!r} (one of {', '.join(sorted(known))})")
        if str(question) not in result:
            result.append(str(question))
    return result


def checked_reask_offsets(offsets: list[int] | None, window_min: int) -> list[int]:
    """Minutes after the slot to ask again: increasing, inside the answer window (the cloud's
    deadline follows the window; a later re-ask could not prevent the alarm)."""
    if offsets is None:
        return [o for o in DEFAULT_REASK_OFFSETS_MIN if o < window_min]
    if len(offsets) > MAX_REASKS:
        raise Invalid(f"at most {MAX_REASKS} re-asks per slot")
    if any(not 0 < o < window_min for o in offsets):
        raise Invalid(f"re-ask offsets must be between 1 and {window_min - 1} minutes")
    if any(b <= a for a, b in pairwise(offsets)):
        raise Invalid("re-ask offsets must be increasing")
    return list(offsets)


def default_slot_name(hhmm: str) -> str:
    hour = int(hhmm[:2])
    return next(name for limit, name in SLOT_NAMES_BY_HOUR if hour < limit)


def _hhmm(value: str) -> str:
    try:
        hours, minutes = (int(part) for part in value.split(":"))
    except ValueError:
        raise Invalid(f"slot time {value!r} is not HH:MM") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise Invalid(f"slot time {value!r} is not HH:MM")
    return f"{hours:02d}:{minutes:02d}"


def changed(session: Session, household: Household, now: datetime) -> None:
    """After any schedule change: new config version for the gateway, new next deadline."""
    household.config_version = (household.config_version or 0) + 1
    refresh_deadline(session, household, now)


def slot_specs(household: Household) -> list[SlotSpec]:
    # The re-asks too: a late one stretches the window, and the deadline covers the last ask.
    return [
        SlotSpec(s.name, s.time, s.window_min, s.grace_min, tuple(s.reask_offsets_min or ()))
        for s in household.slots
    ]


def refresh_deadline(session: Session, household: Household, after: datetime) -> None:
    upcoming = next_deadline(
        slot_specs(household),
        household.timezone,
        after,
        [PauseSpec(p.starts_at, p.ends_at) for p in household.pauses],
        [h.day for h in household.holidays],
    )
    if not household.active or upcoming is None:
        household.next_deadline = household.next_slot_name = household.next_slot_date = None
    else:
        household.next_deadline = upcoming.deadline
        household.next_slot_name = upcoming.slot
        household.next_slot_date = upcoming.slot_date


def add_pause(
    session: Session,
    household_id: str,
    starts_at: datetime,
    ends_at: datetime | None,
    reason: str,
    now: datetime,
) -> Pause:
    reason = text.normalise_newlines(reason)  # a textarea sends CRLF
    check_text(multiline=True, reason=reason)
    household = get_or_404(session, Household, household_id)
    if ends_at is not None and ends_at <= starts_at:
        raise Invalid("a pause must end after it starts")
    row = Pause(starts_at=starts_at, ends_at=ends_at, reason=reason)
    household.pauses.append(row)
    changed(session, household, now)
    session.flush()
    return row


def end_pause(session: Session, pause_id: str, now: datetime) -> Pause:
    pause = get_or_404(session, Pause, pause_id)
    pause.ends_at = now if pause.ends_at is None or pause.ends_at > now else pause.ends_at
    changed(session, pause.household, now)
    session.flush()
    return pause


def add_holiday(
    session: Session, household_id: str, day: date, note: str, now: datetime
) -> Holiday:
    check_text(note=note)
    household = get_or_404(session, Household, household_id)
    if any(h.day == day for h in household.holidays):
        raise Invalid(f"{day.isoformat()} is already a holiday")
    row = Holiday(day=day, note=note)
    household.holidays.append(row)
    changed(session, household, now)
    session.flush()
    return row


def remove_holiday(session: Session, holiday: Holiday, now: datetime) -> None:
    household = holiday.household
    household.holidays.remove(holiday)
    session.delete(holiday)
    changed(session, household, now)
    session.flush()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_enrollment_code(
    session: Session, household_id: str, now: datetime, ttl: timedelta
) -> tuple[EnrollmentCode, str]:
    get_or_404(session, Household, household_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    row = EnrollmentCode(
        household_id=household_id,
        code_hash=hash_secret(normalise_code(code)),
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return row, code


def normalise_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")
