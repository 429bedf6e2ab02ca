"""The scheduler service: fire each slot at its local time, also offline, and never skip one
silently (every occurrence ends in an answer or a report). The maths is the rule book's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Protocol

from gateway.clock_watch import ClockWatch
from gateway.dialogue_runs import DialogueRuns
from gateway.logging_setup import log_event
from gateway.ports import Home
from gateway.schedule import (
    Decision,
    Occurrence,
    Step,
    current_occurrence,
    decide,
    lookback_start,
    occurrences,
)
from gateway.slot_book import SlotBook
from mimamori_wire.v1 import AnswerSource, CheckinAnswered, CheckinNoResponse, EventKind, Intent

log = logging.getLogger(__name__)

SCHEDULE_MAX_SLEEP_S = 30.0  # wake at least this often, so a clock jump is noticed quickly
MAX_DIALOGUES_PER_TICK = 20


class DuePlayer(Protocol):
    """Held announcements: played by the scheduler's tick once due."""

    async def play_due(self, now: datetime) -> None: ...


class Scheduler:
    def __init__(
        self, home: Home, book: SlotBook, runs: DialogueRuns, clock: ClockWatch, held: DuePlayer
    ) -> None:
        self.home = home
        self.book = book
        self.runs = runs
        self.clock = clock
        self.held = held
        self.reschedule = asyncio.Event()  # set when the config changed: look again now

    def decisions(self, now: datetime) -> list[tuple[Occurrence, Decision]]:
        cfg = self.home.cloud_config
        since = lookback_start(now, self.book.tracking_since() or now)
        found = occurrences(cfg, since, now + timedelta(seconds=1))
        return [(o, decide(o, self.book.progress(o.key), now, cfg.pauses)) for o in found]

    def missed_while_off(self, now: datetime) -> list[str]:
        return [
            occ.key
            for occ, decision in self.decisions(now)
            if decision.step == Step.REPORT_NO_RESPONSE and decision.reason == "gateway_down"
        ]

    async def tick(self) -> datetime:
        """Do whatever is due now; return when to look again."""
        jump = await self.clock.observe_jump()
        wake = None
        for _ in range(MAX_DIALOGUES_PER_TICK):  # a dialogue takes time: look again
            wake = await self._pass(jump)
            if wake is not None:
                break
        await self.held.play_due(self.home.now())
        return wake or self.home.now()

    async def _pass(self, jump: float | None) -> datetime | None:
        """One pass over the slots; None if a dialogue ran (time moved: pass again)."""
        now = self.home.now()
        wake = now + timedelta(seconds=SCHEDULE_MAX_SLEEP_S)
        for occ, decision in self.decisions(now):
            if decision.step == Step.ASK:
                await self.runs.ask_slot(occ, decision.attempt)
                return None
            if decision.step in (Step.REPORT_NO_RESPONSE, Step.REPORT_PAUSED):
                await self._report_unanswered(occ, decision, jump)
            elif decision.until is not None:
                wake = min(wake, decision.until)
        upcoming = occurrences(self.home.cloud_config, now, now + timedelta(days=1))
        if upcoming:
            wake = min(wake, upcoming[0].at)
        return wake

    async def _report_unanswered(
        self, occ: Occurrence, decision: Decision, jump: float | None
    ) -> None:
        raw = self.book.row(occ.key)
        reason = decision.reason
        if decision.step == Step.REPORT_PAUSED:
            reason = "paused"
        elif reason == "silent" and raw.get("heard"):
            reason = "not_understood"
        detail = "clock_jump" if reason == "gateway_down" and jump is not None else None
        if reason == "silent" and raw.get("audio_failed"):
            # Nobody was asked: the sound card or model failed. That is the gateway's fault,
            # and the cloud's "gateway" chain (check the device) is the right one.
            reason, detail = "gateway_down", "audio_unavailable"
        payload = CheckinNoResponse(
            slot=occ.slot.name,
            slot_date=occ.local_date.isoformat(),
            attempts=self.book.progress(occ.key).attempts,
            reason=reason,
        )
        if detail is not None:
            payload = CheckinNoResponse(**payload.model_dump(), detail=detail)
        event = await self.home.emit(EventKind.CHECKIN_NO_RESPONSE, payload)
        log_event(
            log,
            "slot.reported_unanswered",
            slot=occ.slot.name,
            slot_date=occ.local_date.isoformat(),
            reason=reason,
            detail=detail,
            attempts=payload.attempts,
            event_id=event.id if event else None,
        )
        if event is not None:
            self.book.save(occ.key, done=True, outcome=f"no_response:{reason}")
            self.runs.publish_checkin(occ, "paused" if reason == "paused" else "no_response", None)

    async def button_fine(self, device: str) -> None:
        """The help button's single press answers the open slot with "fine"."""
        now = self.home.now()
        occ = current_occurrence(self.home.cloud_config, now, self.book.done_keys())
        if occ is None:
            return
        event = await self.home.emit(
            EventKind.CHECKIN_ANSWERED,
            CheckinAnswered(
                slot=occ.slot.name,
                slot_date=occ.local_date.isoformat(),
                intent=Intent.FINE,
                confidence=1.0,
                attempts=max(1, self.book.progress(occ.key).attempts),
                source=AnswerSource.BUTTON,
                device=device,
            ),
        )
        log_event(
            log,
            "slot.answered_by_button",
            slot=occ.slot.name,
            slot_date=occ.local_date.isoformat(),
            device=device,
            event_id=event.id if event else None,
        )
        self.book.save(occ.key, done=True, outcome="button")
        self.runs.publish_checkin(occ, "button", Intent.FINE)

    def upcoming(self, now: datetime) -> list[Occurrence]:
        cfg = self.home.cloud_config
        return occurrences(cfg, now, now + timedelta(days=2))[: len(cfg.slots) or 1]

    async def loop(self) -> None:
        while True:
            wake = await self.tick()
            delay = (wake - self.home.now()).total_seconds()
            delay = min(max(delay, 0.0), SCHEDULE_MAX_SLEEP_S)
            self.reschedule.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reschedule.wait(), delay)
