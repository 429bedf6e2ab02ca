"""Audio in and out: sounddevice capture (16 kHz mono int16) and playback, and file replay.

The device is chosen by name (a case-insensitive part of the PortAudio device name, e.g.
"Jabra") or by index, from the household's config. Tests run this same code against the
ALSA `file` plugin (FACTS.md): capture reads a raw file, playback writes one.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
BLOCK_S = 0.1


class AudioDeviceError(RuntimeError):
    """No usable sound device; the message lists what PortAudio can see."""


def _sd():
    # Imported late: PortAudio reads ~/.asoundrc when sounddevice is first imported.
    import sounddevice

    return sounddevice


def list_devices() -> list[dict]:
    """PortAudio's devices as dicts (index, name, max_input_channels, ...)."""
    return [dict(d, index=i) for i, d in enumerate(_sd().query_devices())]


def resolve_device(device: str | int | None, *, kind: str) -> int | None:
    """A PortAudio device index from a name part or an index; None means the default.

    kind is "input" or "output": the device must have channels of that kind.
    """
    devices = list_devices()
    if not devices:
        raise AudioDeviceError("no sound devices at all (is a USB speakerphone plugged in?)")
    channels = f"max_{kind}_channels"
    if device is None or device == "":
        return None
    if isinstance(device, int) or str(device).isdigit():
        index = int(device)
        if index >= len(devices) or devices[index][channels] < 1:
            raise AudioDeviceError(f"device {index} has no {kind}; devices: {_names(devices)}")
        return index
    wanted = str(device).lower()
    for d in devices:
        if wanted in d["name"].lower() and d[channels] >= 1:
            return d["index"]
    raise AudioDeviceError(f"no {kind} device matching {device!r}; devices: {_names(devices)}")


def _names(devices: list[dict]) -> str:
    return ", ".join(f"{d['index']}: {d['name']}" for d in devices)


class AudioDevice:
    """A microphone and a speaker (often one USB speakerphone)."""

    def __init__(
        self,
        input_device: str | int | None = None,
        output_device: str | int | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        block_s: float = BLOCK_S,
    ) -> None:
        self.input_index = resolve_device(input_device, kind="input")
        self.output_index = resolve_device(output_device, kind="output")
        self.sample_rate = sample_rate
        self.block_frames = int(sample_rate * block_s)

    def capture_chunks(self, max_s: float | None = None) -> Iterator[bytes]:
        """Microphone audio as 16-bit mono PCM blocks, until the consumer stops (or max_s)."""
        sd = _sd()
        limit = None if max_s is None else int(max_s * self.sample_rate)
        read = 0
        with sd.RawInputStream(
            samplerate=self.sample_rate,
            channels=1,
            dtype="int16",
            blocksize=self.block_frames,
            device=self.input_index,
        ) as stream:
            while limit is None or read < limit:
                data, overflowed = stream.read(self.block_frames)
                if overflowed:
                    log.warning("audio input overflow: the recognizer is falling behind")
                read += self.block_frames
                yield bytes(data)

    def capture_room(self, seconds: float) -> bytes:
        """`seconds` of microphone audio (the room before a prompt: a noise profile)."""
        return b"".join(self.capture_chunks(seconds))

    def play_pcm(self, pcm: bytes, sample_rate: int) -> None:
        """Play 16-bit mono PCM and return when it has been handed to the device."""
        sd = _sd()
        with sd.RawOutputStream(
            samplerate=sample_rate, channels=1, dtype="int16", device=self.output_index
        ) as stream:
            stream.write(pcm)

    def play_wav(self, path: Path | str) -> None:
        pcm, rate = read_wav(path)
        self.play_pcm(pcm, rate)


class FileSource:
    """Replays a WAV or raw (16 kHz mono int16) file as if it came from a microphone.

    After the file, `tail_s` seconds of silence follow, so a recognizer can reach its
    endpoint as it would after real speech.
    """

    def __init__(
        self, path: Path | str, *, sample_rate: int = SAMPLE_RATE, tail_s: float = 3.0
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.tail_s = tail_s

    def pcm(self) -> bytes:
        if self.path.suffix.lower() == ".wav":
            data, rate = read_wav(self.path)
            if rate != self.sample_rate:
                data = resample(data, rate, self.sample_rate)
            return data
        return self.path.read_bytes()

    def capture_chunks(self, max_s: float | None = None) -> Iterator[bytes]:
        data = self.pcm() + bytes(int(self.tail_s * self.sample_rate) * 2)
        if max_s is not None:
            data = data[: int(max_s * self.sample_rate) * 2]
        step = int(BLOCK_S * self.sample_rate) * 2
        for i in range(0, len(data), step):
            yield data[i : i + step]


def read_wav(path: Path | str) -> tuple[bytes, int]:
    """16-bit PCM of a WAV file (mono; stereo is mixed down) and its sample rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV is supported, got {8 * w.getsampwidth()}")
        frames = w.readframes(w.getnframes())
        rate, channels = w.getframerate(), w.getnchannels()
    if channels > 1:
        samples = np.frombuffer(frames, "<i2").reshape(-1, channels).mean(axis=1)
        frames = samples.astype("<i2").tobytes()
    return frames, rate


def write_wav(path: Path | str, pcm: bytes, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)


def resample(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    """Linear-interpolation resampling (enough for speech at 16/48 kHz)."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    if rate_in == rate_out or samples.size == 0:
        return pcm
    n_out = round(samples.size * rate_out / rate_in)
    x_out = np.linspace(0, samples.size - 1, n_out)
    out = np.interp(x_out, np.arange(samples.size), samples)
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
