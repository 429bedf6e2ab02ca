"""The cloud's view of the rule book (mimamori_rules.schedule): deadlines of database rows.

The maths (local times, DST, pauses, days off, deadline = slot + window + grace) is shared
with the gateway in the rule book; this adapter only carries the rows' values into it and
the result back as a `Deadline` the worker stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from mimamori_rules import schedule as rules
from mimamori_rules.schedule import HORIZON_DAYS, local_date_of, local_instant, slot_for_answer

__all__ = [
    "HORIZON_DAYS",
    "Deadline",
    "PauseSpec",
    "SlotSpec",
    "local_date_of",
    "local_instant",
    "next_deadline",
    "slot_deadline",
    "slot_for_answer",
]


@dataclass(frozen=True)
class SlotSpec:
    """A slot row's values (fits mimamori_rules.schedule.SlotRule)."""

    name: str
    time: str  # local HH:MM
    window_min: int = 30
    grace_min: int = 5
    reask_offsets_min: tuple[int, ...] = (10, 20)


@dataclass(frozen=True)
class PauseSpec:
    starts_at: datetime
    ends_at: datetime | None = None


@dataclass(frozen=True)
class Deadline:
    slot: str
    slot_date: date  # local date of the slot
    slot_at: datetime  # UTC
    deadline: datetime  # UTC


def _deadline(occ: rules.SlotOccurrence[SlotSpec]) -> Deadline:
    return Deadline(occ.slot.name, occ.local_date, occ.at, occ.deadline)


def slot_deadline(slot: SlotSpec, day: date, zone: ZoneInfo) -> Deadline:
    return _deadline(rules.occurrence_on(slot, day, zone))


def next_deadline(
    slots: Sequence[SlotSpec],
    zone_name: str,
    after: datetime,
    pauses: Iterable[PauseSpec] = (),
    holidays: Iterable[date] = (),
    after_slot: tuple[date, str] | None = None,
) -> Deadline | None:
    """The next deadline after `after` whose slot is not paused or on a day off; pass the
    (slot date, slot) just handled at `after` so a slot with the same deadline is not lost."""
    args = (tuple(slots), zone_name, after, tuple(pauses), tuple(holidays), after_slot)
    try:
        return _next_deadline(*args)
    except TypeError:  # an unhashable argument (a list inside a spec): computed, not cached
        return _next_deadline.__wrapped__(*args)


# A pure function of its arguments, and at 09:00 thousands of households ask it the same
# question (same slot times and zone, same passed deadline, no pauses): asked once each.
@lru_cache(maxsize=4096)
def _next_deadline(
    slots: tuple[SlotSpec, ...],
    zone_name: str,
    after: datetime,
    pauses: tuple[PauseSpec, ...],
    holidays: tuple[date, ...],
    after_slot: tuple[date, str] | None,
) -> Deadline | None:
    found = rules.next_deadline(slots, zone_name, after, pauses, holidays, after_slot)
    return None if found is None else _deadline(found)
