"""Schedule maths shared by gateway and cloud: slots, windows, deadlines, pauses, days off.

Pure: no I/O and no clock of its own; every function takes the instants it needs (aware).
Local wall times are turned into instants in the household's IANA zone: a local time that
does not exist (spring-forward gap) moves forward by the gap, a repeated one (fall-back)
takes the first occurrence. Japan has no DST, but the maths must not care.

Three moments per slot occurrence, one meaning each:
- `window_end`: the gateway starts no more asks after it (the first ask, the re-asks at
  `reask_offsets_min`, each at least MIN_REASK_GAP apart, and `window_min`).
- `answer_by`: window_end + MAX_DIALOGUE. An ask begun before window_end is over by then:
  the gateway cuts every dialogue (asks, re-asks, the confirmation turn) at MAX_DIALOGUE,
  so by this moment the answer or the `checkin.no_response` is in its outbox.
- `deadline`: slot + window + grace, and never before answer_by + UPLOAD_MARGIN; the cloud
  opens a missed-check-in incident from it on. The floor matters for a short grace (or a late
  re-ask): without it the cloud would declare a miss while the resident is still answering.
A slot whose moment falls in a pause, or whose local date is a day off, is not expected:
the gateway does not ask (a pause is reported `paused`, a day off is silent) and the cloud
sets no deadline for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as TimeOfDay
from enum import StrEnum
from typing import Generic, NamedTuple, Protocol, TypeVar
from zoneinfo import ZoneInfo

MAX_LOOKBACK = timedelta(days=7)  # after a long outage, report at most a week of missed slots
MIN_REASK_GAP = timedelta(minutes=5)  # never re-ask back to back (e.g. after a reboot)
# The longest one dialogue may run on the gateway (speech's longest plan: ~3 questions x 3
# asks of a few seconds' prompt and a 10 s listen, plus the confirmation turn).
MAX_DIALOGUE = timedelta(minutes=4)
# A prompt already playing is not cut off mid-sentence: no turn starts later than this
# before the end (the longest prompt at the slowest speed takes well under it).
MAX_PROMPT = timedelta(seconds=30)
# From the dialogue's outcome to the cloud: the commit, one upload cycle, a slow link.
UPLOAD_MARGIN = timedelta(minutes=1)
# Longest look-ahead for a deadline: a pause or days off longer than this leave none
# (recomputed when the pause or holiday list changes).
HORIZON_DAYS = 400
SLOWER_PER_ATTEMPT = 0.15
LOUDER_PER_ATTEMPT = 0.25
MIN_SPEED = 0.6
MAX_VOLUME = 2.0


class SlotRule(Protocol):
    """What the rules read of a slot (mimamori_wire.v1.Slot and the cloud's rows fit)."""

    @property
    def name(self) -> str: ...
    @property
    def time(self) -> str: ...  # local HH:MM
    @property
    def window_min(self) -> int: ...
    @property
    def grace_min(self) -> int: ...
    @property
    def reask_offsets_min(self) -> Sequence[int]: ...


class PauseRule(Protocol):
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime | None: ...


class QuietRule(Protocol):
    @property
    def start(self) -> str: ...  # local HH:MM
    @property
    def end(self) -> str: ...


def parse_hhmm(value: str) -> TimeOfDay:
    hours, minutes = value.split(":")
    return TimeOfDay(int(hours), int(minutes))


def local_instant(day: date, at: TimeOfDay, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `at` on `day` (gaps move forward, folds take first)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_date_of(instant: datetime, zone_name: str) -> date:
    return instant.astimezone(ZoneInfo(zone_name)).date()


S = TypeVar("S", bound=SlotRule)


@dataclass(frozen=True)
class SlotOccurrence(Generic[S]):
    """One slot on one local date (`slot` is the caller's own slot type)."""

    slot: S
    local_date: date
    at: datetime  # the slot's moment, aware UTC

    @property
    def key(self) -> str:
        return f"{self.local_date.isoformat()}/{self.slot.name}"

    def attempt_times(self) -> list[datetime]:
        offsets = [0, *sorted(o for o in self.slot.reask_offsets_min if o > 0)]
        return [self.at + timedelta(minutes=o) for o in offsets]

    @property
    def window_end(self) -> datetime:
        last = self.attempt_times()[-1] + MIN_REASK_GAP
        return max(self.at + timedelta(minutes=self.slot.window_min), last)

    @property
    def answer_by(self) -> datetime:
        """Every dialogue of this occurrence is over (asks start before window_end)."""
        return self.window_end + MAX_DIALOGUE

    @property
    def deadline(self) -> datetime:
        """Late from here on: slot + window + grace, never before the gateway can report."""
        granted = self.at + timedelta(minutes=self.slot.window_min + self.slot.grace_min)
        return max(granted, self.answer_by + UPLOAD_MARGIN)


def dialogue_cutoff(started: datetime) -> datetime:
    """No turn of a dialogue begun at `started` starts after this (a listen ends by it), so
    the dialogue is over by started + MAX_DIALOGUE; what is known by then is reported."""
    return started + MAX_DIALOGUE - MAX_PROMPT


def occurrence_on(slot: S, day: date, zone: ZoneInfo) -> SlotOccurrence[S]:
    return SlotOccurrence(slot, day, local_instant(day, parse_hhmm(slot.time), zone))


def active_pause(pauses: Iterable[PauseRule], at: datetime) -> PauseRule | None:
    for pause in pauses:
        if pause.starts_at <= at and (pause.ends_at is None or at < pause.ends_at):
            return pause
    return None


class Skip(StrEnum):
    """Why a slot occurrence is not expected."""

    PAUSED = "paused"
    DAY_OFF = "day_off"


def skip_reason(
    occ: SlotOccurrence[S], pauses: Iterable[PauseRule], days_off: Collection[date]
) -> Skip | None:
    """The one rule both sides apply: a day off (local date) or a pause covering the slot."""
    if occ.local_date in days_off:
        return Skip.DAY_OFF
    if active_pause(pauses, occ.at) is not None:
        return Skip.PAUSED
    return None


def occurrences(
    slots: Sequence[S],
    zone_name: str,
    start: datetime,
    end: datetime,
    days_off: Collection[date] = (),
) -> list[SlotOccurrence[S]]:
    """Every slot occurrence with start <= at < end not on a day off, in time order."""
    zone = ZoneInfo(zone_name)
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    found: list[SlotOccurrence[S]] = []
    while day <= last:
        if day not in days_off:
            for slot in slots:
                occ = occurrence_on(slot, day, zone)
                if start <= occ.at < end:
                    found.append(occ)
        day += timedelta(days=1)
    return sorted(found, key=lambda o: o.at)


def next_deadline(
    slots: Sequence[S],
    zone_name: str,
    after: datetime,
    pauses: Iterable[PauseRule] = (),
    days_off: Iterable[date] = (),
    after_slot: tuple[date, str] | None = None,
) -> SlotOccurrence[S] | None:
    """The expected occurrence with the earliest deadline after `after`.

    Deadlines are walked in the order (deadline, local date, slot name). Without `after_slot`
    the result's deadline is strictly after `after`; with the (local date, name) of the
    occurrence just handled at `after`, another slot with that very deadline comes next
    instead of being skipped.
    """
    if not slots:
        return None
    zone = ZoneInfo(zone_name)
    pauses = list(pauses)
    skip_days = set(days_off)
    floor = _DeadlineKey(after, *(after_slot or (date.max, "")))
    best: SlotOccurrence[S] | None = None
    # Start a day early: a late-evening slot's deadline can fall after local midnight.
    first_day = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        # No slot of this day or later can end before the day starts: done.
        if best is not None and local_instant(day, TimeOfDay(0), zone) > best.deadline:
            break
        for occ in (occurrence_on(s, day, zone) for s in slots):
            key = _key(occ)
            if key <= floor or (best is not None and key >= _key(best)):
                continue
            if skip_reason(occ, pauses, skip_days) is None:
                best = occ
    return best


def is_late(deadline: datetime, now: datetime) -> bool:
    """An unanswered slot is late from its deadline on, that instant included: the cloud's
    detector opens the incident (households.next_deadline <= now) at this very moment, and
    the board turns the slot red at this same one, so desk and board never disagree."""
    return now >= deadline


class _DeadlineKey(NamedTuple):
    deadline: datetime
    local_date: date
    slot: str


def _key(occ: SlotOccurrence[S]) -> _DeadlineKey:
    return _DeadlineKey(occ.deadline, occ.local_date, occ.slot.name)


def slot_for_answer(slots: Sequence[S], reported: str) -> S | None:
    """Gateways name a slot by its name ("morning") or by its time ("08:00")."""
    for slot in slots:
        if reported in (slot.name, slot.time):
            return slot
    return None


# --- the gateway's per-occurrence decision ------------------------------------------------


@dataclass
class SlotProgress:
    """What the gateway has done for one occurrence (stored in its small state)."""

    attempts: int = 0
    last_attempt_at: datetime | None = None
    done: bool = False


class Step(StrEnum):
    WAIT = "wait"
    ASK = "ask"
    REPORT_NO_RESPONSE = "report_no_response"
    REPORT_PAUSED = "report_paused"


@dataclass(frozen=True)
class Decision:
    step: Step
    until: datetime | None = None  # WAIT: next moment worth looking again
    attempt: int = 0  # ASK: 0 = first ask, 1.. = re-asks
    reason: str = "silent"  # REPORT_NO_RESPONSE: silent | gateway_down


def decide(
    occ: SlotOccurrence[S], progress: SlotProgress, now: datetime, pauses: Iterable[PauseRule]
) -> Decision:
    """What to do now for one occurrence. Never skips silently: every path ends in a report.

    Days off never reach here: `occurrences` leaves them out (the cloud expects nothing).
    """
    if progress.done:
        return Decision(Step.WAIT, until=None)
    if progress.attempts == 0 and active_pause(pauses, occ.at) is not None:
        return Decision(Step.REPORT_PAUSED)
    times = occ.attempt_times()
    if progress.attempts >= len(times):
        return Decision(Step.REPORT_NO_RESPONSE, reason="silent")
    if now >= occ.window_end:
        # The window passed without us asking (powered off, or the clock jumped over it).
        reason = "gateway_down" if progress.attempts == 0 else "silent"
        return Decision(Step.REPORT_NO_RESPONSE, reason=reason)
    next_at = times[progress.attempts]
    if progress.last_attempt_at is not None:
        next_at = max(next_at, progress.last_attempt_at + MIN_REASK_GAP)
    if now >= next_at:
        return Decision(Step.ASK, attempt=progress.attempts)
    return Decision(Step.WAIT, until=min(next_at, occ.window_end))


def current_occurrence(
    slots: Sequence[S],
    zone_name: str,
    now: datetime,
    done_keys: Collection[str] = (),
    days_off: Collection[date] = (),
) -> SlotOccurrence[S] | None:
    """The latest slot whose window is open now (for the help button's 'I'm fine' press)."""
    found = occurrences(
        slots, zone_name, now - timedelta(days=1), now + timedelta(seconds=1), days_off
    )
    for occ in reversed(found):
        if occ.at <= now < occ.window_end and occ.key not in done_keys:
            return occ
    return None


def lookback_start(now: datetime, tracking_since: datetime | None) -> datetime:
    floor = now - MAX_LOOKBACK
    return floor if tracking_since is None else max(floor, tracking_since)


# --- quiet hours and the voice of re-asks --------------------------------------------------


def in_quiet_hours(quiet: QuietRule, at: datetime, zone_name: str) -> bool:
    local = at.astimezone(ZoneInfo(zone_name)).time()
    start, end = parse_hhmm(quiet.start), parse_hhmm(quiet.end)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps over midnight


def quiet_hours_end(quiet: QuietRule, at: datetime, zone_name: str) -> datetime:
    """The next moment quiet hours end after `at` (for deferring announcements)."""
    zone = ZoneInfo(zone_name)
    local = at.astimezone(zone)
    end = local_instant(local.date(), parse_hhmm(quiet.end), zone)
    if end <= at:
        end = local_instant(local.date() + timedelta(days=1), parse_hhmm(quiet.end), zone)
    return end


def attempt_voice(speed: float, volume: float, attempt: int, quiet: bool) -> tuple[float, float]:
    """Re-asks are slower and louder; in quiet hours slower only (never louder at night)."""
    # The floor never lifts a speed staff set lower for the resident (cloud tts_speed 0.5).
    slower = max(min(MIN_SPEED, speed), speed * (1 - SLOWER_PER_ATTEMPT * attempt))
    louder = volume if quiet else min(MAX_VOLUME, volume * (1 + LOUDER_PER_ATTEMPT * attempt))
    return round(slower, 3), round(louder, 3)
