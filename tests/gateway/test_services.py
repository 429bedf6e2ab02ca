"""The daemon's services alone, each on a small in-memory Home (no daemon, no outbox)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.commands import CommandHandler
from gateway.config import GatewaySettings
from gateway.dialogue_runs import DialogueRuns
from gateway.ports import Home, Payload
from gateway.slot_book import SlotBook
from gateway.state import SmallState
from gateway.supervisor import FIRST_BACKOFF_S, MAX_BACKOFF_S, restart_delay, supervise
from gateway.voice_arbiter import VoiceArbiter
from mimamori_wire.v1 import AnnouncementCommand, EventKind, GatewayConfig
from speech.dialogue import Dialogue
from speech.voice import TextVoice
from tests.gateway.conftest import SimClock, cloud_config, make_settings

NIGHT = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # 22:00 Tokyo: quiet hours


@dataclass
class MemoryHome:
    """A Home for one service: events go to a list, the small state to a temp file."""

    settings: GatewaySettings
    state: SmallState
    now: SimClock
    cloud_config: GatewayConfig
    counters: Counter[str] = field(default_factory=Counter)
    events: list[tuple[EventKind, Payload]] = field(default_factory=list)

    async def emit(
        self, kind: EventKind, payload: Payload, occurred_at: datetime | None = None
    ) -> Any:
        self.events.append((kind, payload))
        return object()  # committed


def memory_home(tmp_path: Path, at: datetime) -> MemoryHome:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state = SmallState(settings.data_dir / "state.json")
    return MemoryHome(settings, state, SimClock(at), cloud_config())


def test_memory_home_is_a_home(tmp_path: Path) -> None:
    home: Home = memory_home(tmp_path, NIGHT)  # the Protocol is all a service needs
    assert home.cloud_config.timezone == "Asia/Tokyo"


def test_command_handler_alone_holds_a_night_announcement_and_runs_it_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        home = memory_home(tmp_path, NIGHT)
        voice = TextVoice([])
        arbiter = VoiceArbiter(voice)
        runs = DialogueRuns(home, arbiter, Dialogue, SlotBook(home), None)

        async def reload() -> bool:
            return True

        handler = CommandHandler(home, arbiter, runs, reload)
        cmd = AnnouncementCommand(
            id="c1", issued_at=NIGHT, payload={"announcement_id": "a1", "text": "お知らせです。"}
        )
        handler.submit(cmd)
        await handler.handle(handler.queue.get_nowait())
        assert voice.said == [] and home.events == []  # held: quiet hours
        handler.submit(cmd)  # re-sent by the cloud while held
        assert handler.queue.empty()
        home.now.t = NIGHT + timedelta(hours=9)  # 07:00 Tokyo
        await handler.play_due(home.now())
        assert voice.said_texts == ["お知らせです。"]
        assert [k for k, _ in home.events] == [
            EventKind.ANNOUNCEMENT_PLAYED,
            EventKind.COMMAND_DONE,
        ]
        handler.submit(cmd)  # done: never again
        assert handler.queue.empty()

    asyncio.run(scenario())


def test_voice_arbiter_stops_help_spotting_before_a_turn() -> None:
    async def scenario() -> None:
        order: list[str] = []

        class Streaming(TextVoice):
            def watch_for_help(self, stop, *, chunk_limit_s):  # type: ignore[no-untyped-def]
                order.append("listening")
                stop.wait(timeout=30)
                order.append("stopped" if stop.is_set() else "timed out")
                return None

        arbiter = VoiceArbiter(Streaming([]))
        listening = asyncio.create_task(arbiter.listen_for_help(600))
        while not order:
            await asyncio.sleep(0.01)
        await arbiter.say("こんにちは", speed=1.0, volume=1.0)
        order.append("said")
        assert await listening is None
        assert order == ["listening", "stopped", "said"]

    asyncio.run(scenario())


def test_supervisor_restarts_a_crashed_loop_with_backoff_and_counts_it() -> None:
    async def scenario() -> None:
        counters: Counter[str] = Counter()
        delays: list[float] = []
        runs = 0

        async def body() -> None:
            nonlocal runs
            runs += 1
            if runs <= 4:
                raise RuntimeError("boom")

        async def no_wait(delay: float) -> None:
            delays.append(delay)

        await supervise("scheduler", body, counters, sleep=no_wait, monotonic=lambda: 0.0)
        assert runs == 5
        assert counters["loop_crash.scheduler"] == 4
        assert delays == [1.0, 2.0, 4.0, 8.0]

    asyncio.run(scenario())


@given(
    previous=st.one_of(st.none(), st.floats(min_value=FIRST_BACKOFF_S, max_value=MAX_BACKOFF_S)),
    ran=st.floats(min_value=0, max_value=1e6),
)
def test_restart_delay_is_bounded_and_resets_after_a_stable_run(
    previous: float | None, ran: float
) -> None:
    delay = restart_delay(previous, ran)
    assert FIRST_BACKOFF_S <= delay <= MAX_BACKOFF_S
    if previous is None or ran >= 60:
        assert delay == FIRST_BACKOFF_S
    else:
        assert delay == min(MAX_BACKOFF_S, previous * 2)
