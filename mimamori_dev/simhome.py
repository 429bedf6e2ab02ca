"""A simulated home: the real gateway daemon with a simulated resident and simulated sensors.

The resident is the clearly labelled TEXT-ANSWER SIMULATOR (speech.voice.TextVoice) feeding the
real dialogue code; the sensors are BTHome v2 frames built by firmware_bridge.simulate and fed
through the real decoder (DeviceBridge.feed_ble_advertisement), exactly where bleak's callback
would put them. Used by `make demo` and the end-to-end scenario tests.

    python -m mimamori_dev.simhome --config gateway.json --persona persona.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_bridge import simulate
from firmware_bridge.events import DeviceRole, PairedDevice
from gateway.cli import build_bridge
from gateway.config import GatewaySettings, load_config
from gateway.daemon import Gateway
from gateway.logging_setup import setup_logging
from speech.dialogue import Dialogue
from speech.intents import is_help_phrase
from speech.voice import TextVoice

log = logging.getLogger("simhome")


@dataclass
class Persona:
    """How the simulated resident behaves."""

    answers: list[str | None] = field(default_factory=lambda: ["元気です"])
    motion_every_s: float = 20.0
    help_button_after_s: float | None = None  # long press of the help button
    fine_button_after_s: float | None = None  # single press: "I'm fine"
    seed: int = 0

    @classmethod
    def load(cls, path: Path) -> Persona:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


class PersonaVoice(TextVoice):
    """TextVoice whose answers never run out: the persona's answers, cycled."""

    def __init__(self, answers: list[str | None]) -> None:
        super().__init__()
        self._cycle = itertools.cycle(answers or [None])

    async def listen(self, *, timeout_s: float, expect: str = "any"):  # type: ignore[override]
        if self.remaining == 0:
            self.add_answer(next(self._cycle))
        return await super().listen(timeout_s=timeout_s, expect=expect)


class SensorSimulator:
    """Builds encrypted BTHome frames for the paired BLE devices and feeds them to the bridge."""

    def __init__(self, bridge: Any, devices: list[PairedDevice], seed: int) -> None:
        self.bridge = bridge
        self.devices = [d for d in devices if d.transport == "ble" and d.address]
        self.rng = random.Random(seed)
        self.packet_id = self.rng.randrange(256)
        self.counter = self.rng.randrange(1, 1 << 20)

    def _send(self, device: PairedDevice, objects: list[tuple[int, simulate.ObjectValue]]) -> None:
        self.packet_id = (self.packet_id + 1) % 256
        self.counter += 1
        frame = simulate.build_frame(
            objects,
            packet_id=self.packet_id,
            bindkey=device.bindkey,
            counter=self.counter,
            mac=device.address or "",
        )
        self.bridge.feed_ble_advertisement(
            device.address or "", simulate.service_data(frame), rssi=-60, name=device.name
        )

    def by_role(self, role: DeviceRole) -> list[PairedDevice]:
        return [d for d in self.devices if d.role == role]

    def motion(self) -> None:
        for device in self.by_role(DeviceRole.MOTION):
            self._send(device, [(simulate.MOTION, 1), (simulate.BATTERY, 87)])

    def room_climate(self) -> None:
        for device in self.by_role(DeviceRole.THERMOMETER):
            temp = round(self.rng.uniform(19.0, 23.0), 1)
            self._send(device, [(simulate.TEMPERATURE, temp), (simulate.HUMIDITY, 48.0)])

    def button(self, press: int) -> None:
        for device in self.by_role(DeviceRole.HELP_BUTTON):
            self._send(device, [(simulate.BUTTON, press)])


async def _simulate_sensors(sim: SensorSimulator, persona: Persona) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    next_motion = started
    pending = {
        simulate.BUTTON_LONG: persona.help_button_after_s,
        simulate.BUTTON_PRESS: persona.fine_button_after_s,
    }
    while True:
        now = loop.time()
        if now >= next_motion:
            sim.motion()
            sim.room_climate()
            next_motion = now + persona.motion_every_s
        for press, after in list(pending.items()):
            if after is not None and now - started >= after:
                log.warning("simulated resident presses the help button (BTHome event %d)", press)
                sim.button(press)
                pending[press] = None
        await asyncio.sleep(1.0)


async def run_home(settings: GatewaySettings, persona: Persona) -> None:
    gateway = Gateway(
        settings,
        voice=PersonaVoice(persona.answers),
        dialogue_factory=Dialogue,
        help_phrase=lambda text, lang: is_help_phrase(text, lang),
    )
    gateway.bridge = build_bridge(settings, gateway.device_sink)
    runner = asyncio.create_task(gateway.run())
    sensors = None
    if gateway.bridge is not None:
        sensors = asyncio.create_task(
            _simulate_sensors(
                SensorSimulator(gateway.bridge, settings.devices, persona.seed), persona
            )
        )
    try:
        await runner
    finally:
        if sensors is not None:
            sensors.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--persona", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_logging("text", logging.INFO)
    asyncio.run(run_home(load_config(args.config), Persona.load(args.persona)))


if __name__ == "__main__":
    main()
