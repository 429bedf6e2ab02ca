"""Gateway + the real cloud (uvicorn subprocess, SQLite): a day offline, then recovery;
the command round trip; malformed cloud responses.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from firmware_bridge.events import DeviceEvent, DeviceRole, DeviceSignal
from gateway.daemon import Gateway
from mimamori_wire.v1 import Event
from tests.gateway.conftest import Enrolled, SimClock, enroll, make_gateway, make_settings

TOKYO = ZoneInfo("Asia/Tokyo")


def record_acks(gw: Gateway) -> list[Event]:
    acked: list[Event] = []
    emit = gw.emit

    async def recording(*args, **kwargs):
        event = await emit(*args, **kwargs)
        if event is not None:
            acked.append(event)
        return event

    gw.emit = recording  # type: ignore[method-assign]
    return acked


async def drain(gw: Gateway, timeout_s: float = 60.0) -> None:
    """Wait until the outbox is empty and no event is still being made: the clock_skew report
    a cloud response triggers is a task created while that response is handled, so once every
    such task is done and the outbox is empty, nothing more is on its way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        making = [t for t in gw._tasks if not t.done()]
        if gw.outbox.depth() == 0 and not gw._unstored and not making:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox not drained: {gw.outbox.depth()} left")


def motion(at: datetime, room: str) -> DeviceEvent:
    return DeviceEvent(f"{room}-motion", DeviceRole.MOTION, DeviceSignal.ACTIVITY, at, room)


def test_cloud_down_for_a_day_then_every_event_once_in_order_help_first(
    gateway_cloud, tmp_path: Path
) -> None:
    real_now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = real_now - timedelta(hours=26)
    slot_local = (start + timedelta(hours=3)).astimezone(TOKYO).strftime("%H:%M")
    cloud: Enrolled = enroll(gateway_cloud, slot=slot_local)
    settings = make_settings(
        tmp_path,
        cloud_url=cloud.base_url,
        token=cloud.token,
        gateway_id=cloud.gateway_id,
        household_id=cloud.household_id,
        upload_batch_size=50,
    )

    async def scenario() -> tuple[list[Event], list[str]]:
        clock = SimClock(start)
        gw = make_gateway(settings, clock, ["元気です"])
        acked = record_acks(gw)
        await gw.open()
        assert await gw.refresh_config()  # cloud up: the schedule is cached locally
        assert gw.cloud_config.slots and gw.cloud_config.slots[0].time == slot_local
        gateway_cloud.stop()  # --- the cloud goes down for a simulated day ---
        uploader = asyncio.create_task(gw.uploader.run())
        help_ids: list[str] = []
        for step in range(24 * 6):  # every 10 simulated minutes
            clock.advance(minutes=10)
            for k in range(3):
                room = ("living", "kitchen", "bedroom")[(step + k) % 3]
                await gw.handle_device_event(motion(clock() - timedelta(minutes=3 * k), room))
            if step == 100:
                await gw.handle_device_event(
                    DeviceEvent("button", DeviceRole.HELP_BUTTON, DeviceSignal.HELP, clock())
                )
                help_ids.append(acked[-1].id)
            if step % 30 == 0:
                await gw.handle_device_event(
                    DeviceEvent(
                        "door",
                        DeviceRole.CONTACT,
                        DeviceSignal.BATTERY_LOW,
                        clock(),
                        data={"battery_pct": 9},
                    )
                )
            await gw.schedule_tick()
            await gw.lifesigns_tick()
            await asyncio.sleep(0)  # the uploader keeps trying (and failing) meanwhile
        assert gw.uploader.stats.failures > 0
        assert gw.uploader.stats.events_sent == 0
        before = gw.outbox.depth()
        assert before == len(acked)
        gateway_cloud.start()  # --- the cloud is back ---
        gw.uploader.urgent()
        await drain(gw)
        uploader.cancel()
        await gw.close()
        return acked, help_ids

    acked, help_ids = asyncio.run(scenario())
    stored = cloud.stored_events()
    stored_ids = [e["id"] for e in stored]
    assert len(stored_ids) == len(set(stored_ids))  # no duplicates at the cloud
    assert set(stored_ids) == {e.id for e in acked}  # every acknowledged event, once
    kinds = {e.kind.value for e in acked}
    assert {"checkin.answered", "activity.summary", "help.requested", "device.battery_low"} <= kinds
    assert len([e for e in acked if e.kind.value == "activity.summary"]) >= 23
    # Help first: the first event the cloud received after the outage is the help request.
    offline = [e for e in stored if e["kind"] != "gateway.started"]
    assert offline[0]["id"] == help_ids[0]
    # In order per kind: the cloud stored each kind in the order the gateway made them.
    for kind in kinds:
        made = [e.id for e in acked if e.kind.value == kind]
        got = [e["id"] for e in stored if e["kind"] == kind]
        assert got == made, kind


def test_command_round_trip(gateway_cloud, tmp_path: Path) -> None:
    cloud = enroll(gateway_cloud)
    settings = make_settings(
        tmp_path,
        cloud_url=cloud.base_url,
        token=cloud.token,
        gateway_id=cloud.gateway_id,
        household_id=cloud.household_id,
    )
    command_id = str(uuid.uuid4())
    conn = sqlite3.connect(cloud.db_path())
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO commands (id, household_id, kind, payload, issued_at) VALUES (?,?,?,?,?)",
        (
            command_id,
            cloud.household_id,
            "announcement",
            json.dumps(
                {"announcement_id": "ann-1", "text": "本日は点検でお伺いします。", "urgent": True}
            ),
            now.isoformat(),
        ),
    )
    conn.commit()
    conn.close()

    async def scenario() -> Gateway:
        gw = Gateway(
            settings,
            voice=make_gateway(settings, SimClock(now)).voice,
            kernel_clock=lambda: True,
        )
        await gw.open()
        uploader = asyncio.create_task(gw.uploader.run())
        assert await gw.heartbeat_once()
        cmd = gw._commands.get_nowait()
        assert cmd.id == command_id
        await gw.handle_command(cmd)
        await drain(gw)
        assert await gw.heartbeat_once()
        assert gw._commands.empty()  # done: the cloud no longer sends it
        uploader.cancel()
        await gw.close()
        return gw

    gw = asyncio.run(scenario())
    assert gw.voice.said_texts == ["本日は点検でお伺いします。"]
    kinds = [e["kind"] for e in cloud.stored_events()]
    assert "announcement.played" in kinds and "command.done" in kinds
    conn = sqlite3.connect(cloud.db_path())
    (done_at,) = conn.execute("SELECT done_at FROM commands WHERE id = ?", (command_id,)).fetchone()
    conn.close()
    assert done_at is not None


class _Garbage(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = self.bodies.pop(0) if self.bodies else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_malformed_cloud_responses_are_counted_and_nothing_is_deleted(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _Garbage.bodies = [
        b"not json at all",
        b'{"accepted": "everything"}',
        b'{"accepted": ["someone-else"]}',
        b'{"config_version": "x"}',
        b'{"config_version": 2, "server_time": "2026-11-27T00:00:00Z", '
        b'"commands": [{"id": "c1", "kind": "self_destruct"}]}',
    ]
    settings = make_settings(tmp_path, cloud_url=url)

    async def scenario() -> Gateway:
        gw = Gateway(settings, kernel_clock=lambda: True)
        await gw.open()
        for _ in range(3):
            assert await gw.uploader.upload_once() is None
        assert gw.outbox.depth() == 1  # the gateway.started event is still there
        assert await gw.heartbeat_once() is False
        # One unknown command must not hide the response: it is answered as unsupported.
        assert await gw.heartbeat_once() is True
        done = [json.loads(p.body) for p in gw.outbox.peek(10) if p.kind == "command.done"]
        assert [d["payload"]["ok"] for d in done] == [False]
        assert gw.counters["config_failures"] == 1  # GET /config answered 501: cache kept
        await gw.close()
        return gw

    try:
        gw = asyncio.run(scenario())
    finally:
        server.shutdown()
    assert gw.uploader.stats.malformed == 3
    assert gw.counters["heartbeat_failures"] == 1
    assert gw.counters["bad_commands"] == 1
