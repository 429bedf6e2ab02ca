"""Prompts rendered with pyopenjtalk-plus: plausible audio, cached on disk."""

from __future__ import annotations

import numpy as np
import pytest

from speech.audio import read_wav
from speech.tts import PromptRenderer

PROMPT = "おはようございます。今日の体調はいかがですか。"


def seconds(path) -> float:
    pcm, rate = read_wav(path)
    return len(pcm) / 2 / rate


def rms(path) -> float:
    pcm, _ = read_wav(path)
    return float(np.sqrt(np.mean(np.frombuffer(pcm, "<i2").astype(float) ** 2)))


@pytest.fixture
def renderer(tmp_path):
    return PromptRenderer(tmp_path / "cache")


def test_prompt_has_plausible_length_and_is_not_silent(renderer):
    path = renderer.render(PROMPT)
    # 23 characters of polite Japanese: a few seconds, not a click and not a minute.
    assert 2.0 < seconds(path) < 8.0
    assert rms(path) > 500


def test_second_render_comes_from_the_cache(renderer):
    first = renderer.render(PROMPT)
    mtime = first.stat().st_mtime_ns
    again = renderer.render(PROMPT)
    assert again == first
    assert again.stat().st_mtime_ns == mtime
    assert renderer.rendered == 1
    # a new renderer on the same directory reuses the files (survives a restart)
    other = PromptRenderer(renderer.cache_dir)
    assert other.render(PROMPT) == first
    assert other.rendered == 0


def test_slower_and_louder_are_separate_cached_files(renderer):
    normal = renderer.render(PROMPT)
    slow = renderer.render(PROMPT, speed=0.7)
    loud = renderer.render(PROMPT, volume=1.5)
    assert len({normal, slow, loud}) == 3
    assert seconds(slow) > seconds(normal) * 1.2
    assert rms(loud) > rms(normal) * 1.3
    assert renderer.rendered == 3


def test_custom_voice_file_is_part_of_the_key(tmp_path):
    import pyopenjtalk

    voice_path = pyopenjtalk.DEFAULT_HTS_VOICE.decode()
    custom = PromptRenderer(tmp_path, voice=voice_path)
    default = PromptRenderer(tmp_path)
    path = custom.render("こんにちは。")
    assert path != default.cache_path("こんにちは。")
    assert 0.5 < seconds(path) < 4.0


def test_bad_requests_are_clear_errors(renderer):
    with pytest.raises(ValueError, match="empty"):
        renderer.render("  ")
    with pytest.raises(ValueError, match="speed"):
        renderer.render(PROMPT, speed=10)
