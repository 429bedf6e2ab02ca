"""`audio test`: pure level analysis plus the sound-card, TTS and vosk adapters it needs.

The TTS and recognizer calls are small functions here (pyopenjtalk / espeak-ng, vosk) so the
installer's test does not depend on the daemon's dialogue code; they load the same libraries
the daemon uses.
"""

from __future__ import annotations

import contextlib
import io
import math
import queue
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from provisioning.errors import ProvisionError

SAMPLE_RATE = 16_000
FULL_SCALE = 32768.0
CLIP_LEVEL = 32760  # samples at or above this magnitude count as clipped
CLIP_FRACTION = 0.001  # more than 0.1 % clipped samples is audible distortion
QUIET_PEAK_DBFS = -30.0  # a voice at arm's length peaks well above this


@dataclass(frozen=True)
class LevelReport:
    peak_dbfs: float
    rms_dbfs: float
    clipped_fraction: float

    @property
    def verdict(self) -> str:
        if self.clipped_fraction > CLIP_FRACTION:
            return "clipping"
        if self.peak_dbfs < QUIET_PEAK_DBFS:
            return "quiet"
        return "ok"


def dbfs(value: float) -> float:
    return 20 * math.log10(value / FULL_SCALE) if value > 0 else -120.0


def analyse(samples: np.ndarray) -> LevelReport:
    if samples.size == 0:
        return LevelReport(-120.0, -120.0, 0.0)
    magnitude = np.abs(samples.astype(np.int32))
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return LevelReport(
        peak_dbfs=dbfs(float(magnitude.max())),
        rms_dbfs=dbfs(rms),
        clipped_fraction=float(np.count_nonzero(magnitude >= CLIP_LEVEL)) / samples.size,
    )


def meter(level_dbfs: float, width: int = 30) -> str:
    """A text bar from -60 dBFS (empty) to 0 dBFS (full)."""
    filled = max(0, min(width, round((level_dbfs + 60) / 60 * width)))
    return "█" * filled + "·" * (width - filled) + f" {level_dbfs:6.1f} dBFS"


# --- sound card -----------------------------------------------------------------------------


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: libportaudio2 missing
        raise ProvisionError("no_audio", error=exc) from None
    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    sd = _sounddevice()
    try:
        return [dict(d) for d in sd.query_devices()]
    except Exception as exc:  # PortAudioError is not exported consistently
        raise ProvisionError("no_audio", error=exc) from None


def device_arg(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def find_device(value: str | None, kind: str) -> bool:
    """Does a device by that name (substring, as PortAudio matches) or index exist?"""
    channels = "max_input_channels" if kind == "input" else "max_output_channels"
    wanted = device_arg(value)
    for index, device in enumerate(list_devices()):
        if device.get(channels, 0) <= 0:
            continue
        if wanted is None or wanted == index:
            return True
        if isinstance(wanted, str) and wanted.lower() in str(device.get("name", "")).lower():
            return True
    return False


def play(samples: np.ndarray, rate: int, device: str | None) -> None:
    sd = _sounddevice()
    try:
        sd.play(samples.astype(np.float32), rate, device=device_arg(device))
        sd.wait()
    except Exception as exc:
        raise ProvisionError("audio_failed", error=exc) from None


def record(
    seconds: float, device: str | None, on_block: Callable[[np.ndarray], None]
) -> np.ndarray:
    """Record mono 16 kHz int16; `on_block` sees each block (for the live meter)."""
    sd = _sounddevice()
    wanted = int(seconds * SAMPLE_RATE)
    blocks: queue.Queue[np.ndarray] = queue.Queue()
    got: list[np.ndarray] = []
    have = 0
    try:
        with sd.InputStream(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="int16",
            blocksize=SAMPLE_RATE // 10,
            device=device_arg(device),
            callback=lambda data, *_: blocks.put(data[:, 0].copy()),
        ):
            while have < wanted:
                block = blocks.get(timeout=max(5.0, seconds * 2))
                got.append(block)
                have += block.size
                on_block(block)
    except queue.Empty:
        raise ProvisionError("audio_failed", error="no audio arrived from the input") from None
    except ProvisionError:
        raise
    except Exception as exc:
        raise ProvisionError("audio_failed", error=exc) from None
    return np.concatenate(got)[:wanted] if got else np.zeros(0, dtype=np.int16)


# --- TTS and recognition -------------------------------------------------------------------


def synthesise(text: str, lang: str) -> tuple[np.ndarray, int]:
    """Float samples in -1..1 and their rate. Japanese goes through the daemon's own prompt
    renderer (speech.tts, pyopenjtalk, cached WAV); other languages through espeak-ng."""
    try:
        if lang == "ja":
            with contextlib.redirect_stdout(io.StringIO()):
                # pyopenjtalk-plus prints an ONNX Runtime notice on import; not for installers.
                from speech.audio import read_wav
                from speech.tts import PromptRenderer

                pcm, rate = read_wav(PromptRenderer().render(text))
            return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / FULL_SCALE, rate
        return _espeak(text, lang)
    except ProvisionError:
        raise
    except Exception as exc:
        raise ProvisionError("tts_failed", error=exc) from None


def _espeak(text: str, lang: str) -> tuple[np.ndarray, int]:
    import wave

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ProvisionError("tts_failed", error="espeak-ng not installed")
    voice = {"ko": "ko", "en": "en-us"}.get(lang, lang)
    out = subprocess.run([exe, "-v", voice, "--stdout", text], capture_output=True, timeout=60)
    if out.returncode != 0 or not out.stdout:
        raise ProvisionError("tts_failed", error=out.stderr.decode(errors="replace")[:120])
    with wave.open(io.BytesIO(out.stdout)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return pcm.astype(np.float64) / FULL_SCALE, wav.getframerate()


def recognise(pcm: np.ndarray, lang: str, model_path: Path, phrases: list[str] | None) -> str:
    """What the daemon's recognizer makes of the recording (free-form, or limited to phrases,
    which speech.recognition splits into the model's own word pieces)."""
    from speech.recognition import build_grammar, get_model, recognize_file_pcm

    try:
        model = get_model(lang, model_path)
    except Exception as exc:
        raise ProvisionError("model_load_failed", error=exc) from None
    grammar = build_grammar(model, phrases) if phrases else None
    heard = recognize_file_pcm(model, pcm.astype("<i2").tobytes(), phrases=grammar)
    return " ".join(h.text for h in heard)
