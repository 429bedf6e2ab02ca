"""Drive the real gateway daemon (schedule -> dialogue -> publish) with a real bridge."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.daemon import Gateway
from gateway.state import SmallState
from speech.dialogue import Dialogue
from speech.intents import is_help_phrase
from speech.voice import TextVoice
from tests.gateway.conftest import SimClock, cloud_config, make_settings

# 08:00 Asia/Tokyo on 2026-11-27: the morning slot of tests.gateway.conftest.cloud_config.
SLOT_AT = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


async def gateway_with_bridge(tmp_path: Path, bridge: Any, answers: list[str]) -> Gateway:
    """An opened Gateway (offline cloud, cached config) whose device bridge is `bridge`."""
    settings = make_settings(tmp_path)
    store = SmallState(settings.data_dir / "state.json")
    store.update(cloud_config=cloud_config().model_dump(mode="json"))
    store.close()
    clock = SimClock(SLOT_AT)
    gateway = Gateway(
        settings,
        voice=TextVoice(answers),
        dialogue_factory=Dialogue,
        help_phrase=is_help_phrase,
        bridge=bridge,
        now=clock,
        kernel_clock=lambda: True,
        monotonic=clock.monotonic,
    )
    await gateway.open()
    return gateway


async def answer_morning_checkin(tmp_path: Path, bridge: Any, answer: str = "元気です") -> None:
    """The resident answers the 08:00 check-in; the daemon publishes it through `bridge`."""
    gateway = await gateway_with_bridge(tmp_path, bridge, [answer])
    try:
        await gateway.schedule_tick()
    finally:
        await gateway.close()
