"""SatelliteVoice: a real check-in dialogue over a (simulated) Hermes satellite, through the
real mosquitto, the real HermesSatellite adapter, pyopenjtalk prompts and the Korean vosk model.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import uuid
import wave

import pytest

from firmware_bridge.hermes import HermesSatellite
from firmware_bridge.mqtt import MqttLink, MqttSettings
from gateway.dialogue_runner import run_dialogue
from mimamori_wire import Intent
from speech.dialogue import Dialogue
from speech.satellite_voice import SatelliteNotRespondingError, SatelliteVoice
from speech.testaudio import silence
from tests.speech.hermes_sim import SimulatedSatellite

SITE = "bedroom"


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    from speech.tts import PromptRenderer

    return PromptRenderer(tmp_path_factory.mktemp("tts"))


@contextlib.asynccontextmanager
async def satellite_voice(broker, renderer, **kwargs):
    """The gateway's side: an MQTT link, the Hermes adapter for SITE and a SatelliteVoice."""
    link = MqttLink(
        MqttSettings(host=broker.host, port=broker.port, client_id=f"gw-{uuid.uuid4().hex}")
    )
    satellite = HermesSatellite(link, SITE)
    link.start()
    try:
        await asyncio.to_thread(wait_until, link.subscribed.is_set)
        yield SatelliteVoice(satellite, renderer, lang="ko", **kwargs), satellite
    finally:
        await asyncio.to_thread(link.stop)


def wav_pcm(data: bytes) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(data), "rb") as src:
        return src.getframerate(), src.readframes(src.getnframes())


@pytest.mark.model
def test_checkin_dialogue_over_a_hermes_satellite(
    mosquitto_broker, ko_model, korean_clip, renderer
) -> None:
    """One unanswered ask (the satellite streams only silence), then a Korean answer, then a
    follow-up; the satellite's microphone also hears each prompt while playing it ("echo",
    here a call for help), which must not be taken for the resident's answer."""
    sim = SimulatedSatellite(
        mosquitto_broker,
        SITE,
        answers=[silence(4.0), korean_clip("네 괜찮아요"), korean_clip("아니요")],
        echo=korean_clip("살려주세요", tail_s=0.5),
    )
    dialogue = Dialogue(["health", "medicine"], lang="ko", listen_timeout_s=3.0)

    async def scenario():
        async with satellite_voice(mosquitto_broker, renderer) as (voice, satellite):
            result = await run_dialogue(voice, dialogue)
            return result, dict(voice.counters), dict(satellite.counters)

    try:
        result, counters, adapter = asyncio.run(scenario())
    finally:
        sim.close()

    assert result.outcome == "answered", result
    assert result.intent == Intent.FINE
    assert result.attempts == 2  # the silent first ask was repeated
    assert result.answers == {"medicine": Intent.NO}
    assert counters["played"] == 4 and counters["heard"] == 2 and counters["silent"] == 1
    assert adapter["echo_frames_dropped"] > 0  # the prompt's echo never reached vosk
    # Every prompt reached the satellite as a playable WAV, rendered by the PromptRenderer.
    assert len(sim.played) == 4  # ask, ask again (slower, louder), follow-up, closing
    first_prompt = renderer.render(
        "おはようございます。今日の体調はいかがですか。", speed=1.0, volume=1.0
    )
    assert sim.played[0][1] == first_prompt.read_bytes()
    rates_and_lengths = [wav_pcm(wav) for _, wav in sim.played]
    assert all(rate == renderer.sample_rate and len(pcm) > 0 for rate, pcm in rates_and_lengths)
    assert sim.played[1][1] != sim.played[0][1]  # the repeat is slower and louder


@pytest.mark.model
def test_satellite_that_never_confirms_playback_gives_a_clear_error(
    mosquitto_broker, ko_model, renderer
) -> None:
    sim = SimulatedSatellite(mosquitto_broker, SITE, confirm_playback=False)

    async def scenario():
        async with satellite_voice(mosquitto_broker, renderer, play_margin_s=1.0) as (voice, _):
            with pytest.raises(SatelliteNotRespondingError) as excinfo:
                await voice.say("はい。")
            return excinfo.value, dict(voice.counters)

    try:
        error, counters = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        sim.close()

    assert sim.got_play.is_set()  # the prompt was sent; only the confirmation is missing
    assert f"hermes/audioServer/{SITE}/playFinished" in str(error)
    assert counters["play_timeout"] == 1 and counters.get("played", 0) == 0


@pytest.mark.model
def test_satellite_that_stops_streaming_is_silence_not_a_hang(
    mosquitto_broker, ko_model, renderer
) -> None:
    async def scenario():
        async with satellite_voice(mosquitto_broker, renderer, frame_gap_s=0.5) as (voice, _):
            heard = await voice.listen(timeout_s=60.0, expect="health")
            return heard, dict(voice.counters)

    heard, counters = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert heard is None
    assert counters["stream_gap"] == 1 and counters["silent"] == 1
