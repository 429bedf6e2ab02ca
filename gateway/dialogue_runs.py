"""Dialogue runs: ask a slot, a re-prompt or a safety check, and record what came of it.

The scheduler and the command handler decide *when*; this module runs the conversation
through the voice arbiter and turns its result into events (mapping in dialogue_runner, the
meaning of outcomes in the rule book).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from gateway.dialogue_runner import SlotContext, checkin_events, heard_anything, safety_events
from gateway.logging_setup import log_event
from gateway.ports import Bridge, DialogueFactory, DialogueResult, Home
from gateway.schedule import Occurrence, attempt_voice, in_quiet_hours, occurrences
from gateway.slot_book import SlotBook
from gateway.voice_arbiter import VoiceArbiter
from mimamori_rules.schedule import dialogue_cutoff
from mimamori_wire.v1 import Question

log = logging.getLogger(__name__)

FAREWELL_SPEED = 0.9  # after a help request: calm and a little slow


class DialogueRuns:
    def __init__(
        self,
        home: Home,
        arbiter: VoiceArbiter,
        dialogue_factory: DialogueFactory | None,
        book: SlotBook,
        bridge: Bridge | None,
    ) -> None:
        self.home = home
        self.arbiter = arbiter
        self.dialogue_factory = dialogue_factory
        self.book = book
        self.bridge = bridge

    async def converse(
        self,
        *,
        questions: Sequence[str],
        kind: str,
        speed: float,
        volume: float,
        slot_name: str,
        prompts: dict[str, str] | None = None,
    ) -> DialogueResult | None:
        """One dialogue over the voice; None (counted) when speech is not available."""
        if self.arbiter.voice is None or self.dialogue_factory is None:
            self.home.counters["dialogue_unavailable"] += 1
            log_event(log, "dialogue.unavailable", logging.ERROR, kind=kind, slot=slot_name)
            return None
        cfg = self.home.cloud_config
        dialogue = self.dialogue_factory(
            questions=list(questions),
            kind=kind,
            lang=cfg.language,
            prompts={**cfg.prompts, **(prompts or {})},
            speed=speed,
            volume=volume,
            slot_name=slot_name,
        )
        # The rule book's bound: the outcome is known (and reported) before the deadline.
        until = dialogue_cutoff(self.home.now())
        try:
            result = await self.arbiter.converse(dialogue, clock=self.home.now, until=until)
            if result.classifier_faults:  # answers read as not understood (speech.dialogue)
                self.home.counters["classifier_faults"] += result.classifier_faults
            if self.home.now() >= until:
                self.home.counters["dialogue_cut_short"] += 1
                log_event(
                    log,
                    "dialogue.cut_short",
                    logging.WARNING,
                    kind=kind,
                    slot=slot_name,
                    outcome=str(result.outcome),
                )
            return result
        except Exception:
            self.home.counters["dialogue_errors"] += 1
            log_event(
                log, "dialogue.failed", logging.ERROR, exc_info=True, kind=kind, slot=slot_name
            )
            return None

    async def ask_slot(self, occ: Occurrence, attempt: int) -> None:
        home, cfg = self.home, self.home.cloud_config
        quiet = in_quiet_hours(cfg.quiet_hours, home.now(), cfg.timezone)
        speed, volume = attempt_voice(cfg.tts_speed, cfg.tts_volume, attempt, quiet)
        self.book.save(occ.key, attempts=attempt + 1, last_attempt_at=home.now().isoformat())
        slot = {"slot": occ.slot.name, "slot_date": occ.local_date.isoformat(), "attempt": attempt}
        log_event(log, "slot.started", **slot)
        result = await self.converse(
            questions=list(occ.slot.questions),
            kind="checkin",
            speed=speed,
            volume=volume,
            slot_name=occ.slot.name,
        )
        if result is None:
            self.book.save(occ.key, audio_failed=True)
            log_event(log, "slot.ended", logging.WARNING, **slot, outcome="audio_unavailable")
            return
        ctx = SlotContext(occ.slot.name, occ.local_date.isoformat(), attempt, cfg.share_transcripts)
        events = checkin_events(result, ctx)
        if heard_anything(result):
            self.book.save(occ.key, heard=True)
        stored = [await home.emit(kind, payload) for kind, payload in events]
        log_event(
            log,
            "slot.ended",
            **slot,
            outcome=str(result.outcome),
            intent=str(getattr(result.intent, "value", result.intent) or "") or None,
            reason=getattr(result, "reason", None),
            event_ids=[e.id for e in stored if e is not None],
        )
        if events:
            self.book.save(occ.key, done=True, outcome=str(result.outcome))
            self.publish_checkin(occ, str(result.outcome), result.intent)
            await self.farewell(result)

    def publish_checkin(self, occ: Occurrence, outcome: str, intent: object) -> None:
        """Mirror the last check-in (voice, button or unanswered) to MQTT (Home Assistant) via
        the bridge; best effort."""
        if self.bridge is None:
            return
        try:
            self.bridge.publish_checkin_state(
                {
                    "slot": occ.slot.name,
                    "slot_date": occ.local_date.isoformat(),
                    "outcome": outcome,
                    "intent": str(getattr(intent, "value", intent)) if intent else None,
                    "at": self.home.now().isoformat(),
                }
            )
        except Exception as exc:
            self.home.counters["checkin_publish_errors"] += 1
            log.warning("check-in state not published: %s", exc)

    async def farewell(self, result: DialogueResult) -> None:
        """After a help request the alarm is raised first; only then reassure the resident."""
        if result.farewell and self.arbiter.voice is not None:
            cfg = self.home.cloud_config
            # Calm and a little slow, never faster than this resident's own setting.
            speed = min(FAREWELL_SPEED, cfg.tts_speed)
            await self.arbiter.say(result.farewell, speed=speed, volume=cfg.tts_volume)

    async def safety_check(
        self, check_id: str, command_id: str, question: str | None
    ) -> str | None:
        """Ask the safety question; the outcome, or None when speech is unavailable."""
        cfg = self.home.cloud_config
        result = await self.converse(
            questions=[Question.HEALTH],
            prompts={"ask_safety": question} if question else {},
            kind="safety_check",
            speed=cfg.tts_speed,
            volume=cfg.tts_volume,
            slot_name="safety_check",
        )
        if result is None:
            return None
        for kind, payload in safety_events(result, check_id, command_id, cfg.share_transcripts):
            await self.home.emit(kind, payload)
        return str(result.outcome)

    async def reprompt(self, wanted: str | None) -> str | None:
        """Ask the most recent slot again now (the cloud's escalation step 0)."""
        now, cfg = self.home.now(), self.home.cloud_config
        recent = [
            o
            for o in occurrences(cfg, now - timedelta(hours=24), now + timedelta(seconds=1))
            if wanted is None or wanted in (o.slot.name, o.slot.time)
        ]
        occ = recent[-1] if recent else None
        questions = list(occ.slot.questions) if occ else [Question.HEALTH]
        attempt = len(occ.attempt_times()) if occ else 0
        quiet = in_quiet_hours(cfg.quiet_hours, now, cfg.timezone)
        speed, volume = attempt_voice(cfg.tts_speed, cfg.tts_volume, attempt, quiet)
        slot_name = occ.slot.name if occ else str(wanted or "reprompt")
        result = await self.converse(
            questions=questions, kind="checkin", speed=speed, volume=volume, slot_name=slot_name
        )
        if result is None:
            return None
        slot_date = occ.local_date.isoformat() if occ else None
        ctx = SlotContext(slot_name, slot_date, attempt, cfg.share_transcripts)
        events = checkin_events(result, ctx)
        for kind, payload in events:
            await self.home.emit(kind, payload)
        if occ is not None and events:
            self.book.save(occ.key, done=True, outcome=f"reprompt:{result.outcome}")
        return str(result.outcome)
