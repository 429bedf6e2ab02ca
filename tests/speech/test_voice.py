"""TextVoice (the labelled text-answer simulator) and LocalVoice's help spotting."""

from __future__ import annotations

import asyncio
import threading

import pytest

from speech.ports import Voice
from speech.testaudio import silence
from speech.voice import LocalVoice, ReplayDevice, TextVoice, build_local_voice


def test_text_voice_answers_in_order_and_records_what_was_said():
    voice: Voice = TextVoice(["元気 です", None])

    async def talk():
        await voice.say("おはようございます。", speed=0.9, volume=1.2)
        return [await voice.listen(timeout_s=10, expect="health") for _ in range(3)]

    first, second, third = asyncio.run(talk())
    assert first is not None and first.text == "元気です"  # normalised like ASR output
    assert second is None and third is None  # scripted silence, then nothing left
    assert voice.said[0].text == "おはようございます。"
    assert (voice.said[0].speed, voice.said[0].volume) == (0.9, 1.2)
    assert voice.listens[0] == (10, "health")
    assert TextVoice.simulated is True


def test_text_voice_takes_answers_added_later():
    voice = TextVoice()
    voice.add_answer("助けて")
    heard = asyncio.run(voice.listen(timeout_s=1))
    assert heard is not None and heard.text == "助けて"
    assert voice.remaining == 0


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    from speech.tts import PromptRenderer

    return PromptRenderer(tmp_path_factory.mktemp("tts"))


@pytest.mark.model
def test_help_spotting_between_dialogues(ko_model, korean_clip, renderer):
    device = ReplayDevice([korean_clip("오늘 기분이 좋아요"), korean_clip("살려주세요")])
    voice = LocalVoice(device, renderer, lang="ko")
    stop = threading.Event()
    assert voice.watch_for_help(stop, chunk_limit_s=8.0) is None  # everyday speech
    heard = voice.watch_for_help(stop, chunk_limit_s=8.0)
    assert heard is not None and "살려주세요" in heard.text


@pytest.mark.model
def test_help_spotting_stops_when_asked(ko_model, renderer):
    voice = LocalVoice(ReplayDevice([silence(5.0)]), renderer, lang="ko")
    stop = threading.Event()
    stop.set()
    assert voice.watch_for_help(stop) is None


@pytest.mark.model
def test_gateway_builds_a_local_voice_from_config(alsa_file_device, ko_model, tmp_path):
    voice = build_local_voice(
        lang="ko", input_device="default", output_device=0, tts_cache_dir=tmp_path
    )
    assert voice.model is ko_model
    assert voice.renderer.cache_dir == tmp_path


@pytest.mark.model
def test_grammar_only_voice_leaves_the_free_form_model_unloaded(ko_model, korean_clip, tmp_path):
    from speech.intents import get_lexicon
    from speech.recognition import grammar_only_view, grammar_phrases, model_dir

    renderer = None  # listening only
    device = ReplayDevice([korean_clip("네 괜찮아요")])
    voice = LocalVoice(device, renderer, lang="ko", free_fallback=False, view_cache=tmp_path)
    view = grammar_only_view(model_dir("ko"), tmp_path, get_lexicon("ko").spoken_phrases())
    assert view != model_dir("ko")
    assert (view / "graph" / "Gr.fst").stat().st_size < 200  # the empty FST, not 48 MB
    words = (view / "graph" / "words.txt").read_text(encoding="utf-8").splitlines()
    assert 10 < len(words) < 5000 and words[0] == "<eps> 0"  # the lexicon's, not 503k
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [view.name]
    # Every question's grammar is built exactly as with the whole word list: same decoding.
    for expect in ("health", "yesno", "safety", "any"):
        assert grammar_phrases("ko", expect, voice.model) == grammar_phrases("ko", expect, ko_model)
    assert voice.model is not ko_model
    heard = asyncio.run(voice.listen(timeout_s=5, expect="health"))
    # What is heard is made of the health grammar's words only (vosk's dither can pick a
    # neighbouring phrase of a short clip: that the words are right is tested on the clean
    # clips in test_recognition.py, test_cut_graph_recognises_the_clean_clips).
    vocabulary = {w for p in grammar_phrases("ko", "health", voice.model) for w in p.split()}
    assert heard is not None and heard.text and _made_of(heard.text.replace(" ", ""), vocabulary)
    assert not voice.last_used_fallback


def _made_of(text: str, words: set[str]) -> bool:
    """Whether `text` (spaces removed, as a Heard's text is) splits into `words`."""
    reachable = [True] + [False] * len(text)
    for end in range(1, len(text) + 1):
        reachable[end] = any(reachable[end - len(w)] and text.endswith(w, 0, end) for w in words)
    return reachable[-1]


class FeedRecordingVoice(LocalVoice):
    """LocalVoice whose recognizers record the audio they are fed (the real path, observed)."""

    fed: list[bytes]

    def recognizer(self, expect="any"):
        rec = super().recognizer(expect)
        self.fed = []
        feed = rec.feed

        def recording_feed(pcm):
            self.fed.append(pcm)
            return feed(pcm)

        rec.feed = recording_feed
        return rec


def _noisy_answer(korean_clip, speech_cache, snr_db=5.0):
    from speech.testaudio import mix_with_room

    clip = silence(1.0) + korean_clip("살려주세요", tail_s=1.0)
    return mix_with_room(clip, "white", snr_db, ["아니요"], speech_cache, seed=3, room_s=1.0)


@pytest.mark.model
def test_room_heard_before_the_prompt_cleans_the_answer(
    ko_model, korean_clip, speech_cache, renderer
):
    import numpy as np

    from speech.frontend import ROOM_S

    mixed, room = _noisy_answer(korean_clip, speech_cache)
    device = ReplayDevice([mixed], rooms=[room])
    voice = FeedRecordingVoice(device, renderer, lang="ko")

    async def ask():
        await voice.say("お変わりありませんか。")
        assert device.rooms_heard == 1 and len(device.played) == 1  # room first, then prompt
        assert voice.room is not None and len(voice.room) == int(ROOM_S * 16000) * 2
        return await voice.listen(timeout_s=5, expect="health")

    asyncio.run(ask())
    assert voice.room is None  # used by this answer; the next prompt hears the room again
    fed = b"".join(voice.fed)

    def rms(pcm):
        return float(np.sqrt(np.mean(np.frombuffer(pcm, "<i2").astype(float) ** 2)))

    lead_in = slice(0, 16000)  # the second of noise before the resident speaks
    noise_in = rms(mixed[lead_in])
    assert rms(fed[lead_in]) < 0.5 * noise_in  # the gate removed most of the room's noise
    # Raw path for comparison: no front end, the recognizer hears the noise as it is.
    raw = FeedRecordingVoice(
        ReplayDevice([mixed], rooms=[room]), renderer, lang="ko", front_end=None
    )
    asyncio.run(raw.say("お変わりありませんか。"))
    asyncio.run(raw.listen(timeout_s=5, expect="health"))
    assert raw.device.rooms_heard == 0  # nothing to capture without a front end
    assert rms(b"".join(raw.fed)[lead_in]) == pytest.approx(noise_in, rel=0.01)


@pytest.mark.model
def test_listen_without_a_prompt_hears_the_raw_microphone(ko_model, korean_clip, renderer):
    clip = korean_clip("살려주세요", tail_s=1.0)
    voice = FeedRecordingVoice(ReplayDevice([clip]), renderer, lang="ko")
    heard = asyncio.run(voice.listen(timeout_s=5, expect="health"))
    assert heard is not None and "살려" in heard.text
    fed = b"".join(voice.fed)
    assert fed[: len(clip)] == clip  # no room heard, so no front end: the audio unchanged
