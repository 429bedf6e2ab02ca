"""Voices: implementations of speech.ports.Voice.

- TextVoice: a clearly labelled TEXT-ANSWER SIMULATOR (no audio at all) for demos and tests:
  it is given the resident's answers as text up front and records what it was told to say.
- LocalVoice: the real thing on a gateway: sounddevice capture and playback, vosk
  recognition, pyopenjtalk prompts. Blocking work runs in worker threads.
- SatelliteVoice (speech/satellite_voice.py): the same recognition and prompts, with a Rhasspy
  Hermes satellite speaker in another room as microphone and loudspeaker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from speech.audio import FileSource
from speech.frontend import LIVE, ROOM_S, FrontEnd, FrontEndConfig, processed
from speech.intents import EXPECTS, is_acceptable, is_help_phrase, normalise_asr
from speech.ports import Heard
from speech.understanding import understand

if TYPE_CHECKING:
    from speech.audio import AudioDevice
    from speech.recognition import EndpointConfig, StreamRecognizer
    from speech.tts import PromptRenderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Said:
    text: str
    speed: float
    volume: float


class TextVoice:
    """TEXT-ANSWER SIMULATOR, not a microphone: answers are given as text in advance.

    Each listen() takes the next answer: a str is "heard" (normalised like ASR output), None
    is silence (listen returns None at once, no real waiting). When the answers run out,
    every further listen() is silence. `said` records every say() call in order.
    Answers can also be pushed later with `add_answer()` (e.g. by a demo's stdin reader).
    """

    simulated = True

    def __init__(self, answers: Iterable[str | None] = (), *, confidence: float = 1.0) -> None:
        self._answers: collections.deque[str | None] = collections.deque(answers)
        self._confidence = confidence
        self.said: list[Said] = []
        self.listens: list[tuple[float, str]] = []  # (timeout_s, expect) per listen()

    def add_answer(self, answer: str | None) -> None:
        self._answers.append(answer)

    @property
    def remaining(self) -> int:
        return len(self._answers)

    @property
    def said_texts(self) -> list[str]:
        return [s.text for s in self.said]

    async def say(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> None:
        self.said.append(Said(text, speed, volume))
        await asyncio.sleep(0)

    async def listen(self, *, timeout_s: float, expect: str = "any") -> Heard | None:
        self.listens.append((timeout_s, expect))
        await asyncio.sleep(0)
        if not self._answers:
            return None
        answer = self._answers.popleft()
        if answer is None:
            return None
        return Heard(normalise_asr(answer), self._confidence, time.monotonic())


class LocalVoice:
    """Microphone + speaker + vosk + pyopenjtalk, behind the Voice protocol.

    device: anything with `sample_rate`, `capture_chunks()`, `capture_room(seconds)` and
    `play_wav(path)`: an speech.audio.AudioDevice, or a ReplayDevice for recorded audio.
    Each listen() gets its own recognizer (grammar mode: ~1 ms to build) for the expected
    kind of answer.

    front_end (speech.frontend; LIVE by default, None for raw audio): with its spectral gate,
    say() first listens to the room for `room_s` (before the prompt is played, so the
    prompt is not in it) and the next answer is cleaned against that noise profile. A
    listen() with no prompt before it (help spotting) hears the raw microphone.
    """

    simulated = False

    def __init__(
        self,
        device: AudioDevice | ReplayDevice,
        renderer: PromptRenderer,
        *,
        lang: str = "ja",
        model_path: Path | None = None,
        endpoint: EndpointConfig | None = None,
        use_grammar: bool = True,
        free_fallback: bool = True,
        view_cache: Path | None = None,
        front_end: FrontEndConfig | None = LIVE,
        room_s: float = ROOM_S,
    ) -> None:
        self.device = device
        self.front_end = front_end
        self.room_s = room_s
        self.room: bytes | None = None  # the room heard before the last prompt
        self.renderer = renderer
        self.lang = lang
        self.free_fallback = free_fallback and use_grammar
        self.model = load_voice_model(
            lang, model_path, grammar_only=use_grammar and not free_fallback, view_cache=view_cache
        )
        self.endpoint = endpoint
        self.use_grammar = use_grammar
        self.last_used_fallback = False
        self._lock = threading.Lock()  # one conversation at a time on one device

    async def say(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> None:
        await asyncio.to_thread(self._say_blocking, text, speed, volume)

    def _say_blocking(self, text: str, speed: float, volume: float) -> None:
        wav = self.renderer.render(text, speed=speed, volume=volume)
        with self._lock:
            if self.front_end is not None and self.front_end.denoise:
                self.room = self.device.capture_room(self.room_s)
            self.device.play_wav(wav)

    async def listen(self, *, timeout_s: float, expect: str = "any") -> Heard | None:
        return await asyncio.to_thread(self._listen_blocking, timeout_s, expect)

    def recognizer(self, expect: str = "any") -> StreamRecognizer:
        """A fresh recognizer for one answer (see answer_recognizer)."""
        return answer_recognizer(
            self.model,
            self.lang,
            expect,
            sample_rate=self.device.sample_rate,
            endpoint=self.endpoint,
            use_grammar=self.use_grammar,
            free_fallback=self.free_fallback,
        )

    def _listen_blocking(self, timeout_s: float, expect: str) -> Heard | None:
        rec = self.recognizer(expect)
        front = self._answer_front_end()
        with self._lock, contextlib.closing(self.device.capture_chunks()) as chunks:
            heard = listen_on(processed(front, chunks) if front else chunks, rec, timeout_s)
        self.last_used_fallback = rec.used_fallback
        return heard

    def _answer_front_end(self) -> FrontEnd | None:
        """A front end for the answer to the last prompt, with the room heard before it; the
        room is used once (the next prompt hears it again)."""
        config, room, self.room = self.front_end, self.room, None
        if config is None or (config.denoise and room is None):
            return None
        return FrontEnd(config, self.device.sample_rate, room=room)

    def watch_for_help(self, stop: threading.Event, *, chunk_limit_s: float | None = None):
        """Between dialogues: listen until a final result asks for help (returned as Heard)
        or `stop` is set (returns None). Blocking: run it in a thread."""
        rec = self.recognizer("any")
        with self._lock, contextlib.closing(self.device.capture_chunks(chunk_limit_s)) as chunks:
            for chunk in chunks:
                if stop.is_set():
                    return None
                heard = rec.feed(chunk)
                if heard is not None and self._may_ask_for_help(heard.text):
                    return heard
            heard = rec.finish()
        return heard if heard is not None and self._may_ask_for_help(heard.text) else None

    def _may_ask_for_help(self, text: str) -> bool:
        """The stream's filter. A classifier fault hands the text on: the help spotter reads
        it the safe way and counts the fault (gateway.help_spotter), so nothing is dropped."""
        try:
            return is_help_phrase(text, self.lang)
        except Exception:
            return True


def load_voice_model(
    lang: str, model_path: Path | None, *, grammar_only: bool, view_cache: Path | None = None
):
    """The shared vosk model a voice decodes with. Grammar-only (no free-form fallback):
    the model's grammar-only view (speech.recognition.grammar_only_view) without the
    free-form language model, with only the lexicon's words and the graph cut down to them
    (built once, in a child process; ~230 MB less resident than the whole model on the
    Korean one); unclear answers then get the dialogue's re-asks and confirmation."""
    # vosk is imported only for a real voice
    from speech.intents import get_lexicon
    from speech.recognition import get_model, grammar_only_view, model_dir

    if grammar_only:
        cache = view_cache or Path(tempfile.gettempdir()) / "mimamori-vosk-views"
        vocabulary = get_lexicon(lang).spoken_phrases()
        model_path = grammar_only_view(
            model_dir(lang, model_path), cache, vocabulary, in_child=True
        )
    return get_model(lang, model_path)


def build_local_voice(
    *,
    lang: str = "ja",
    input_device: str | int | None = None,
    output_device: str | int | None = None,
    model_path: Path | str | None = None,
    tts_cache_dir: Path | str | None = None,
    endpoint: EndpointConfig | None = None,
    free_fallback: bool = True,
    view_cache: Path | None = None,
    front_end: FrontEndConfig | None = LIVE,
) -> LocalVoice:
    """The gateway's real voice from its config. Raises (AudioDeviceError,
    ModelNotFoundError) with a clear message when the sound card or the model is missing."""
    from speech.audio import AudioDevice
    from speech.tts import PromptRenderer

    device = AudioDevice(input_device, output_device)
    renderer = PromptRenderer(tts_cache_dir)
    path = Path(model_path) if model_path else None
    return LocalVoice(
        device,
        renderer,
        lang=lang,
        model_path=path,
        endpoint=endpoint,
        free_fallback=free_fallback,
        view_cache=view_cache,
        front_end=front_end,
    )


class ReplayDevice:
    """Recorded audio in, played prompts recorded: LocalVoice without a sound card.

    Every listen() consumes the next source (a FileSource, or raw PCM bytes); when none are
    left it hears silence. Every capture_room() (before a prompt) consumes the next of
    `rooms`, else hears a quiet room. Played WAV paths are kept in `played`.
    """

    def __init__(
        self,
        sources: Iterable[FileSource | bytes] = (),
        *,
        sample_rate: int = 16000,
        rooms: Iterable[bytes] = (),
    ):
        self.sample_rate = sample_rate
        self._sources = collections.deque(sources)
        self._rooms = collections.deque(rooms)  # what the room sounds like before prompts
        self.played: list[Path] = []
        self.rooms_heard = 0

    def capture_room(self, seconds: float) -> bytes:
        """The next recorded room (cut or padded with silence to `seconds`), else a quiet
        room."""
        self.rooms_heard += 1
        want = int(seconds * self.sample_rate) * 2
        room = self._rooms.popleft() if self._rooms else b""
        return room[:want] + bytes(max(0, want - len(room)))

    def add(self, source: FileSource | bytes) -> None:
        self._sources.append(source)

    def capture_chunks(self, max_s: float | None = None) -> Iterator[bytes]:
        source = self._sources.popleft() if self._sources else b""
        pcm = source if isinstance(source, bytes) else source.pcm()
        pcm += bytes(int(30 * self.sample_rate) * 2)  # then silence, like a quiet room
        if max_s is not None:
            pcm = pcm[: int(max_s * self.sample_rate) * 2]
        step = int(0.1 * self.sample_rate) * 2
        for i in range(0, len(pcm), step):
            yield pcm[i : i + step]

    def play_wav(self, path: Path | str) -> None:
        self.played.append(Path(path))


def answer_recognizer(
    model,
    lang: str,
    expect: str = "any",
    *,
    sample_rate: int = 16000,
    endpoint: EndpointConfig | None = None,
    use_grammar: bool = True,
    free_fallback: bool = True,
) -> StreamRecognizer:
    """A fresh recognizer for one answer: grammar from the lexicon for `expect`, with the
    free-form fallback when the grammar result does not classify. Shared by every voice that
    recognises audio (LocalVoice, SatelliteVoice)."""
    from speech.recognition import StreamRecognizer, grammar_phrases

    # "help" (spotting between dialogues) uses the whole lexicon as its grammar, so that
    # other speech lands on other words instead of being forced onto 助けて.
    expect = expect if expect in EXPECTS else "any"
    phrases = grammar_phrases(lang, expect, model) if use_grammar else None

    def usable(text: str) -> bool:
        return is_acceptable(understand(text, lang, expect=expect))

    return StreamRecognizer(
        model,
        sample_rate=sample_rate,
        phrases=phrases,
        endpoint=endpoint,
        usable=usable,
        free_fallback=free_fallback,
    )


def listen_on(chunks: Iterable[bytes], rec: StreamRecognizer, timeout_s: float) -> Heard | None:
    """Feed audio to a recognizer until a final result, or None when nobody started speaking
    within `timeout_s` of audio. Time is counted in audio, so a replayed file behaves like a
    microphone. Speech that started inside the window is heard to its end."""
    bytes_per_s = rec.sample_rate * 2
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        heard = rec.feed(chunk)
        if heard is not None:
            return heard
        if fed >= timeout_s * bytes_per_s and not rec.in_speech:
            return None
    return rec.finish()
