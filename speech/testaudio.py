"""Generated test speech: espeak-ng + sox at 16 kHz mono int16 (for tests and benchmarks).

No Japanese vosk model can be installed on the build machines (FACTS.md), so the real
recognition path is exercised with the Korean model on Korean speech made by espeak-ng.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


class ToolMissingError(RuntimeError):
    pass


def synthesise(
    text: str, cache_dir: Path, *, voice: str = "ko", speed: int = 175, pitch: int = 50
) -> bytes:
    """16 kHz mono int16 PCM of `text` spoken by espeak-ng (cached by text/voice/speed/pitch)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise ToolMissingError(f"{tool} is not installed (Debian packages espeak-ng, sox)")
    tag = f"{voice}|{speed}|{text}" if pitch == 50 else f"{voice}|{speed}|{pitch}|{text}"
    key = hashlib.sha256(tag.encode()).hexdigest()[:24]
    raw = cache_dir / f"{key}.raw"
    if not raw.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        wav = cache_dir / f"{key}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        tmp = raw.with_suffix(".tmp")
        subprocess.run(
            [
                "sox",
                str(wav),
                "-r",
                str(SAMPLE_RATE),
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                "raw",
                str(tmp),
            ],
            check=True,
            capture_output=True,
        )
        tmp.replace(raw)
    return raw.read_bytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * SAMPLE_RATE) * 2)


# Television / a room of people talking: several espeak-ng voice variants, pitches and speeds,
# each reading sentences back to back with short pauses, summed at equal level.
BABBLE_TALKERS = (("ko+f2", 150, 70), ("ko+m3", 190, 30), ("ko+f4", 170, 85), ("ko", 140, 45))


def babble(sentences: list[str], samples: int, cache_dir: Path, seed: int = 0) -> np.ndarray:
    """`samples` of generated babble (float64, unit RMS), reproducible for a seed."""
    rng = np.random.default_rng(seed)
    mixed = np.zeros(samples)
    for voice, speed, pitch in BABBLE_TALKERS:
        parts: list[np.ndarray] = []
        have = 0
        while have < samples + SAMPLE_RATE:
            text = sentences[int(rng.integers(len(sentences)))]
            pcm = synthesise(text, cache_dir, voice=voice, speed=speed, pitch=pitch)
            parts += [
                np.frombuffer(pcm, "<i2").astype(np.float64),
                np.zeros(int(rng.integers(800, 4000))),
            ]
            have += parts[-2].size + parts[-1].size
        track = np.concatenate(parts)
        offset = int(rng.integers(0, SAMPLE_RATE))
        talker = track[offset : offset + samples]
        mixed += talker / (np.sqrt(np.mean(talker**2)) + 1e-9)
    return mixed / (np.sqrt(np.mean(mixed**2)) + 1e-9)


def music(samples: int, seed: int = 0) -> np.ndarray:
    """`samples` of a music-like bed (float64, unit RMS): chords of three harmonic notes
    (6 partials each, decaying) changing every 0.4-0.8 s, as under a television programme."""
    rng = np.random.default_rng(seed)
    out = np.zeros(samples)
    start = 0
    while start < samples:
        length = min(samples - start, int(rng.uniform(0.4, 0.8) * SAMPLE_RATE))
        t = np.arange(length) / SAMPLE_RATE
        envelope = np.exp(-t * rng.uniform(1.0, 4.0))
        root = 110.0 * 2 ** (int(rng.integers(0, 24)) / 12)
        for step in (0, 4, 7):  # a major triad
            f0 = root * 2 ** (step / 12)
            for k in range(1, 7):
                if k * f0 < SAMPLE_RATE / 2:
                    phase = rng.uniform(0, 2 * np.pi)
                    out[start : start + length] += (
                        envelope * np.sin(2 * np.pi * k * f0 * t + phase) / k
                    )
        start += length
    return out / (np.sqrt(np.mean(out**2)) + 1e-9)


NOISE_KINDS = ("white", "babble", "tv")


def noise_track(
    kind: str, samples: int, sentences: list[str], cache_dir: Path, seed: int = 0
) -> np.ndarray:
    """Unit-RMS noise: white, babble (several talkers), or tv (babble and music, equal level)."""
    if kind == "white":
        return np.random.default_rng(seed).normal(0.0, 1.0, samples)
    if kind == "babble":
        return babble(sentences, samples, cache_dir, seed)
    if kind == "tv":
        mixed = babble(sentences, samples, cache_dir, seed) + music(samples, seed)
        return mixed / (np.sqrt(np.mean(mixed**2)) + 1e-9)
    raise ValueError(f"unknown noise kind {kind!r}; one of {NOISE_KINDS}")


def mix_with_room(
    pcm: bytes,
    kind: str,
    snr_db: float,
    sentences: list[str],
    cache_dir: Path,
    seed: int = 0,
    room_s: float = 1.0,
) -> tuple[bytes, bytes]:
    """(speech with noise at `snr_db`, the room before it): one noise track, of which the
    first `room_s` is what the gateway hears before the prompt (a noise profile) and the rest
    is mixed with the speech. The SNR is relative to the RMS of the speech's active samples
    (|x| > 100), so silence around the speech does not lower it."""
    speech = np.frombuffer(pcm, "<i2").astype(np.float64)
    active = speech[np.abs(speech) > 100]
    power = float(np.mean(active**2)) if active.size else 0.0
    room = int(room_s * SAMPLE_RATE)
    track = noise_track(kind, room + speech.size, sentences, cache_dir, seed)
    track *= (power / 10 ** (snr_db / 10)) ** 0.5

    def pcm16(x: np.ndarray) -> bytes:
        return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()

    return pcm16(speech + track[room:]), pcm16(track[:room])
