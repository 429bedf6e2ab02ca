"""Japanese prompts with pyopenjtalk-plus, rendered once and cached on disk as WAV files.

The cache key is (text, voice, speed, volume, sample rate): a household's slower/louder
settings get their own files, and the daily prompts cost nothing after the first day.
Announcements are rendered on demand through the same cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from speech.audio import resample, write_wav
from speech.morphology import OPENJTALK_LOCK, import_pyopenjtalk

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(os.environ.get("MIMAMORI_TTS_CACHE", "/var/cache/mimamori/tts"))
DEFAULT_VOICE = "mei_normal"
_CACHE_FORMAT = 1  # bump when rendering changes, so old files are not reused
_synth_lock = OPENJTALK_LOCK  # pyopenjtalk keeps global state (shared with morphology)
_import_pyopenjtalk = import_pyopenjtalk


def _default_cache_dir() -> Path:
    """The system cache when it is writable (the gateway service), else the user's cache."""
    try:
        DEFAULT_CACHE_DIR.mkdir(parents=True, exist_ok=True)
        if os.access(DEFAULT_CACHE_DIR, os.W_OK):
            return DEFAULT_CACHE_DIR
    except OSError:
        pass
    fallback = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mimamori/tts"
    log.info("TTS cache %s not writable; using %s", DEFAULT_CACHE_DIR, fallback)
    return fallback


class PromptRenderer:
    """Text -> path of a cached 16-bit mono WAV.

    voice: "mei_normal" (bundled with pyopenjtalk) or a path to an .htsvoice file.
    speed: 1.0 normal, lower is slower (hard-of-hearing residents); volume: gain, 1.0 = as
    synthesised, clipped to the 16-bit range.
    """

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        voice: str = DEFAULT_VOICE,
        sample_rate: int = 48000,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        self.voice = voice
        self.sample_rate = sample_rate
        self.rendered = 0  # how many times the synthesiser actually ran (cache misses)
        self._engine = None

    def cache_path(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> Path:
        key = json.dumps(
            [_CACHE_FORMAT, text, self.voice, round(speed, 3), round(volume, 3), self.sample_rate],
            ensure_ascii=False,
        )
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self.cache_dir / digest[:2] / f"{digest}.wav"

    def render(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> Path:
        if not text.strip():
            raise ValueError("nothing to say: empty prompt text")
        if not 0.3 <= speed <= 3.0:
            raise ValueError(f"speed {speed} out of range 0.3..3.0")
        if not 0.0 < volume <= 4.0:
            raise ValueError(f"volume {volume} out of range (0, 4]")
        path = self.cache_path(text, speed=speed, volume=volume)
        if path.exists():
            return path
        pcm = self._synthesise(text, speed, volume)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a power cut never leaves a truncated prompt in the cache.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            write_wav(tmp, pcm, self.sample_rate)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    def _synthesise(self, text: str, speed: float, volume: float) -> bytes:
        pyopenjtalk = _import_pyopenjtalk()
        with _synth_lock:
            if self.voice == DEFAULT_VOICE:
                wave, rate = pyopenjtalk.tts(text, speed=speed, predict_nani=False)
            else:
                labels = pyopenjtalk.extract_fullcontext(text)
                engine = self._engine or pyopenjtalk.HTSEngine(str(self.voice).encode())
                self._engine = engine
                engine.set_speed(speed)
                wave = engine.synthesize(labels)
                rate = engine.get_sampling_frequency()
            self.rendered += 1
        pcm = np.clip(np.round(wave * volume), -32768, 32767).astype("<i2").tobytes()
        return resample(pcm, int(rate), self.sample_rate)
