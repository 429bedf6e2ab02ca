"""Help spotting: between dialogues, a help phrase heard becomes `help.requested` at once.

Listens only when the voice arbiter allows (never during a dialogue); a local voice streams
until help is heard or a dialogue claims the microphone, other voices are polled.

A classifier fault never silences a call for help: the heard text is read the safe way
(speech.intents.help_words_heard: a help phrase as written), the fault is counted
(`classifier_faults`, in the health status and /metrics) and logged without the words.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.logging_setup import log_event
from gateway.ports import HelpPhrase, Home
from gateway.voice_arbiter import VoiceArbiter
from mimamori_wire.v1 import AnswerSource, EventKind, HelpRequested
from speech.intents import fault_origin, help_words_heard

log = logging.getLogger(__name__)

HELP_SPOT_WINDOW_S = 30.0  # audio per help-spotting turn (a dialogue interrupts it at once)
MIN_TURN_S = 0.5  # a voice that returns at once must not spin


class HelpSpotter:
    def __init__(
        self,
        home: Home,
        arbiter: VoiceArbiter,
        help_phrase: HelpPhrase | None,
        fallback: HelpPhrase = help_words_heard,
    ) -> None:
        self.home = home
        self.arbiter = arbiter
        self.help_phrase = help_phrase
        self.fallback = fallback  # the safe reading when help_phrase raises

    def enabled(self) -> bool:
        if self.arbiter.voice is None or self.help_phrase is None:
            return False
        # A satellite streams its microphone all the time, so it can listen for help too.
        settings = self.home.settings
        return settings.help_phrase_spotting and settings.voice_mode != "text-sim"

    async def once(self, timeout_s: float = 5.0) -> bool:
        if self.help_phrase is None:
            return False
        heard = await self.arbiter.listen_for_help(timeout_s)
        cfg = self.home.cloud_config
        if heard is None or not self.asks_for_help(heard.text, cfg.language):
            return False
        transcript = heard.text[:2000] if cfg.share_transcripts else None
        event = await self.home.emit(
            EventKind.HELP_REQUESTED,
            HelpRequested(source=AnswerSource.VOICE, transcript=transcript),
        )
        log_event(log, "help.spotted", logging.WARNING, event_id=event.id if event else None)
        return True

    def asks_for_help(self, text: str, lang: str) -> bool:
        assert self.help_phrase is not None
        try:
            return self.help_phrase(text, lang)
        except Exception as exc:
            self.home.counters["classifier_faults"] += 1
            origin = fault_origin(exc)
            log_event(log, "help.classifier_fault", logging.ERROR, origin=origin, lang=lang)
            return self.fallback(text, lang)

    async def loop(self) -> None:
        while True:
            began = time.monotonic()
            await self.once(timeout_s=HELP_SPOT_WINDOW_S)
            if time.monotonic() - began < MIN_TURN_S:
                await asyncio.sleep(MIN_TURN_S)
