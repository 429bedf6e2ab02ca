"""Pure schedule maths: when each slot is due, re-asks, quiet hours, pauses, missed slots.

No I/O and no clock of its own: every function takes `now` (aware). The asyncio driver
(gateway.scheduler) asks `decide()` what to do for each slot occurrence and records progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from mimamori_wire.v1 import GatewayConfig, Pause, QuietHours, Slot

MAX_LOOKBACK = timedelta(days=7)  # after a long outage, report at most a week of missed slots
MIN_REASK_GAP = timedelta(minutes=5)  # never re-ask back to back (e.g. after a reboot)
SLOWER_PER_ATTEMPT = 0.15
LOUDER_PER_ATTEMPT = 0.25
MIN_SPEED = 0.6
MAX_VOLUME = 2.0


@dataclass(frozen=True)
class SlotOccurrence:
    slot: Slot
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


@dataclass
class SlotProgress:
    """What the gateway has done for one occurrence (stored in small state)."""

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


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def occurrences(cfg: GatewayConfig, start: datetime, end: datetime) -> list[SlotOccurrence]:
    """Every slot occurrence with start <= at < end, in time order (local time, DST-safe)."""
    tz = ZoneInfo(cfg.timezone)
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    found: list[SlotOccurrence] = []
    day = first
    while day <= last:
        for slot in cfg.slots:
            local = datetime.combine(day, parse_hhmm(slot.time), tzinfo=tz)
            at = local.astimezone(UTC)
            if start <= at < end:
                found.append(SlotOccurrence(slot, day, at))
        day += timedelta(days=1)
    return sorted(found, key=lambda o: o.at)


def active_pause(pauses: list[Pause], at: datetime) -> Pause | None:
    for pause in pauses:
        if pause.starts_at <= at and (pause.ends_at is None or at < pause.ends_at):
            return pause
    return None


def in_quiet_hours(quiet: QuietHours, at: datetime, tz: str) -> bool:
    local = at.astimezone(ZoneInfo(tz)).time()
    start, end = parse_hhmm(quiet.start), parse_hhmm(quiet.end)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps over midnight


def quiet_hours_end(quiet: QuietHours, at: datetime, tz: str) -> datetime:
    """The next moment quiet hours end after `at` (for deferring announcements)."""
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    end = datetime.combine(local.date(), parse_hhmm(quiet.end), tzinfo=zone)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def attempt_voice(speed: float, volume: float, attempt: int, quiet: bool) -> tuple[float, float]:
    """Re-asks are slower and louder; in quiet hours slower only (never louder at night)."""
    # The floor never lifts a speed staff set lower for the resident (cloud tts_speed 0.5).
    slower = max(min(MIN_SPEED, speed), speed * (1 - SLOWER_PER_ATTEMPT * attempt))
    louder = volume if quiet else min(MAX_VOLUME, volume * (1 + LOUDER_PER_ATTEMPT * attempt))
    return round(slower, 3), round(louder, 3)


def decide(
    occ: SlotOccurrence, progress: SlotProgress, now: datetime, pauses: list[Pause]
) -> Decision:
    """What to do now for one occurrence. Never skips silently: every path ends in a report."""
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
    cfg: GatewayConfig, now: datetime, done_keys: set[str] | None = None
) -> SlotOccurrence | None:
    """The latest slot whose window is open now (for the help button's 'I'm fine' press)."""
    for occ in reversed(occurrences(cfg, now - timedelta(days=1), now + timedelta(seconds=1))):
        if occ.at <= now < occ.window_end and (done_keys is None or occ.key not in done_keys):
            return occ
    return None


def lookback_start(now: datetime, tracking_since: datetime | None) -> datetime:
    floor = now - MAX_LOOKBACK
    return floor if tracking_since is None else max(floor, tracking_since)
