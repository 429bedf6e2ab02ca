"""A simulated Rhasspy Hermes satellite on a real broker (what a satellite does on the wire).

For every playBytes it receives it records the WAV, optionally streams "echo" (its own
microphone hearing the prompt) while "playing", answers playFinished (unless told not to),
then streams the next scripted answer as small WAV audioFrame messages, like a resident
answering after the prompt. Audio is sent as fast as the broker takes it.
"""

from __future__ import annotations

import collections
import json
import threading
import uuid
from collections.abc import Iterable

import paho.mqtt.client as paho

from firmware_bridge.hermes import wav_frames


class SimulatedSatellite:
    def __init__(
        self,
        broker,
        site_id: str,
        *,
        answers: Iterable[bytes | None] = (),
        echo: bytes | None = None,
        confirm_playback: bool = True,
    ) -> None:
        self.site_id = site_id
        self.answers: collections.deque[bytes | None] = collections.deque(answers)
        self.echo = echo
        self.confirm_playback = confirm_playback
        self.played: list[tuple[str, bytes]] = []  # (requestId, WAV) in order
        self.got_play = threading.Event()
        self.ready = threading.Event()
        base = f"hermes/audioServer/{site_id}"
        self._frame_topic = f"{base}/audioFrame"
        self._finished_topic = f"{base}/playFinished"
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"sat-{uuid.uuid4().hex}"
        )
        self.client.on_message = self._on_play_bytes
        self.client.on_subscribe = lambda *args: self.ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{base}/playBytes/#", qos=1)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise RuntimeError("simulated satellite: no SUBACK from the broker")

    def _on_play_bytes(self, client, userdata, msg) -> None:  # paho thread
        request_id = msg.topic.rsplit("/", 1)[-1]
        self.played.append((request_id, msg.payload))
        self.got_play.set()
        if self.echo is not None:
            self.stream(self.echo)
        if not self.confirm_playback:
            return
        client.publish(
            self._finished_topic, json.dumps({"id": request_id, "siteId": self.site_id}), qos=1
        )
        answer = self.answers.popleft() if self.answers else None
        if answer is not None:
            self.stream(answer)

    def stream(self, pcm: bytes) -> None:
        for frame in wav_frames(pcm):
            self.client.publish(self._frame_topic, frame, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
