"""voice_mode "satellite": config checks and the gateway's wiring of SatelliteVoice onto the
bridge's MQTT link (real mosquitto, a simulated Hermes satellite, the Korean model)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from gateway.cli import build_bridge, build_voice
from gateway.config import ConfigError, MqttSettings, load_config
from speech.satellite_voice import SatelliteVoice
from tests.gateway.conftest import make_settings
from tests.speech.hermes_sim import SimulatedSatellite
from tests.speech.test_satellite_voice import wait_until


def test_satellite_mode_needs_mqtt_and_a_site_id(tmp_path) -> None:
    base = make_settings(tmp_path).model_dump(mode="json")
    path = tmp_path / "gateway.json"
    for extra, message in [
        ({"voice_mode": "satellite", "satellite_site_id": "bedroom"}, "needs the [mqtt]"),
        ({"voice_mode": "satellite", "mqtt": {"port": 1883}}, "needs satellite_site_id"),
        ({"voice_mode": "satellite", "mqtt": {}, "satellite_site_id": "a/#"}, "pattern"),
    ]:
        path.write_text(json.dumps({**base, **extra}))
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(path)
    ok = {"voice_mode": "satellite", "mqtt": {"port": 1883}, "satellite_site_id": "bedroom"}
    path.write_text(json.dumps({**base, **ok}))
    assert load_config(path).satellite_site_id == "bedroom"


@pytest.mark.model
def test_gateway_speaks_through_the_configured_satellite(
    mosquitto_broker, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr("speech.tts.DEFAULT_CACHE_DIR", tmp_path / "tts")
    settings = make_settings(
        tmp_path,
        language="ko",
        voice_mode="satellite",
        satellite_site_id="kitchen",
        mqtt=MqttSettings(host=mosquitto_broker.host, port=mosquitto_broker.port),
    )
    sim = SimulatedSatellite(mosquitto_broker, "kitchen")

    async def scenario():
        bridge = build_bridge(settings, sink=lambda event: None)
        voice = build_voice(settings, bridge)
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await voice.say("こんにちは。")
            return voice
        finally:
            await bridge.stop()

    try:
        voice = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        sim.close()
    assert isinstance(voice, SatelliteVoice) and voice.site_id == "kitchen"
    assert len(sim.played) == 1 and sim.played[0][1].startswith(b"RIFF")
    assert voice.counters["played"] == 1


def test_satellite_mode_without_a_bridge_is_reported_not_crashed(tmp_path, caplog) -> None:
    settings = make_settings(
        tmp_path, voice_mode="satellite", satellite_site_id="kitchen", mqtt=MqttSettings()
    )
    assert build_voice(settings, bridge=None) is None
    assert "needs the MQTT bridge" in caplog.text
