"""A simulated Hermes satellite streams generated Korean speech through real mosquitto into
the real vosk recognizer (Korean model), and gets a playBytes back which it confirms."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import threading
import uuid
import wave
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from firmware_bridge.hermes import wav_bytes, wav_frames, wav_to_pcm16k
from firmware_bridge.mqtt import MqttSettings
from tests.bridge.test_mqtt_broker import wait_until

SITE = "bedroom"


def korean_speech(text: str, workdir: Path) -> bytes:
    """16 kHz mono int16 PCM from espeak-ng (Korean voice) resampled by sox."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run scripts/bootstrap.sh (Debian espeak-ng, sox)")
    raw_wav, pcm = workdir / "tts.wav", workdir / "tts.raw"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw_wav), text], check=True)
    subprocess.run(
        [
            "sox",
            str(raw_wav),
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-t",
            "raw",
            str(pcm),
        ],
        check=True,
    )
    return pcm.read_bytes()


class Satellite:
    """What a Rhasspy satellite does on the wire: stream audioFrame, play and confirm."""

    def __init__(self, broker) -> None:
        self.played: list[tuple[str, bytes]] = []
        self.got_play = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"sat-{uuid.uuid4().hex}"
        )
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"hermes/audioServer/{SITE}/playBytes/#", qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        request_id = msg.topic.rsplit("/", 1)[-1]
        self.played.append((request_id, msg.payload))
        self.got_play.set()
        client.publish(
            f"hermes/audioServer/{SITE}/playFinished",
            json.dumps({"id": request_id, "siteId": SITE}),
            qos=1,
        )

    def stream(self, pcm: bytes) -> None:
        for frame in wav_frames(pcm):
            self.client.publish(f"hermes/audioServer/{SITE}/audioFrame", frame, qos=1)
        self.client.publish(f"hermes/audioServer/{SITE}/audioFrame", b"garbage", qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.model
def test_satellite_speech_reaches_vosk_and_playback_is_confirmed(
    mosquitto_broker, make_bridge, tmp_path
) -> None:
    from speech.recognition import StreamRecognizer, get_model

    speech = korean_speech("네 괜찮아요", tmp_path)
    model = get_model("ko")
    silence = bytes(16000 * 2)  # 1 s of silence before and after, as a real mic would send
    reply_pcm = speech[: 16000 * 2]

    async def scenario():
        bridge = make_bridge(
            mqtt=MqttSettings(
                host=mosquitto_broker.host,
                port=mosquitto_broker.port,
                client_id=f"gw-{uuid.uuid4().hex}",
            )
        )
        await bridge.start()
        satellite = Satellite(mosquitto_broker)
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            sat = bridge.hermes_satellite(SITE)
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await asyncio.to_thread(satellite.stream, silence + speech + silence + silence)
            recognizer = StreamRecognizer(model, phrases=["네 괜찮 아요", "아니요"])
            heard = None
            async for pcm in sat.audio(idle_timeout_s=3.0):
                heard = recognizer.feed(pcm) or heard
            heard = heard or recognizer.finish()
            request_id = await sat.play(wav_bytes(reply_pcm), timeout_s=10)
            return heard, request_id, dict(sat.counters), list(satellite.played)
        finally:
            satellite.close()
            await bridge.stop()

    heard, request_id, counters, played = asyncio.run(scenario())
    assert heard is not None and heard.text == "네괜찮아요", heard
    assert counters["bad_wav"] == 1 and counters.get("frames_overflow", 0) == 0
    assert [rid for rid, _ in played] == [request_id]
    assert wav_to_pcm16k(played[0][1]) == reply_pcm


def test_wav_roundtrip_and_resampling() -> None:
    pcm = (b"\x10\x00\xf0\xff") * 4000  # 8000 samples
    assert wav_to_pcm16k(wav_bytes(pcm)) == pcm
    stereo_8k = wav_bytes(b"\x10\x00\x10\x00" * 800, rate=8000, channels=2)
    out = wav_to_pcm16k(stereo_8k)
    assert len(out) == 1600 * 2  # 800 frames at 8 kHz -> 1600 samples at 16 kHz
    with wave.open(io.BytesIO(wav_bytes(pcm)), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
