"""The gateway's side of the rule book's answer window: a dialogue is cut at MAX_DIALOGUE,
so an ask begun as late as the schedule allows is reported before the cloud's deadline,
even with a short grace and a resident who is slow to answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.daemon import Gateway
from gateway.state import SmallState
from mimamori_rules import schedule as rules
from mimamori_wire.v1 import GatewayConfig, Slot
from speech.dialogue import Dialogue
from speech.intents import is_help_phrase
from speech.ports import Heard
from speech.voice import TextVoice
from tests.gateway.conftest import SimClock, cloud_config, make_settings, pending

# 12:00 Asia/Tokyo on 2026-11-30; window 30, grace 2, re-asks at +10 and +28: the window
# ends at +33 (the last re-ask plus the 5-minute gap) and the cloud's deadline is +38.
SLOT_AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
SLOT = Slot(
    name="noon",
    time="12:00",
    window_min=30,
    grace_min=2,
    reask_offsets_min=[10, 28],
    questions=["health", "medicine", "meal", "sleep"],
)


class SlowVoice(TextVoice):
    """A resident who takes their time: every prompt takes 20 s to say, every silence the
    whole listen (the clock is the gateway's injected one)."""

    def __init__(self, clock: SimClock, answers: list[str | None]) -> None:
        super().__init__(answers)
        self.clock = clock

    async def say(self, text: str, *, speed: float = 1.0, volume: float = 1.0) -> None:
        await super().say(text, speed=speed, volume=volume)
        self.clock.advance(seconds=20)

    async def listen(self, *, timeout_s: float, expect: str = "any") -> Heard | None:
        heard = await super().listen(timeout_s=timeout_s, expect=expect)
        self.clock.advance(seconds=timeout_s if heard is None else 3)
        return heard


def slow_gateway(tmp_path: Path, clock: SimClock, answers: list[str | None]) -> Gateway:
    settings = make_settings(tmp_path)
    store = SmallState(settings.data_dir / "state.json")
    cfg: GatewayConfig = cloud_config(slots=[SLOT])
    store.update(
        cloud_config=cfg.model_dump(mode="json"),
        tracking_since=(SLOT_AT - timedelta(hours=1)).isoformat(),
    )
    store.close()
    return Gateway(
        settings,
        voice=SlowVoice(clock, answers),
        dialogue_factory=Dialogue,
        help_phrase=is_help_phrase,
        now=clock,
        kernel_clock=lambda: True,
        monotonic=clock.monotonic,
    )


async def ask_once(gw: Gateway) -> list[dict]:
    """One scheduler tick; the events it stored."""
    await gw.open()
    await gw.schedule_tick()
    stored = pending(gw)
    await gw.close()
    return stored


def test_a_long_dialogue_begun_at_the_last_moment_is_reported_before_the_deadline(
    tmp_path: Path,
) -> None:
    occ = rules.occurrence_on(SLOT, SLOT_AT.date(), ZoneInfo("Asia/Tokyo"))
    assert occ.at == SLOT_AT and occ.deadline == SLOT_AT + timedelta(minutes=38)
    # The gateway comes up at +32:59 (a reboot): the one ask still allowed starts now.
    start = occ.window_end - timedelta(seconds=1)
    clock = SimClock(start)
    # Answers the main question, then stays silent through three follow-ups: left alone, the
    # dialogue would run 5 minutes (3 x 3 asks of 30 s), past the deadline.
    gw = slow_gateway(tmp_path, clock, ["元気です"])

    events = asyncio.run(ask_once(gw))
    answered = [e for e in events if e["kind"] == "checkin.answered"]
    assert len(answered) == 1 and answered[0]["payload"]["intent"] == "fine"
    reported_at = datetime.fromisoformat(answered[0]["recorded_at"])
    assert gw.counters["dialogue_cut_short"] == 1
    # Over within MAX_DIALOGUE (the last prompt played out), before the deadline.
    assert reported_at <= start + rules.MAX_DIALOGUE
    assert reported_at + rules.UPLOAD_MARGIN <= occ.deadline
    assert not rules.is_late(occ.deadline, reported_at + rules.UPLOAD_MARGIN)


def test_a_silent_resident_at_the_last_ask_is_reported_before_the_deadline(
    tmp_path: Path,
) -> None:
    occ = rules.occurrence_on(SLOT, SLOT_AT.date(), ZoneInfo("Asia/Tokyo"))
    start = occ.window_end - timedelta(seconds=1)
    clock = SimClock(start)
    gw = slow_gateway(tmp_path, clock, [])

    events = asyncio.run(ask_once(gw))
    (report,) = [e for e in events if e["kind"] == "checkin.no_response"]
    assert report["payload"]["reason"] == "silent"
    reported_at = datetime.fromisoformat(report["recorded_at"])
    assert reported_at + rules.UPLOAD_MARGIN <= occ.deadline


def test_a_dialogue_within_its_bound_is_not_cut(tmp_path: Path) -> None:
    clock = SimClock(SLOT_AT)
    gw = slow_gateway(tmp_path, clock, ["元気です", "はい", "はい", "はい"])

    events = asyncio.run(ask_once(gw))
    (answered,) = [e for e in events if e["kind"] == "checkin.answered"]
    assert gw.counters["dialogue_cut_short"] == 0
    assert set(answered["payload"]["answers"]) == {"medicine", "meal", "sleep"}
