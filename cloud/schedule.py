"""Pure deadline maths: when is a household's next check-in deadline? (no I/O, no clock)

A slot's deadline is slot time + answer window + grace, in the household's IANA zone.
Local times that do not exist (spring-forward gap) move forward by the gap; repeated local
times (fall-back) take the first occurrence. Japan has no DST, but the maths must not care.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Longest look-ahead: a pause or holidays longer than this leave no deadline (recomputed when
# the pause or holiday list changes).
HORIZON_DAYS = 400


@dataclass(frozen=True)
class SlotSpec:
    name: str
    time: str  # local HH:MM
    window_min: int = 30
    grace_min: int = 5

    @property
    def local_time(self) -> time:
        hours, minutes = self.time.split(":")
        return time(int(hours), int(minutes))

    @property
    def span(self) -> timedelta:
        return timedelta(minutes=self.window_min + self.grace_min)


@dataclass(frozen=True)
class PauseSpec:
    starts_at: datetime
    ends_at: datetime | None = None

    def covers(self, instant: datetime) -> bool:
        return self.starts_at <= instant and (self.ends_at is None or instant < self.ends_at)


@dataclass(frozen=True)
class Deadline:
    slot: str
    slot_date: date  # local date of the slot
    slot_at: datetime  # UTC
    deadline: datetime  # UTC


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `at` on `day` (gaps move forward, folds take first)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def slot_deadline(slot: SlotSpec, day: date, zone: ZoneInfo) -> Deadline:
    slot_at = local_instant(day, slot.local_time, zone)
    return Deadline(slot.name, day, slot_at, slot_at + slot.span)


def next_deadline(
    slots: Sequence[SlotSpec],
    zone_name: str,
    after: datetime,
    pauses: Iterable[PauseSpec] = (),
    holidays: Iterable[date] = (),
) -> Deadline | None:
    """The earliest deadline strictly after `after` whose slot is not paused or on a holiday."""
    if not slots:
        return None
    zone = ZoneInfo(zone_name)
    pauses = list(pauses)
    skip_days = set(holidays)
    ordered = sorted(slots, key=lambda s: s.local_time)
    # Start a day early: a late-evening slot's deadline can fall after local midnight.
    first_day = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        if day in skip_days:
            continue
        candidates = [slot_deadline(slot, day, zone) for slot in ordered]
        for candidate in sorted(candidates, key=lambda d: d.deadline):
            if candidate.deadline <= after:
                continue
            if any(p.covers(candidate.slot_at) for p in pauses):
                continue
            return candidate
    return None


def local_date_of(instant: datetime, zone_name: str) -> date:
    return instant.astimezone(ZoneInfo(zone_name)).date()


def slot_for_answer(slots: Sequence[SlotSpec], reported: str) -> SlotSpec | None:
    """Gateways name a slot by its name ("morning") or by its time ("08:00")."""
    for slot in slots:
        if reported in (slot.name, slot.time):
            return slot
    return None
