"""Front-end processing of microphone audio before recognition: streaming, pure numpy.

Four steps, each cheap enough for a Raspberry Pi (front-end CPU real-time factor ~0.006 on
the build VM with denoise, docs/benchmarks.md):
- high-pass: the signal minus its 10 ms moving average removes DC offset, hum and rumble
  (cut-off ~100 Hz) that cheap USB microphones add;
- gain control: slowly steers the level of speech-like frames towards `target_dbfs`
  (a quiet resident far from the microphone, a loud one close to it), within bounds;
- voice-activity gate: frames not clearly above a tracked noise floor are attenuated, with a
  hangover so word endings are kept; the decoder then sees less television/babble between
  the resident's words;
- spectral noise gate (`denoise`, SpectralGate below): per frequency, what is not above the
  room's own level (a noise profile of the room heard before the prompt) is attenuated.

Measured on the Korean espeak proxy (docs/benchmarks.md): the spectral gate helps steady
noise (white 10 dB) and a little babble; the energy gate hurts babble. The live path
(speech.voice.LocalVoice) runs LIVE: high-pass + spectral gate, with the room heard just
before each prompt as the noise profile. RNNoise, WebRTC and speex noise suppression and
voice-activity gates were measured in the spectral gate's place and not kept: none helps
babble, and the suppressors cost clean answers (bench/speech_denoisers.py, docs/speech.md).

State carries across chunks, so the result does not depend on how audio is chunked (up to the
gate's 20 ms frame boundary). One FrontEnd per stream; not thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    denoise: bool = False  # spectral noise gate (SpectralGate) with the room as noise profile
    denoise_strength: float = 0.8  # see GateConfig.strength
    denoise_freq_smooth_hz: float = 500.0  # see GateConfig.freq_smooth_hz


# What LocalVoice runs on answers (docs/speech.md): high-pass + spectral gate, no gain
# control (it cost babble accuracy), no energy gate (it cut speech onsets).
LIVE = FrontEndConfig(agc=False, denoise=True)
ROOM_S = 0.5  # room audio captured before each prompt: the spectral gate's noise profile


@dataclass
class FrontEnd:
    config: FrontEndConfig = field(default_factory=FrontEndConfig)
    sample_rate: int = SAMPLE_RATE
    _history: np.ndarray = field(init=False, repr=False)
    _pending: np.ndarray = field(init=False, repr=False)
    _floor_db: float | None = field(default=None, init=False)
    _gain_db: float = field(default=0.0, init=False)
    _hang: int = field(default=0, init=False)
    room: bytes | None = None  # the room without the resident (noise profile for denoise)

    def __post_init__(self) -> None:
        window = int(self.config.highpass_ms * self.sample_rate / 1000)
        self._window = max(window, 0)
        self._history = np.zeros(max(self._window - 1, 0))
        self._pending = np.zeros(0)
        self._frame = int(0.02 * self.sample_rate)
        self._hang_frames = int(self.config.hangover_ms / 20)
        self._denoiser: SpectralGate | None = None
        if self.config.denoise:  # the room, high-passed like the stream, is the noise profile
            if self.room is None:
                # Learning the room from the answer's own start was measured and hurt
                # accuracy (speech leaks into the profile): docs/benchmarks.md.
                raise ValueError("denoise needs the room heard before the prompt (room=...)")
            room = np.frombuffer(self.room[: len(self.room) // 2 * 2], "<i2").astype(np.float64)
            self._denoiser = self._make_denoiser(_to_pcm([self._highpass(room)]))
            self._history = np.zeros(max(self._window - 1, 0))

    def process(self, pcm: bytes) -> bytes:
        """16-bit mono PCM in, processed PCM out in whole 20 ms frames: what is not a whole
        frame yet is held back until the next call (or `flush`), so the delay is < 20 ms
        (plus ~100 ms with denoise)."""
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        return self._frames_out(self._denoise(self._highpass(x)))

    def flush(self) -> bytes:
        """The held-back samples (end of stream), processed like a short frame."""
        tail = self._frames_out(self._denoise(np.zeros(0), end=True))
        rest, self._pending = self._pending, np.zeros(0)
        return tail + _to_pcm([self._frame_out(rest)] if rest.size else [])

    def _frames_out(self, x: np.ndarray) -> bytes:
        buffered = np.concatenate([self._pending, x])
        whole = buffered.size // self._frame * self._frame
        self._pending = buffered[whole:]
        frames = buffered[:whole].reshape(-1, self._frame)
        return _to_pcm([self._frame_out(f) for f in frames])

    def _make_denoiser(self, room: bytes) -> SpectralGate:
        cfg = self.config
        config = GateConfig(
            strength=cfg.denoise_strength, freq_smooth_hz=cfg.denoise_freq_smooth_hz
        )
        return SpectralGate(room, config, self.sample_rate)

    def _denoise(self, x: np.ndarray, end: bool = False) -> np.ndarray:
        if self._denoiser is None:
            return x
        out = self._denoiser.process(x)
        return np.concatenate([out, self._denoiser.flush()]) if end else out

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


def processed(front: FrontEnd, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A stream of microphone chunks through a front end (same total length, delayed by
    the front end's few tens of ms; the held-back tail comes out when the stream ends)."""
    for chunk in chunks:
        out = front.process(chunk)
        if out:
            yield out
    tail = front.flush()
    if tail:
        yield tail


def _to_pcm(frames: list[np.ndarray]) -> bytes:
    if not frames:
        return b""
    out = np.concatenate(frames)
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()


# --- spectral noise gate ------------------------------------------------------------------
#
# Stationary spectral gating as in the `noisereduce` library (Sainburg et al.; its
# `stationary=True` mode), re-done in numpy and streaming: the library pulls scipy,
# matplotlib and joblib, too heavy for the gateway's memory budget. Per frequency bin, the
# room's level (mean + 1.5 std of its dB spectrum, from audio heard before the answer) is the
# threshold; time-frequency bins below it are attenuated (by `strength`), the mask smoothed
# over 500 Hz and 50 ms so that no musical noise is left. Measured (docs/benchmarks.md):
# strength 0.8 helps at 10-20 dB; full suppression hurts recognition.


@dataclass(frozen=True)
class GateConfig:
    n_fft: int = 1024  # 64 ms at 16 kHz
    hop: int = 256  # 75 % overlap: Hann analysis + synthesis sum to a constant
    threshold_std: float = 1.5  # a bin this many std above the room's mean dB is kept
    strength: float = 0.8  # fraction of a below-threshold bin removed
    freq_smooth_hz: float = 500.0
    time_smooth_ms: float = 50.0


def _triangle(half: int) -> np.ndarray:
    ramp = np.concatenate(
        [np.linspace(0, 1, half + 1, endpoint=False), np.linspace(1, 0, half + 2)]
    )
    kernel: np.ndarray = ramp[1:-1] / ramp[1:-1].sum()
    return kernel


def _db(spectrum: np.ndarray) -> np.ndarray:
    level: np.ndarray = 20 * np.log10(np.abs(spectrum) + 1e-6)
    return level


class SpectralGate:
    """Streaming spectral gate (see above). `room`: int16 PCM of the room without the
    resident (>= 0.25 s). Delay: n_fft + half the time smoothing (~100 ms)."""

    def __init__(
        self, room: bytes, config: GateConfig | None = None, sample_rate: int = SAMPLE_RATE
    ):
        self.config = cfg = config or GateConfig()
        n, hop = cfg.n_fft, cfg.hop
        self._window = np.hanning(n + 1)[:-1]  # periodic Hann
        self._norm = float(np.sum(self._window**2)) / hop
        bin_hz = sample_rate / n
        self._freq_kernel = _triangle(max(1, int(cfg.freq_smooth_hz / (2 * bin_hz))))
        self._time_half = max(1, int(cfg.time_smooth_ms / (1000 * hop / sample_rate)))
        self._time_kernel = _triangle(self._time_half)
        noise = np.frombuffer(room[: len(room) // 2 * 2], "<i2").astype(np.float64)
        if noise.size < n + hop:
            raise ValueError(f"room audio too short for a noise profile ({noise.size} samples)")
        frames = np.lib.stride_tricks.sliding_window_view(noise, n)[::hop]
        levels = _db(np.fft.rfft(frames * self._window, axis=1))
        self._threshold = levels.mean(axis=0) + cfg.threshold_std * levels.std(axis=0)
        self._input = np.zeros(n - hop)  # leading pad: the first frame ends at sample hop
        self._spectra: list[np.ndarray] = []
        self._masks: list[np.ndarray] = [np.zeros(n // 2 + 1)] * self._time_half
        self._overlap = np.zeros(n)
        self._to_drop = n - hop  # output of the leading pad
        self._seen = 0
        self._emitted = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Float samples in, gated float samples out, delayed by ~100 ms (see flush)."""
        self._seen += x.size
        return self._feed(x)

    def flush(self) -> np.ndarray:
        """The rest of the stream (pushed out with silence): output length = input length."""
        cfg = self.config
        return self._feed(np.zeros(cfg.n_fft + (self._time_half + 1) * cfg.hop))

    def _feed(self, x: np.ndarray) -> np.ndarray:
        self._input = np.concatenate([self._input, x])
        blocks: list[np.ndarray] = []
        n, hop = self.config.n_fft, self.config.hop
        while self._input.size >= n:
            self._analyse(self._input[:n])
            self._input = self._input[hop:]
            if len(self._masks) == 2 * self._time_half + 1:
                blocks.append(self._synthesise())
        out = np.concatenate(blocks) if blocks else np.zeros(0)
        drop = min(self._to_drop, out.size)
        self._to_drop -= drop
        out = out[drop : drop + max(0, self._seen - self._emitted)]
        self._emitted += out.size
        return out

    def _analyse(self, frame: np.ndarray) -> None:
        cfg = self.config
        spectrum = np.fft.rfft(frame * self._window)
        above = (_db(spectrum) > self._threshold).astype(np.float64)
        mask = above * cfg.strength + (1.0 - cfg.strength)
        self._spectra.append(spectrum)
        self._masks.append(np.convolve(mask, self._freq_kernel, mode="same"))

    def _synthesise(self) -> np.ndarray:
        hop = self.config.hop
        mask = np.tensordot(self._time_kernel, np.array(self._masks), axes=1)
        spectrum = self._spectra.pop(0)
        self._masks.pop(0)
        self._overlap += np.fft.irfft(spectrum * mask, n=self.config.n_fft) * self._window
        done, self._overlap = (
            self._overlap[:hop],
            np.concatenate([self._overlap[hop:], np.zeros(hop)]),
        )
        return done / self._norm
