"""The life-signs service: hourly activity summaries and the inactivity check.

No raw activity leaves the home; finished hours go up as `activity.summary`, and nothing
moving by the cloud's inactivity deadline becomes `inactivity` (rules in gateway/lifesigns).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from gateway.lifesigns import ActivitySummariser, InactivityRule, check_inactivity
from gateway.ports import Home, Monotonic
from mimamori_wire.v1 import EventKind

LIFESIGNS_TICK_S = 60.0
SUMMARY_PERSIST_S = 300.0
INACTIVITY_REPORTS_KEPT = 30


class LifeSigns:
    def __init__(self, home: Home, monotonic: Monotonic = time.monotonic) -> None:
        self.home = home
        self.monotonic = monotonic
        self.summariser = ActivitySummariser(home.settings.timezone)
        self._saved_at = 0.0

    def load(self) -> None:
        """After the small state is open: carry on with the hours already counted."""
        self.summariser = ActivitySummariser.from_state(
            self.home.cloud_config.timezone, self.home.state.get("activity")
        )

    def set_timezone(self, tz: str) -> None:
        self.summariser.tz = tz

    def add(self, at: datetime, room: str | None) -> None:
        self.summariser.add(at, room)

    def save(self) -> None:
        self.home.state.update(activity=self.summariser.to_state())

    async def tick(self) -> None:
        home, now = self.home, self.home.now()
        for summary in self.summariser.flush(now):
            await home.emit(EventKind.ACTIVITY_SUMMARY, summary, occurred_at=summary.hour_start)
        cfg = home.cloud_config
        span = home.settings.inactivity_span_h
        rule = InactivityRule(
            tz=cfg.timezone,
            deadline=cfg.inactivity_deadline,
            max_span=timedelta(hours=span) if span else None,
        )
        reported = dict(home.state.get("inactivity_reported") or {})
        found = check_inactivity(
            rule, now, self.summariser.last_activity, reported, self._watching_since()
        )
        if found is not None:
            payload, key = found
            if await home.emit(EventKind.INACTIVITY, payload) is not None:
                reported[key] = now.isoformat()
                recent = sorted(reported.items(), key=lambda kv: kv[1])
                home.state.update(inactivity_reported=dict(recent[-INACTIVITY_REPORTS_KEPT:]))
        if self.monotonic() - self._saved_at >= SUMMARY_PERSIST_S:
            self._saved_at = self.monotonic()
            self.save()

    def _watching_since(self) -> datetime:
        started = self.home.state.get("tracking_since")
        return datetime.fromisoformat(started) if started else self.home.now()

    async def loop(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(LIFESIGNS_TICK_S)
