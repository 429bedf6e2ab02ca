"""Rhasspy Hermes audio-server topics, so a satellite speaker in another room can be a voice.

In:  hermes/audioServer/<siteId>/audioFrame            (one small WAV file per message)
Out: hermes/audioServer/<siteId>/playBytes/<requestId> (a WAV file to play)
In:  hermes/audioServer/<siteId>/playFinished           (JSON {"id": requestId, "siteId": ...})

Frames arrive on paho's network thread and cross to the asyncio loop through a bounded
queue (a stalled consumer loses the oldest audio, counted, never blocks paho).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
import wave
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import numpy as np

from firmware_bridge.mqtt import MqttLink

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MAX_FRAME_BYTES = 256 * 1024


class BadWav(ValueError):
    pass


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """16-bit PCM -> a WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def wav_to_pcm16k(data: bytes) -> bytes:
    """Any 16-bit WAV chunk -> 16 kHz mono int16 PCM (what vosk wants)."""
    if len(data) > MAX_FRAME_BYTES:
        raise BadWav("oversize")
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            channels, width, rate = src.getnchannels(), src.getsampwidth(), src.getframerate()
            raw = src.readframes(src.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BadWav(str(exc)) from None
    if width != 2 or channels < 1 or rate <= 0:
        raise BadWav(f"unsupported format: {channels} ch, {width * 8} bit, {rate} Hz")
    if channels == 1 and rate == SAMPLE_RATE:
        return raw
    samples = np.frombuffer(raw[: len(raw) // (2 * channels) * 2 * channels], dtype="<i2")
    mono = samples.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and len(mono):
        n_out = max(1, round(len(mono) * SAMPLE_RATE / rate))
        positions = np.linspace(0, len(mono) - 1, n_out)
        mono = np.interp(positions, np.arange(len(mono)), mono)
    return np.clip(np.round(mono), -32768, 32767).astype("<i2").tobytes()


def wav_frames(
    pcm: bytes, *, samples_per_frame: int = 512, rate: int = SAMPLE_RATE
) -> Iterator[bytes]:
    """Split PCM into the small WAV messages a Hermes satellite streams (tests, demo)."""
    step = samples_per_frame * 2
    for start in range(0, len(pcm), step):
        yield wav_bytes(pcm[start : start + step], rate)


class HermesSatellite:
    """The gateway's side of one satellite (siteId). Construct inside the running loop."""

    def __init__(self, link: MqttLink, site_id: str, *, max_queued_frames: int = 2000) -> None:
        self.link = link
        self.site_id = site_id
        self.counters: Counter[str] = Counter()
        self._loop = asyncio.get_running_loop()
        self._frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=max_queued_frames)
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._flush_on_finish: set[str] = set()  # request ids whose echo is to be dropped
        base = f"hermes/audioServer/{site_id}"
        link.route(f"{base}/audioFrame", self._on_audio_frame)
        link.route(f"{base}/playFinished", self._on_play_finished)

    # --- audio in -------------------------------------------------------------------------------

    def _on_audio_frame(self, topic: str, payload: bytes) -> None:  # paho thread
        try:
            pcm = wav_to_pcm16k(payload)
        except BadWav as exc:
            self.counters["bad_wav"] += 1
            log.debug("Hermes audio frame from %s dropped: %s", self.site_id, exc)
            return
        self.counters["frames"] += 1
        self._to_loop(self._enqueue, pcm)

    def _to_loop(self, callback, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop has shut down; nobody is listening any more
            self.counters["after_shutdown"] += 1

    def _enqueue(self, pcm: bytes) -> None:
        if self._frames.full():
            self._frames.get_nowait()
            self.counters["frames_overflow"] += 1
        self._frames.put_nowait(pcm)

    async def audio(self, *, idle_timeout_s: float | None = None) -> AsyncIterator[bytes]:
        """16 kHz int16 mono PCM chunks as they arrive; ends when no frame came for
        idle_timeout_s (the satellite stopped streaming), or never when None."""
        while True:
            try:
                yield await asyncio.wait_for(self._frames.get(), idle_timeout_s)
            except TimeoutError:
                return

    def drain(self) -> None:
        """Forget audio queued before now (e.g. before asking a question)."""
        while not self._frames.empty():
            self._frames.get_nowait()

    # --- audio out ------------------------------------------------------------------------------

    async def play(self, wav: bytes, *, timeout_s: float = 60.0, flush_echo: bool = False) -> str:
        """Publish playBytes and wait for the satellite's playFinished; returns the request id.

        flush_echo: forget the audio that arrived while the satellite was playing (its own
        microphone hears the prompt), exactly at playFinished in message order, so that the
        first frame kept is the first one recorded after playback.
        Raises TimeoutError when the satellite does not confirm in time.
        """
        request_id = uuid.uuid4().hex
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending[request_id] = done
        if flush_echo:
            self._flush_on_finish.add(request_id)
        try:
            self.link.publish_bytes(
                f"hermes/audioServer/{self.site_id}/playBytes/{request_id}", wav
            )
            await asyncio.wait_for(done, timeout_s)
        finally:
            self._pending.pop(request_id, None)
            self._flush_on_finish.discard(request_id)
        return request_id

    def _on_play_finished(self, topic: str, payload: bytes) -> None:  # paho thread
        try:
            request_id = json.loads(payload).get("id")
        except (ValueError, AttributeError, UnicodeDecodeError):
            self.counters["bad_play_finished"] += 1
            return
        self._to_loop(self._finish, request_id)

    def _finish(self, request_id: object) -> None:
        future = self._pending.get(request_id) if isinstance(request_id, str) else None
        if future is None:
            self.counters["play_finished_unknown"] += 1
        elif not future.done():
            if request_id in self._flush_on_finish:
                self.counters["echo_frames_dropped"] += self._frames.qsize()
                self.drain()
            future.set_result(None)
