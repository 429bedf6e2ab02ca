"""Pure life-sign logic: hourly activity summaries per room and the inactivity watch.

Raw sensor activity never goes to the cloud one by one; it is counted per local hour and
room, and each finished hour becomes one `activity.summary` payload with the first/last
activity of the local day. No I/O here: the driver feeds events and `now`, and persists
`to_state()` now and then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mimamori_rules.schedule import parse_hhmm
from mimamori_wire.v1 import ActivitySummary, Inactivity

UNKNOWN_ROOM = "unknown"


def hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class ActivitySummariser:
    tz: str = "Asia/Tokyo"
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # hour iso -> room -> n
    first_of_day: datetime | None = None
    last_activity: datetime | None = None

    def add(self, at: datetime, room: str | None) -> None:
        at = at.astimezone(UTC)
        hour = hour_start(at).isoformat()
        rooms = self.counts.setdefault(hour, {})
        room_name = room or UNKNOWN_ROOM
        rooms[room_name] = rooms.get(room_name, 0) + 1
        if self.last_activity is None or self._local_date(at) != self._local_date(
            self.last_activity
        ):
            self.first_of_day = at  # first activity of a new local day
        if self.last_activity is None or at >= self.last_activity:
            self.last_activity = at

    def _local_date(self, at: datetime) -> Any:
        return at.astimezone(ZoneInfo(self.tz)).date()

    def flush(self, now: datetime) -> list[ActivitySummary]:
        """Summaries of every hour that has fully passed, oldest first; removes them."""
        current = hour_start(now).isoformat()
        done = sorted(h for h in self.counts if h < current)
        out = []
        for hour in done:
            out.append(
                ActivitySummary(
                    hour_start=datetime.fromisoformat(hour),
                    counts=self.counts.pop(hour),
                    first_activity_at=self.first_of_day,
                    last_activity_at=self.last_activity,
                )
            )
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "first_of_day": self.first_of_day.isoformat() if self.first_of_day else None,
            "last_activity": self.last_activity.isoformat() if self.last_activity else None,
        }

    @classmethod
    def from_state(cls, tz: str, data: dict[str, Any] | None) -> ActivitySummariser:
        data = data or {}
        first = data.get("first_of_day")
        last = data.get("last_activity")
        return cls(
            tz=tz,
            counts={h: dict(r) for h, r in (data.get("counts") or {}).items()},
            first_of_day=datetime.fromisoformat(first) if first else None,
            last_activity=datetime.fromisoformat(last) if last else None,
        )


@dataclass(frozen=True)
class InactivityRule:
    tz: str = "Asia/Tokyo"
    deadline: str | None = "10:00"  # no activity at all today by this local time
    max_span: timedelta | None = None  # or: no activity for this long at any time


def check_inactivity(
    rule: InactivityRule,
    now: datetime,
    last_activity: datetime | None,
    reported: dict[str, str],
    watching_since: datetime,
) -> tuple[Inactivity, str] | None:
    """An `inactivity` payload and its dedup key, or None. Each key is reported once.

    `watching_since` is when the gateway started listening to sensors: no activity seen
    before that is no evidence of inactivity.
    """
    zone = ZoneInfo(rule.tz)
    local_now = now.astimezone(zone)
    if rule.deadline:
        deadline = datetime.combine(local_now.date(), parse_hhmm(rule.deadline), tzinfo=zone)
        day_start = datetime.combine(local_now.date(), datetime.min.time(), tzinfo=zone)
        key = f"deadline/{local_now.date().isoformat()}"
        seen_today = last_activity is not None and last_activity >= day_start
        if (
            now >= deadline
            and not seen_today
            and watching_since <= day_start
            and key not in reported
        ):
            return Inactivity(since=last_activity, deadline_local=rule.deadline), key
    if rule.max_span:
        since = last_activity or watching_since
        key = f"span/{since.astimezone(UTC).isoformat()}"
        if now - since >= rule.max_span and key not in reported:
            hours = rule.max_span.total_seconds() / 3600
            return (
                Inactivity(since=last_activity, deadline_local=f"+{hours:g}h", span_h=hours),
                key,
            )
    return None
