"""LocalVoice's help stream drops nothing on a classifier fault: the heard text is handed to
the help spotter (gateway.help_spotter), which reads it the safe way and counts the fault."""

from __future__ import annotations

import threading

import pytest

import speech.voice
from speech.voice import LocalVoice, ReplayDevice


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    from speech.tts import PromptRenderer

    return PromptRenderer(tmp_path_factory.mktemp("tts"))


@pytest.mark.model
def test_a_fault_in_the_stream_filter_hands_the_words_on(
    ko_model, korean_clip, renderer, monkeypatch: pytest.MonkeyPatch
):
    def broken(text: str, lang: str = "ko") -> bool:
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(speech.voice, "is_help_phrase", broken)
    voice = LocalVoice(ReplayDevice([korean_clip("살려주세요")]), renderer, lang="ko")
    heard = voice.watch_for_help(threading.Event(), chunk_limit_s=8.0)
    assert heard is not None and "살려주세요" in heard.text
