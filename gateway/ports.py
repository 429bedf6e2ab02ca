"""The typed seams between the gateway's services (Protocols, no `Any` probing).

Each service takes the few things it needs: the `Home` (clock, settings, counters, small
state, the cached cloud config and `emit`) and its neighbours' narrow interfaces. The daemon
is the one `Home`; tests may hand a service anything with the same shape.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from gateway.config import GatewaySettings
from gateway.state import SmallState
from mimamori_wire.v1 import DeviceHealth, Event, EventKind, GatewayConfig
from speech.dialogue import Action, DialogueResult
from speech.ports import Heard

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]
Payload = BaseModel | dict[str, Any]
HelpPhrase = Callable[[str, str], bool]  # (heard text, language) -> is it a call for help?


class Home(Protocol):
    """What every service shares: the injected clock, settings, counters, state and events."""

    settings: GatewaySettings
    counters: Counter[str]
    state: SmallState
    now: Clock

    @property
    def cloud_config(self) -> GatewayConfig: ...

    async def emit(
        self, kind: EventKind, payload: Payload, occurred_at: datetime | None = None
    ) -> Event | None:
        """Store one event durably; returns it once committed (the ack), None if not yet."""


class Dialogue(Protocol):
    """speech.dialogue.Dialogue as the gateway drives it."""

    def start(self) -> Action: ...
    def spoken(self) -> Action: ...
    def heard(self, heard: Heard | None) -> Action: ...


class DialogueFactory(Protocol):
    def __call__(
        self,
        questions: list[str],
        *,
        kind: str = ...,
        lang: str = ...,
        prompts: dict[str, str] | None = ...,
        speed: float = ...,
        volume: float = ...,
        slot_name: str = ...,
    ) -> Dialogue: ...


class Bridge(Protocol):
    """firmware_bridge.service.DeviceBridge as the gateway uses it."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def status(self) -> dict[str, Any]: ...
    def health(self) -> list[DeviceHealth]: ...
    def publish_checkin_state(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class StreamingHelpWatch(Protocol):
    """A LocalVoice streams its microphone until help is heard or `stop` is set."""

    def watch_for_help(self, stop: threading.Event, *, chunk_limit_s: float) -> Heard | None: ...


@runtime_checkable
class LabelledSimulator(Protocol):
    simulated: bool


@runtime_checkable
class SatelliteSite(Protocol):
    site_id: str


@runtime_checkable
class AudioDevice(Protocol):
    device: Any  # a LocalVoice's sound card


@runtime_checkable
class LoadedModel(Protocol):
    model: Any  # the recogniser's model (None until loaded)


__all__ = [
    "AudioDevice",
    "Bridge",
    "Clock",
    "Dialogue",
    "DialogueFactory",
    "DialogueResult",
    "HelpPhrase",
    "Home",
    "LabelledSimulator",
    "LoadedModel",
    "Monotonic",
    "Payload",
    "SatelliteSite",
    "StreamingHelpWatch",
]
