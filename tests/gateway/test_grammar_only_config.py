"""`[audio] free_fallback = false` (grammar-only recognition for a small Pi): the config field,
and the daemon's voice honouring it with the real recognizer (vosk Korean model, speech fed
through the ALSA file device): no free-form decode, the free-form language model unloaded."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from gateway.cli import build_voice
from gateway.config import AudioSettings, ConfigError, load_config, save_config
from speech.recognition import StreamRecognizer, model_dir
from speech.testaudio import silence, synthesise
from tests.gateway.conftest import make_settings

# Everyday speech the health grammar cannot place: with the fallback on, it is decoded
# free-form (the control below shows the spy would see it).
UNPLACEABLE = "텔레비전을 봤어요"


def test_free_fallback_is_on_by_default_and_typed(tmp_path) -> None:
    path = tmp_path / "gateway.toml"
    save_config(make_settings(tmp_path), path)
    assert load_config(path).audio.free_fallback is True  # as before the switch existed
    save_config(make_settings(tmp_path, audio=AudioSettings(free_fallback=False)), path)
    text = path.read_text()
    assert "free_fallback = false" in text
    assert load_config(path).audio.free_fallback is False
    path.write_text(text.replace("free_fallback = false", 'free_fallback = "sometimes"'))
    with pytest.raises(ConfigError, match=re.escape("audio.free_fallback")):
        load_config(path)


def test_noise_filter_is_on_by_default_and_typed(tmp_path) -> None:
    path = tmp_path / "gateway.toml"
    save_config(make_settings(tmp_path), path)
    assert load_config(path).audio.noise_filter is True
    save_config(make_settings(tmp_path, audio=AudioSettings(noise_filter=False)), path)
    text = path.read_text()
    assert load_config(path).audio.noise_filter is False
    path.write_text(text.replace("noise_filter = false", "noise_filter = 0.5"))
    with pytest.raises(ConfigError, match=re.escape("audio.noise_filter")):
        load_config(path)


@pytest.fixture(scope="module")
def ko_model():
    try:
        from speech.recognition import get_model

        return get_model("ko")
    except Exception as exc:  # the model package is a dev dependency; the reason is printed
        pytest.skip(f"vosk Korean model not available: {exc}")


@pytest.fixture
def spied_free_decodes(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = StreamRecognizer.decode_free

    def spy(self, audio: bytes):
        calls.append(len(audio))
        return original(self, audio)

    monkeypatch.setattr(StreamRecognizer, "decode_free", spy)
    return calls


def _speech(tmp_path, text: str) -> bytes:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: cannot make test speech (Debian {tool})")
    return synthesise(text, tmp_path / "clips") + silence(3.0)


@pytest.mark.model
@pytest.mark.parametrize("free_fallback", [False, True])
def test_daemon_voice_honours_free_fallback(
    free_fallback, alsa_file_device, ko_model, spied_free_decodes, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr("speech.tts.DEFAULT_CACHE_DIR", tmp_path / "tts")
    settings = make_settings(
        tmp_path,
        language="ko",
        voice_mode="local",
        audio=AudioSettings(input_device="default", free_fallback=free_fallback),
    )
    voice = build_voice(settings)
    assert voice is not None and voice.free_fallback is free_fallback
    alsa_file_device.write_input(_speech(tmp_path, UNPLACEABLE))
    asyncio.run(voice.listen(timeout_s=5.0, expect="health"))
    if free_fallback:  # control: the default decodes the unplaceable answer free-form
        assert voice.model is ko_model
        assert len(spied_free_decodes) == 1
        return
    assert spied_free_decodes == []  # no free-form recognizer was ever made
    assert not voice.last_used_fallback
    # The model loaded is the grammar-only view in the data dir, not the full model: its
    # free-form language model is the empty FST and its word list only the lexicon's words.
    assert voice.model is not ko_model
    (view,) = (settings.data_dir / "vosk-views").iterdir()
    assert (view / "graph" / "Gr.fst").stat().st_size < 200
    with (view / "graph" / "words.txt").open(encoding="utf-8") as f:
        kept = sum(1 for _ in f)
    # Its graph is cut down to those words (speech.recognition.write_grammar_graph).
    full_graph = model_dir("ko") / "graph" / "HCLr.fst"
    assert (view / "graph" / "HCLr.fst").stat().st_size < full_graph.stat().st_size / 3
    assert 10 < kept < 5000


@pytest.mark.model
@pytest.mark.parametrize("noise_filter", [True, False])
def test_daemon_voice_honours_noise_filter(noise_filter, ko_model, tmp_path, monkeypatch) -> None:
    from speech.frontend import LIVE

    monkeypatch.setattr("speech.tts.DEFAULT_CACHE_DIR", tmp_path / "tts")
    audio = AudioSettings(input_device="default", noise_filter=noise_filter)
    voice = build_voice(make_settings(tmp_path, language="ko", voice_mode="local", audio=audio))
    assert voice is not None
    assert voice.front_end == (LIVE if noise_filter else None)
