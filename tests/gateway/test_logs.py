"""Structured logs of the gateway: JSON lines in the cloud's format, one per thing that
happened, with the home's ids, and never what the resident said."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer

from cloud.core import logging as cloud_logging
from firmware_bridge.events import DeviceEvent, DeviceRole, DeviceSignal
from gateway import logging_setup
from gateway.logging_setup import log_event, setup_logging
from gateway.supervisor import supervise
from mimamori_wire.v1 import ClockSkew, EventKind, ReloadConfigCommand
from tests.gateway.conftest import SimClock, enroll, make_gateway, make_settings

TOKYO = ZoneInfo("Asia/Tokyo")
ANSWER = "あまり元気じゃないです"  # unwell: an urgent answer, and words that must stay home


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The daemon's own handler (as `mimamori-gateway run` configures it) on a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]  # every line is JSON


def named(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == event]


def test_gateway_lines_are_the_clouds_lines() -> None:
    """One pipeline reads both sides: the same call gives the same object on both."""
    out = []
    for formatter in (logging_setup.JsonFormatter(), cloud_logging.JsonFormatter()):
        record = logging.makeLogRecord(
            {"name": "x", "levelno": logging.WARNING, "levelname": "WARNING", "msg": "a.b"}
        )
        setattr(record, logging_setup.FIELDS_ATTR, {"event_id": "e-1", "count": 3})
        record.created = 1_800_000_000.5
        out.append(json.loads(formatter.format(record)))
    assert out[0] == out[1]
    assert list(out[0]) == ["ts", "level", "logger", "event", "event_id", "count"]


def test_a_check_in_and_its_upload_in_json_lines_without_the_residents_words(
    gateway_cloud, tmp_path: Path, log_lines: io.StringIO
) -> None:
    # Behind the real clock, so the cloud never sees an event from its future.
    # wall clock: the cloud fixture serves on the real clock
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    slot_at = start + timedelta(minutes=5)
    cloud = enroll(gateway_cloud, slot=slot_at.astimezone(TOKYO).strftime("%H:%M"))
    settings = make_settings(
        tmp_path,
        cloud_url=cloud.base_url,
        token=cloud.token,
        gateway_id=cloud.gateway_id,
        household_id=cloud.household_id,
    )
    ids = {"gateway_id": cloud.gateway_id, "household_id": cloud.household_id}
    setup_logging("json", stream=log_lines, ids=ids)

    async def scenario() -> dict[str, str]:
        clock = SimClock(start)
        gw = make_gateway(settings, clock, [ANSWER])
        await gw.open()
        assert await gw.refresh_config()
        # Transcripts shared with the cloud (opt-in): the events carry them, the logs never.
        gw.cloud_config = gw.cloud_config.model_copy(update={"share_transcripts": True})
        clock.advance(minutes=5)
        await gw.schedule_tick()  # the slot: asked, answered "unwell"
        await gw.handle_device_event(
            DeviceEvent("button", DeviceRole.HELP_BUTTON, DeviceSignal.HELP, clock())
        )
        skew = ClockSkew(skew_s=1.0, source="jump", synchronized=True)
        poisoned = await gw.emit(
            EventKind.GATEWAY_CLOCK_SKEW, skew, occurred_at=datetime(2019, 1, 1, tzinfo=UTC)
        )
        assert poisoned is not None
        answered = [p.id for p in gw.outbox.peek(100) if p.kind == "checkin.answered"]
        while await gw.uploader.upload_once():
            pass
        await gw.close()
        return {"poisoned": poisoned.id, "answered": answered[0]}

    made = asyncio.run(scenario())
    lines = parsed(log_lines)
    assert all(line["gateway_id"] == cloud.gateway_id for line in lines)
    assert all(line["household_id"] == cloud.household_id for line in lines)
    assert named(lines, "config.applied")[0]["slots"] == ["morning"]
    (started,) = named(lines, "slot.started")
    assert started["slot"] == "morning" and started["attempt"] == 0
    (ended,) = named(lines, "slot.ended")
    assert ended["outcome"] == "answered" and ended["intent"] == "unwell"
    assert ended["event_ids"] == [made["answered"]]
    urgent = {line["event_id"]: line["cause"] for line in named(lines, "outbox.urgent_enqueued")}
    (help_line,) = named(lines, "help.pressed")
    assert urgent == {made["answered"]: "unwell", help_line["event_id"]: "help_requested"}
    sent = [i for line in named(lines, "uplink.batch_sent") for i in line["event_ids"]]
    assert {made["answered"], help_line["event_id"]} <= set(sent)
    assert made["poisoned"] not in sent
    (rejected,) = named(lines, "uplink.event_rejected")
    assert rejected["event_id"] == made["poisoned"]
    assert rejected["reason"] == "time_out_of_range" and rejected["level"] == "error"
    (quarantined,) = named(lines, "uplink.event_quarantined")
    assert quarantined["event_id"] == made["poisoned"]
    # The words stayed home: the cloud got the transcript (opted in), no log line has it.
    stored = [e for e in cloud.stored_events() if e["id"] == made["answered"]]
    assert stored[0]["payload"]["transcript"] == ANSWER
    assert ANSWER not in log_lines.getvalue()
    assert "元気" not in log_lines.getvalue()


def test_offline_failures_commands_crashes_and_clock_jumps_are_logged(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    setup_logging("json", stream=log_lines, ids={"gateway_id": "gw-test"})

    async def scenario() -> None:
        clock = SimClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
        # Nothing listens at the cloud's address: the cloud is down.
        gw = make_gateway(make_settings(tmp_path), clock, ["助けて"])
        await gw.open()
        assert await gw.help_spot_once()
        assert not await gw.heartbeat_once()
        cmd = ReloadConfigCommand(id="cmd-reload-1", issued_at=clock())
        gw.submit_command(cmd)
        await gw.handle_command(gw._commands.get_nowait())
        await gw.schedule_tick()
        clock.jump(hours=2)
        await gw.schedule_tick()
        await gw.close()

        crashes = iter([RuntimeError("boom"), None])

        async def body() -> None:
            if (exc := next(crashes)) is not None:
                raise exc

        async def no_wait(_: float) -> None:
            return None

        await supervise("lifesigns", body, Counter(), sleep=no_wait)

    asyncio.run(scenario())
    lines = parsed(log_lines)
    (spotted,) = named(lines, "help.spotted")
    assert spotted["level"] == "warning" and spotted["event_id"]
    assert "助けて" not in log_lines.getvalue()
    assert named(lines, "heartbeat.failed")[0]["failures"] == 1
    (received,) = named(lines, "command.received")
    assert (received["command_id"], received["kind"]) == ("cmd-reload-1", "reload_config")
    (not_applied,) = named(lines, "command.not_applied")
    assert not_applied["command_id"] == "cmd-reload-1"
    assert not_applied["detail"] == "cloud unreachable"
    (jump,) = named(lines, "clock.jumped")
    assert jump["jump_s"] == 7200.0
    (crash,) = named(lines, "loop.crashed")
    assert crash["loop"] == "lifesigns" and crash["crashes"] == 1
    assert "RuntimeError: boom" in crash["exception"]
    assert named(lines, "loop.restarted")[0]["loop"] == "lifesigns"
    assert all(line["gateway_id"] == "gw-test" for line in lines)


def test_words_are_dropped_from_any_log_call(log_lines: io.StringIO) -> None:
    setup_logging("text", stream=log_lines)
    log_event(logging.getLogger("t"), "help.spotted", transcript="たすけて", text="x", event_id="e")
    out = log_lines.getvalue()
    assert "help.spotted" in out and "event_id=e" in out
    assert "たすけて" not in out and "text=" not in out


def test_log_format_option(tmp_path: Path) -> None:
    from gateway.cli import resolve_log_format

    assert resolve_log_format("auto", on_terminal=True) == "text"
    assert resolve_log_format("auto", on_terminal=False) == "json"
    assert resolve_log_format("json", on_terminal=True) == "json"
    with pytest.raises(typer.Exit):
        resolve_log_format("xml", on_terminal=False)
