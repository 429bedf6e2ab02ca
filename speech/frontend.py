"""Front-end processing of microphone audio before recognition: streaming, pure numpy.

Three steps, each cheap enough for a Raspberry Pi (a few vector operations per 0.1 s chunk):
- high-pass: the signal minus its 10 ms moving average removes DC offset, hum and rumble
  (cut-off ~100 Hz) that cheap USB microphones add;
- gain control: slowly steers the level of speech-like frames towards `target_dbfs`
  (a quiet resident far from the microphone, a loud one close to it), within bounds;
- voice-activity gate: frames not clearly above a tracked noise floor are attenuated, with a
  hangover so word endings are kept; the decoder then sees less television/babble between
  the resident's words.

State carries across chunks, so the result does not depend on how audio is chunked (up to the
gate's 20 ms frame boundary). One FrontEnd per stream; not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class FrontEndConfig:
    highpass_ms: float = 10.0  # moving-average window; 0 disables the high-pass
    agc: bool = True
    target_dbfs: float = -20.0  # level of active speech after gain control
    max_gain_db: float = 18.0
    min_gain_db: float = -6.0
    gain_step_db: float = 0.5  # per 20 ms frame: slow enough not to pump within a word
    gate: bool = False  # off by default: it cut babble accuracy (docs/benchmarks.md)
    gate_above_floor_db: float = 9.0  # a frame this far above the noise floor is speech
    gate_attenuation: float = 0.1  # -20 dB for frames judged not speech
    hangover_ms: float = 200.0
    floor_rise_db_per_s: float = 3.0  # noise floor follows upward slowly, downward at once


@dataclass
class FrontEnd:
    config: FrontEndConfig = field(default_factory=FrontEndConfig)
    sample_rate: int = SAMPLE_RATE
    _history: np.ndarray = field(init=False, repr=False)
    _pending: np.ndarray = field(init=False, repr=False)
    _floor_db: float | None = field(default=None, init=False)
    _gain_db: float = field(default=0.0, init=False)
    _hang: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        window = int(self.config.highpass_ms * self.sample_rate / 1000)
        self._window = max(window, 0)
        self._history = np.zeros(max(self._window - 1, 0))
        self._pending = np.zeros(0)
        self._frame = int(0.02 * self.sample_rate)
        self._hang_frames = int(self.config.hangover_ms / 20)

    def process(self, pcm: bytes) -> bytes:
        """16-bit mono PCM in, processed PCM out in whole 20 ms frames: what is not a whole
        frame yet is held back until the next call (or `flush`), so the delay is < 20 ms."""
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        buffered = np.concatenate([self._pending, self._highpass(x)])
        whole = buffered.size // self._frame * self._frame
        self._pending = buffered[whole:]
        frames = buffered[:whole].reshape(-1, self._frame)
        return _to_pcm([self._frame_out(f) for f in frames])

    def flush(self) -> bytes:
        """The held-back samples (end of stream), processed like a short frame."""
        rest, self._pending = self._pending, np.zeros(0)
        return _to_pcm([self._frame_out(rest)] if rest.size else [])

    def _highpass(self, x: np.ndarray) -> np.ndarray:
        if self._window < 2:
            return x
        joined = np.concatenate([self._history, x])
        kernel = np.ones(self._window) / self._window
        mean = np.convolve(joined, kernel, mode="valid")
        self._history = joined[-(self._window - 1) :]
        return x - mean

    def _frame_out(self, frame: np.ndarray) -> np.ndarray:
        cfg = self.config
        level_db = 10 * np.log10(float(np.mean(frame**2)) + 1.0)
        floor = self._track_floor(level_db)
        speech = level_db >= floor + cfg.gate_above_floor_db
        if speech:
            self._hang = self._hang_frames
        elif self._hang > 0:
            self._hang -= 1
        if cfg.agc and speech:
            self._steer_gain(level_db)
        gain = 10 ** (self._gain_db / 20) if cfg.agc else 1.0
        if cfg.gate and not speech and self._hang == 0:
            gain *= cfg.gate_attenuation
        return frame * gain

    def _track_floor(self, level_db: float) -> float:
        if self._floor_db is None or level_db < self._floor_db:
            self._floor_db = level_db
        else:
            self._floor_db += self.config.floor_rise_db_per_s * 0.02
        return self._floor_db

    def _steer_gain(self, level_db: float) -> None:
        cfg = self.config
        full_scale_db = 20 * np.log10(32768.0)
        wanted = cfg.target_dbfs + full_scale_db - level_db
        step = float(np.clip(wanted - self._gain_db, -cfg.gain_step_db, cfg.gain_step_db))
        self._gain_db = float(np.clip(self._gain_db + step, cfg.min_gain_db, cfg.max_gain_db))


def _to_pcm(frames: list[np.ndarray]) -> bytes:
    if not frames:
        return b""
    out = np.concatenate(frames)
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
