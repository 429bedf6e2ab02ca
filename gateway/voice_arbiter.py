"""One speaker, one microphone: who may talk (or listen) when.

A dialogue or an announcement takes a turn: it first tells help spotting to stop, then waits
for the voice. Help spotting listens only between turns, never during a dialogue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import datetime

from gateway.dialogue_runner import run_dialogue
from gateway.ports import (
    AudioDevice,
    Clock,
    Dialogue,
    DialogueResult,
    LabelledSimulator,
    LoadedModel,
    SatelliteSite,
    StreamingHelpWatch,
)
from speech.ports import Heard, Voice

log = logging.getLogger(__name__)


class VoiceArbiter:
    def __init__(self, voice: Voice | None) -> None:
        self.voice = voice
        self._lock = asyncio.Lock()
        self.dialogue_active = False
        self._spot_stop: threading.Event | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Voice]:
        """Take the voice for speaking/asking: stop help spotting first, then wait for it."""
        if self.voice is None:
            raise RuntimeError("no voice")
        if self._spot_stop is not None:
            self._spot_stop.set()
        async with self._lock:
            yield self.voice

    async def say(self, text: str, *, speed: float, volume: float) -> None:
        async with self.turn() as voice:
            await voice.say(text, speed=speed, volume=volume)

    async def converse(
        self, dialogue: Dialogue, *, clock: Clock | None = None, until: datetime | None = None
    ) -> DialogueResult:
        """Run one dialogue in one turn (help spotting waits until it is over), cut at
        `until` (waiting for the turn counts)."""
        async with self.turn() as voice:
            self.dialogue_active = True
            try:
                result: DialogueResult = await run_dialogue(
                    voice, dialogue, clock=clock, until=until
                )
                return result
            finally:
                self.dialogue_active = False

    async def listen_for_help(self, timeout_s: float) -> Heard | None:
        """Between turns: stream (LocalVoice) or poll `listen(expect="help")` for help."""
        voice = self.voice
        if self.dialogue_active or voice is None:
            return None
        async with self._lock:
            if isinstance(voice, StreamingHelpWatch):
                stop = threading.Event()
                self._spot_stop = stop
                try:
                    return await asyncio.to_thread(
                        voice.watch_for_help, stop, chunk_limit_s=timeout_s
                    )
                finally:
                    self._spot_stop = None
            return await voice.listen(timeout_s=timeout_s, expect="help")

    def audio_status(self) -> str:
        voice = self.voice
        if voice is None:
            return "unavailable"
        if isinstance(voice, LabelledSimulator) and voice.simulated:
            return "text-sim (TEXT-ANSWER SIMULATOR, no microphone)"
        if isinstance(voice, SatelliteSite):
            return f"satellite (Hermes site {voice.site_id})"
        if isinstance(voice, AudioDevice) and voice.device is not None:
            return f"local ({type(voice.device).__name__})"
        return "local"

    def model_status(self) -> str:
        voice = self.voice
        if voice is None:
            return "unavailable"
        if isinstance(voice, LabelledSimulator) and voice.simulated:
            return "none (simulator)"
        loaded = isinstance(voice, LoadedModel) and voice.model is not None
        return "loaded" if loaded else "unknown"
