"""What the gateway needs from speech: a voice that can say and listen.

Implementations: speech.voice.LocalVoice (sounddevice + vosk + pyopenjtalk) and
speech.voice.TextVoice (a clearly labelled text-answer simulator for demos and tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Heard:
    """A final recognition result (never a partial one)."""

    text: str  # normalised (no ASR spaces)
    confidence: float  # 0..1, from the recogniser; not a reject signal on its own
    ended_at: float  # time.monotonic() at end of speech, for latency figures


class Voice(Protocol):
    async def say(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> None:
        """Speak text and return when playback has finished."""

    async def listen(self, *, timeout_s: float, expect: str = "any") -> Heard | None:
        """Return the resident's next utterance, or None when nobody spoke within timeout_s.

        `expect` names the grammar to prefer ("health", "yesno", "safety", "any").
        """
