"""SatelliteVoice: the resident's voice through a Rhasspy Hermes satellite in another room.

Prompts are rendered by the same PromptRenderer as LocalVoice (cached WAV) and sent as
`playBytes`; say() returns when the satellite reports `playFinished`, or raises
SatelliteNotRespondingError after the prompt's length plus a margin (counted, never a hang).
listen() feeds the satellite's `audioFrame` stream into the same recognizer and listening
window as LocalVoice (speech.voice.answer_recognizer + listen_on) in a worker thread; audio
the satellite recorded while it was playing our prompt is dropped at playFinished.

The satellite object is firmware_bridge.hermes.HermesSatellite (duck-typed here so speech/
does not import the bridge): `site_id`, `async play(wav, *, timeout_s, flush_echo)`,
`audio(idle_timeout_s=...)` (an async iterator of 16 kHz int16 PCM chunks).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import wave
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speech.ports import Heard
from speech.voice import answer_recognizer, listen_on, load_voice_model

if TYPE_CHECKING:
    from speech.recognition import EndpointConfig
    from speech.tts import PromptRenderer

log = logging.getLogger(__name__)

SATELLITE_SAMPLE_RATE = 16000  # HermesSatellite delivers 16 kHz mono int16 whatever it gets


class SatelliteNotRespondingError(RuntimeError):
    """The satellite did not confirm playback (playFinished) in time: offline or broken."""


def wav_seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav), "rb") as src:
        return src.getnframes() / src.getframerate()


class SatelliteVoice:
    """speech.ports.Voice over one Hermes satellite (siteId). Use inside one asyncio loop."""

    simulated = False

    def __init__(
        self,
        satellite: Any,
        renderer: PromptRenderer,
        *,
        lang: str = "ja",
        model_path: Path | None = None,
        endpoint: EndpointConfig | None = None,
        use_grammar: bool = True,
        free_fallback: bool = True,
        view_cache: Path | None = None,
        play_margin_s: float = 10.0,
        frame_gap_s: float = 3.0,
    ) -> None:
        self.satellite = satellite
        self.renderer = renderer
        self.lang = lang
        self.free_fallback = free_fallback and use_grammar
        self.model = load_voice_model(
            lang, model_path, grammar_only=use_grammar and not free_fallback, view_cache=view_cache
        )
        self.endpoint = endpoint
        self.use_grammar = use_grammar
        self.play_margin_s = play_margin_s  # beyond the prompt's own length
        self.frame_gap_s = frame_gap_s  # no frame for this long = the satellite stopped
        self.counters: Counter[str] = Counter()
        self.last_used_fallback = False
        self._lock = asyncio.Lock()  # one conversation at a time on one satellite

    @property
    def site_id(self) -> str:
        return self.satellite.site_id

    async def say(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> None:
        path = await asyncio.to_thread(self.renderer.render, text, speed=speed, volume=volume)
        wav = await asyncio.to_thread(Path(path).read_bytes)
        timeout_s = wav_seconds(wav) + self.play_margin_s
        async with self._lock:
            try:
                await self.satellite.play(wav, timeout_s=timeout_s, flush_echo=True)
            except TimeoutError:
                self.counters["play_timeout"] += 1
                raise SatelliteNotRespondingError(
                    f"satellite {self.site_id!r} did not confirm playback (no "
                    f"hermes/audioServer/{self.site_id}/playFinished within {timeout_s:.1f} s): "
                    "is it online and subscribed to playBytes?"
                ) from None
        self.counters["played"] += 1

    async def listen(self, *, timeout_s: float, expect: str = "any") -> Heard | None:
        rec = answer_recognizer(
            self.model,
            self.lang,
            expect,
            sample_rate=SATELLITE_SAMPLE_RATE,
            endpoint=self.endpoint,
            use_grammar=self.use_grammar,
            free_fallback=self.free_fallback,
        )
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def blocking() -> Heard | None:
            with contextlib.closing(self._frames(loop, stop)) as chunks:
                return listen_on(chunks, rec, timeout_s)

        async with self._lock:
            try:
                heard = await asyncio.to_thread(blocking)
            finally:
                stop.set()  # a cancelled listen must not keep the worker reading frames
        self.last_used_fallback = rec.used_fallback
        self.counters["heard" if heard is not None else "silent"] += 1
        return heard

    def _frames(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> Iterator[bytes]:
        """The satellite's async audio stream as a blocking iterator for the worker thread.

        Ends when `stop` is set or when the satellite sent nothing for frame_gap_s (a
        satellite that stops streaming gives silence, not a hang)."""
        stream = self.satellite.audio(idle_timeout_s=self.frame_gap_s)

        async def next_chunk() -> bytes | None:
            return await anext(stream, None)

        try:
            while not stop.is_set():
                pending = asyncio.run_coroutine_threadsafe(next_chunk(), loop)
                try:
                    # bounded: a loop that is shutting down never runs next_chunk()
                    chunk = pending.result(timeout=self.frame_gap_s + 5.0)
                except TimeoutError:
                    pending.cancel()
                    chunk = None
                if chunk is None:
                    self.counters["stream_gap"] += 1
                    log.warning(
                        "satellite %s sent no audio for %.1f s", self.site_id, self.frame_gap_s
                    )
                    return
                yield chunk
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                asyncio.run_coroutine_threadsafe(stream.aclose(), loop)


def build_satellite_voice(
    satellite: Any,
    *,
    lang: str = "ja",
    model_path: Path | str | None = None,
    tts_cache_dir: Path | str | None = None,
    endpoint: EndpointConfig | None = None,
    free_fallback: bool = True,
    view_cache: Path | None = None,
) -> SatelliteVoice:
    """The gateway's satellite voice from its config. Raises ModelNotFoundError with a clear
    message when the model is missing."""
    from speech.tts import PromptRenderer

    path = Path(model_path) if model_path else None
    renderer = PromptRenderer(tts_cache_dir)
    return SatelliteVoice(
        satellite,
        renderer,
        lang=lang,
        model_path=path,
        endpoint=endpoint,
        free_fallback=free_fallback,
        view_cache=view_cache,
    )
