"""Issue 13: a poisoned event in the outbox never holds up a help request.

A real cloud (uvicorn; SQLite and PostgreSQL) behind a real HTTP proxy that can make the
cloud answer 500 for one chosen event. The gateway's uploader splits a refused batch in the
same cycle (help first, alone), and moves an event the cloud keeps refusing to the local
quarantine, which `status`, the heartbeat and /metrics count. Progress is asserted per upload
cycle (calls of `upload_once`) and per request, never by wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from cloud.db import make_engine
from cloud.models import EventRecord
from cloud.models import Gateway as GatewayRecord
from firmware_bridge.roles import DeviceEvent, DeviceRole, DeviceSignal
from gateway.cli import _print_status
from gateway.daemon import Gateway
from gateway.logging_setup import FIELDS_ATTR
from gateway.metrics import registry_for
from gateway.outbox import Outbox, outbox_priority
from gateway.status import read_status, write_status
from mimamori_dev.services import CloudServer
from mimamori_wire import v1

from .conftest import Enrolled, SimClock, enroll, make_gateway, make_settings


class _Proxy(BaseHTTPRequestHandler):
    """Forwards to the real cloud; answers 500 itself for a body naming a poisoned id."""

    upstream = ""
    poison: ClassVar[set[str]] = set()
    fail_everything = False
    posts: ClassVar[list[bytes]] = []

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.fail_everything:  # e.g. the cloud's database is down
            type(self).posts.append(body)
            self._answer(500, b"Internal Server Error", "text/plain")
            return
        if self.command == "POST" and self.path.endswith("/gateway/events"):
            type(self).posts.append(body)
            if any(p in body.decode("utf-8", "replace") for p in self.poison):
                self._answer(500, b"Internal Server Error", "text/plain")
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        response = httpx.request(
            self.command, self.upstream + self.path, content=body, headers=headers, timeout=30
        )
        self._answer(
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
            response.headers.get("date"),
        )

    def _answer(self, status: int, body: bytes, ctype: str, date: str | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        if date:
            self.send_header("date", date)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def postgres_cloud(
    postgres_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CloudServer]:
    """One PostgreSQL-backed cloud for this module (each test enrolls its own household)."""
    workdir = tmp_path_factory.mktemp("poison-pg-cloud")
    server = CloudServer(postgres_cluster.create_database(), workdir / "cloud").start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cloud(request: pytest.FixtureRequest) -> CloudServer:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_cloud")
    return request.getfixturevalue("gateway_cloud")


@pytest.fixture
def proxy(cloud: CloudServer) -> Iterator[type[_Proxy]]:
    handler = type("Proxy", (_Proxy,), {"upstream": cloud.base_url, "poison": set(), "posts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()


def _stored(enrolled: Enrolled) -> dict[str, str]:
    """Event id -> kind, as the cloud's database has them."""
    engine = make_engine(enrolled.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(EventRecord.id, EventRecord.kind).where(
                    EventRecord.household_id == enrolled.household_id
                )
            ).all()
    finally:
        engine.dispose()
    return {event_id: kind for event_id, kind in rows}


def _gateway(tmp_path: Path, enrolled: Enrolled, url: str) -> tuple[Gateway, SimClock]:
    settings = make_settings(
        tmp_path,
        cloud_url=url,
        token=enrolled.token,
        gateway_id=enrolled.gateway_id,
        household_id=enrolled.household_id,
    )
    clock = SimClock(datetime.now(UTC))
    return make_gateway(settings, clock), clock


async def _press_help(gw: Gateway, clock: SimClock) -> str:
    await gw.handle_device_event(
        DeviceEvent("button", DeviceRole.HELP_BUTTON, DeviceSignal.HELP, clock())
    )
    (help_row,) = [p for p in gw.outbox.peek(1000) if p.kind == "help.requested"]
    return help_row.id


async def _motion(gw: Gateway, n: int) -> list[str]:
    ids = []
    for i in range(n):
        event = await gw.emit(v1.EventKind.ACTIVITY, v1.Activity(sensor=f"pir-{i}", kind="motion"))
        assert event is not None
        ids.append(event.id)
    return ids


def test_help_overtakes_an_event_that_makes_the_cloud_fail(
    cloud: CloudServer, proxy: type[_Proxy], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    enrolled = enroll(cloud)
    gw, clock = _gateway(tmp_path, enrolled, proxy.url)  # type: ignore[attr-defined]

    async def scenario() -> tuple[str, list[str], str]:
        await gw.open()
        poisoned = await gw.emit(
            v1.EventKind.ENVIRONMENT_ALERT,
            v1.EnvironmentAlert(sensor="env-1", condition="heat", temperature_c=35.0),
        )
        assert poisoned is not None
        proxy.poison.add(poisoned.id)  # the cloud fails (500) whenever this event is sent
        others = await _motion(gw, 6)
        help_id = await _press_help(gw, clock)
        assert gw.outbox.peek(1)[0].id == help_id  # help is first in line...

        # ...and reaches the cloud within ONE upload cycle, though the batch it is in fails.
        assert await gw.uploader.upload_once()
        stored = _stored(enrolled)
        assert stored.get(help_id) == "help.requested"
        assert set(others) <= set(stored)  # the good events went through too
        assert poisoned.id not in stored and gw.outbox.depth() == 1
        assert len(proxy.posts) <= 2 * 4 + 4  # split in halves: a handful of requests
        assert gw.uploader.stats.splits >= 1

        # It keeps failing alone while other events get through: quarantined, not lost.
        for _ in range(gw.uploader.quarantine_after - 1):
            assert gw.outbox.depth() == 1
            await gw.uploader.upload_once()
        assert gw.outbox.depth() == 0
        assert await gw.uploader.upload_once() == 0
        assert await gw.heartbeat_once()
        write_status(gw.settings.data_dir, gw.status())
        await gw.close()
        return help_id, others, poisoned.id

    help_id, _others, poisoned_id = asyncio.run(scenario())
    _assert_quarantine_reported(gw, enrolled, poisoned_id)
    # The log tells the same story: the refused batch split with help first, the bad event
    # named when it is quarantined.
    logged = [(r.getMessage(), getattr(r, FIELDS_ATTR, {})) for r in caplog.records]
    split = next(f for name, f in logged if name == "uplink.batch_split")
    assert split["status"] == 500 and split["urgent_ids"] == [help_id]
    quarantined = [f["event_id"] for name, f in logged if name == "uplink.event_quarantined"]
    assert quarantined == [poisoned_id]


def _assert_quarantine_reported(gw: Gateway, enrolled: Enrolled, poisoned_id: str) -> None:
    data_dir = gw.settings.data_dir
    conn = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        kept = conn.execute("SELECT id, body, error FROM rejected").fetchall()
    finally:
        conn.close()
    assert [row[0] for row in kept] == [poisoned_id]  # kept on disk with the reason
    assert json.loads(kept[0][1])["id"] == poisoned_id and kept[0][2]
    assert gw.outbox.stats.quarantined == 1
    # status (what `mimamori-gateway status` prints), the heartbeat and /metrics count it.
    info = read_status(data_dir)
    assert info["quarantined_now"] == 1 and info["outbox"]["quarantined"] == 1
    assert gw.heartbeat_body().quarantined_events == 1
    scraped = registry_for(gw.status).get_sample_value("mimamori_gateway_quarantined_events")
    assert scraped == 1.0
    engine = make_engine(enrolled.database_url)
    try:
        with engine.connect() as conn2:
            beat = conn2.scalar(
                select(GatewayRecord.last_heartbeat).where(GatewayRecord.id == enrolled.gateway_id)
            )
    finally:
        engine.dispose()
    assert beat["quarantined_events"] == 1  # the cloud knows (household page shows it)


def test_event_the_cloud_refuses_by_name_is_quarantined_in_the_same_cycle(
    cloud: CloudServer, proxy: type[_Proxy], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event an older gateway version stored with NaN: the cloud lists it in rejected."""
    enrolled = enroll(cloud)
    gw, clock = _gateway(tmp_path, enrolled, proxy.url)  # type: ignore[attr-defined]
    bad_id = _store_raw_nan_event(gw.settings.data_dir / "outbox.sqlite3", enrolled)

    async def scenario() -> str:
        await gw.open()
        help_id = await _press_help(gw, clock)
        assert await gw.uploader.upload_once()
        assert _stored(enrolled).get(help_id) == "help.requested"
        assert gw.outbox.depth() == 0 and gw.outbox.stats.quarantined == 1
        assert len(proxy.posts) == 1  # refused by name: no split needed
        assert gw.uploader.stats.last_upload_at == clock()  # the injected clock, not the wall's
        write_status(gw.settings.data_dir, gw.status())
        await gw.close()
        return help_id

    asyncio.run(scenario())
    kept = Outbox(gw.settings.data_dir / "outbox.sqlite3")
    kept.open()
    try:
        (row,) = kept.quarantined()
    finally:
        kept.close()
    assert row["id"] == bad_id and row["error"].startswith("non_finite")
    assert row["rejected_at"] == clock().timestamp()  # stamped by the gateway's clock
    _print_status(gw.settings, read_status(gw.settings.data_dir))
    assert "quarantine  1 events the cloud kept refusing — CHECK" in capsys.readouterr().out


def _store_raw_nan_event(path: Path, enrolled: Enrolled) -> str:
    box = Outbox(path)
    box.open()
    box.close()
    event_id = v1.new_event_id()
    now = datetime.now(UTC).isoformat()
    body = json.dumps(
        {
            "id": event_id,
            "household_id": enrolled.household_id,
            "gateway_id": enrolled.gateway_id,
            "kind": "environment.alert",
            "occurred_at": now,
            "recorded_at": now,
            "payload": {"sensor": "env-1", "condition": "heat", "temperature_c": float("nan")},
            "schema": 1,
        }
    )
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO outbox (id, kind, priority, body) VALUES (?, ?, ?, ?)",
            (event_id, "environment.alert", outbox_priority(v1.EventKind.ENVIRONMENT_ALERT), body),
        )
    conn.close()
    return event_id


def test_a_cloud_failing_everything_quarantines_nothing(
    cloud: CloudServer, proxy: type[_Proxy], tmp_path: Path
) -> None:
    """500 for every batch (say its database is down): that is the cloud, not an event.
    Events wait (bounded requests per cycle), none is quarantined; all go once it is back."""
    enrolled = enroll(cloud)
    gw, clock = _gateway(tmp_path, enrolled, proxy.url)  # type: ignore[attr-defined]
    proxy.fail_everything = True

    async def scenario() -> None:
        await gw.open()
        ids = await _motion(gw, 40)
        help_id = await _press_help(gw, clock)
        for _ in range(gw.uploader.quarantine_after + 2):
            posts = len(proxy.posts)
            assert await gw.uploader.upload_once() is None
            assert len(proxy.posts) - posts == 2  # the batch, then a plain request: no split
        assert gw.outbox.depth() == len(ids) + 2 and gw.outbox.stats.quarantined == 0
        proxy.fail_everything = False
        while await gw.uploader.upload_once():
            pass
        assert gw.outbox.depth() == 0 and gw.outbox.stats.quarantined == 0
        assert {*ids, help_id} <= set(_stored(enrolled))
        await gw.close()

    asyncio.run(scenario())


def test_clock_skewed_event_is_kept_and_deferred_not_quarantined(
    cloud: CloudServer, tmp_path: Path
) -> None:
    enrolled = enroll(cloud)
    gw, clock = _gateway(tmp_path, enrolled, enrolled.base_url)

    async def scenario() -> None:
        await gw.open()
        ahead = await gw.emit(
            v1.EventKind.ACTIVITY,
            v1.Activity(sensor="pir-1", kind="motion"),
            occurred_at=clock() + timedelta(hours=2),
        )
        assert ahead is not None
        help_id = await _press_help(gw, clock)
        assert await gw.uploader.upload_once()
        assert _stored(enrolled).get(help_id) == "help.requested"
        assert [p.id for p in gw.outbox.peek(10)] == [ahead.id]  # kept for later
        assert gw.uploader.stats.deferred == 1 and gw.outbox.stats.quarantined == 0
        assert await gw.uploader.upload_once() == 0  # held back, not hammered
        await gw.close()

    asyncio.run(scenario())


def test_an_event_too_big_for_the_cloud_is_quarantined_not_retried_for_ever(
    cloud: CloudServer, proxy: type[_Proxy], tmp_path: Path
) -> None:
    """The cloud answers 413 for a body over its limit: the batch is split; an event too big
    to go even alone is quarantined after a few cycles instead of being retried for ever."""
    enrolled = enroll(cloud)
    gw, clock = _gateway(tmp_path, enrolled, proxy.url)  # type: ignore[attr-defined]

    async def scenario() -> None:
        await gw.open()
        assert gw.uploader is not None
        gw.uploader.max_body_bytes = 10_000_000  # an older gateway that did not know the limit
        big = await gw.emit(
            v1.EventKind.ACTIVITY,
            {"sensor": "pir-1", "kind": "motion", "notes": ["あ" * 4000] * 120},
        )
        assert big is not None
        small = await _motion(gw, 3)
        help_id = await _press_help(gw, clock)
        assert await gw.uploader.upload_once()
        stored = _stored(enrolled)
        assert help_id in stored and set(small) <= set(stored)
        for _ in range(gw.uploader.quarantine_after - 1):
            await gw.uploader.upload_once()
        assert gw.outbox.depth() == 0 and gw.outbox.stats.quarantined == 1
        assert await gw.uploader.upload_once() == 0
        await gw.close()

    asyncio.run(scenario())
