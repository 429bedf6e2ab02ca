"""The real sounddevice path against the ALSA file plugin (no sound card needed), and
LocalVoice end to end: prompt playback, capture, vosk, intent."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.dialogue_runner import run_dialogue
from mimamori_wire import Intent
from speech.audio import AudioDevice, AudioDeviceError, FileSource, read_wav, write_wav
from speech.dialogue import Dialogue
from speech.intents import classify
from speech.testaudio import silence
from speech.tts import PromptRenderer
from speech.voice import LocalVoice, ReplayDevice


def tone(seconds: float, freq: float = 440.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()


def test_capture_reads_exactly_the_injected_audio(alsa_file_device):
    pcm = tone(0.5)
    alsa_file_device.write_input(pcm + silence(0.5))
    device = AudioDevice()
    chunks = list(device.capture_chunks(max_s=0.5))
    got = b"".join(chunks)
    assert len(chunks) == 5  # 0.1 s blocks
    assert got == pcm


def test_room_capture_before_a_prompt_reads_the_microphone(alsa_file_device):
    room = tone(0.5, freq=120.0)  # a hum in the room
    alsa_file_device.write_input(room + tone(0.5))
    assert AudioDevice().capture_room(0.5) == room


def test_playback_writes_the_samples(alsa_file_device, tmp_path):
    wav = tmp_path / "t.wav"
    write_wav(wav, tone(0.3), 16000)
    AudioDevice(output_device="default").play_wav(wav)
    out = alsa_file_device.read_output()
    assert out == read_wav(wav)[0]


def test_device_by_name_and_index_with_clear_errors(alsa_file_device):
    assert AudioDevice(input_device="default").input_index == 0
    assert AudioDevice(input_device=0, output_device="0").output_index == 0
    with pytest.raises(AudioDeviceError, match=r"no input device matching 'Jabra'.*default"):
        AudioDevice(input_device="Jabra")
    with pytest.raises(AudioDeviceError, match="device 7 has no input"):
        AudioDevice(input_device=7)


def test_file_source_replays_wav_at_16k(tmp_path):
    wav = tmp_path / "48k.wav"
    write_wav(wav, tone(1.0, rate=48000), 48000)
    pcm = FileSource(wav, tail_s=0).pcm()
    assert len(pcm) == 16000 * 2
    chunks = list(FileSource(wav, tail_s=1.0).capture_chunks())
    assert sum(map(len, chunks)) == 2 * 16000 * 2


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    return PromptRenderer(tmp_path_factory.mktemp("tts"))


@pytest.mark.model
def test_local_voice_through_the_sound_card_path(alsa_file_device, ko_model, korean_clip, renderer):
    """Speech injected into the ALSA device -> sounddevice -> vosk -> intent; and a prompt
    rendered by pyopenjtalk comes out of the device."""
    voice = LocalVoice(AudioDevice(), renderer, lang="ko")
    alsa_file_device.write_input(korean_clip("살려주세요", tail_s=4.0))
    heard = asyncio.run(voice.listen(timeout_s=5.0, expect="health"))
    assert heard is not None
    assert "살려주세요" in heard.text
    assert classify(heard.text, "ko").intent == Intent.HELP

    asyncio.run(voice.say("今日の体調はいかがですか。", speed=1.0, volume=1.0))
    out = alsa_file_device.read_output()
    seconds = len(out) / 2 / renderer.sample_rate
    assert 1.0 < seconds < 5.0


@pytest.mark.model
def test_local_voice_hears_silence_as_no_answer(alsa_file_device, ko_model, renderer):
    alsa_file_device.write_input(silence(6.0))
    voice = LocalVoice(AudioDevice(), renderer, lang="ko")
    assert asyncio.run(voice.listen(timeout_s=3.0, expect="health")) is None


@pytest.mark.model
def test_dialogue_with_local_voice_on_replayed_speech(ko_model, korean_clip, renderer):
    """A whole check-in on recorded audio: one unanswered ask, then an answer, then a follow-up."""
    device = ReplayDevice([silence(1.0), korean_clip("네 괜찮아요"), korean_clip("아니요")])
    voice = LocalVoice(device, renderer, lang="ko")
    dialogue = Dialogue(["health", "medicine"], lang="ko", listen_timeout_s=3.0)

    result = asyncio.run(run_dialogue(voice, dialogue))
    assert result.outcome == "answered"
    assert result.intent == Intent.FINE
    assert result.attempts == 2
    assert result.answers == {"medicine": Intent.NO}
    assert len(device.played) == 4  # ask, ask again, follow-up, closing
    assert device.played[1] != device.played[0]  # the repeat is slower and louder
