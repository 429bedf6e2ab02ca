"""Gateway test helpers: a simulated clock, settings on a temp dir, a seeded real cloud."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import GatewaySettings, write_token
from gateway.daemon import Gateway
from mimamori_dev.services import CloudServer
from mimamori_dev.simgateway import OneShotClient, enroll_gateway
from mimamori_wire.v1 import GatewayConfig, PairedDeviceExpectation, QuietHours, Slot
from speech.dialogue import Dialogue
from speech.intents import is_help_phrase
from speech.voice import TextVoice
from tests.helpers import free_port


class SimClock:
    """The injected clock: tests move time, asyncio sleeps stay real (and short)."""

    def __init__(self, start: datetime) -> None:
        self.t = start
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, **kw: float) -> datetime:
        """Time passes (wall and monotonic together)."""
        delta = timedelta(**kw)
        self.t += delta
        self.mono += delta.total_seconds()
        return self.t

    def jump(self, **kw: float) -> datetime:
        """The wall clock is set (e.g. NTP after a boot with a stale time)."""
        self.t += timedelta(**kw)
        return self.t


def make_settings(tmp_path: Path, cloud_url: str | None = None, **over: Any) -> GatewaySettings:
    token_file = tmp_path / "token"
    if not token_file.exists():
        write_token(token_file, over.pop("token", "test-token-not-enrolled"))
    values: dict[str, Any] = {
        "cloud_url": cloud_url or f"http://127.0.0.1:{free_port()}",  # nothing listens: down
        "gateway_id": "gw-test",
        "household_id": "hh-test",
        "token_file": token_file,
        "data_dir": tmp_path / "data",
        "voice_mode": "text-sim",
        "ble_enabled": False,
        "max_backoff_s": 0.5,
    }
    values.update(over)
    return GatewaySettings(**values)


def make_gateway(settings: GatewaySettings, clock: SimClock, answers=()) -> Gateway:
    voice = TextVoice(answers)
    return Gateway(
        settings,
        voice=voice,
        dialogue_factory=Dialogue,
        help_phrase=is_help_phrase,
        now=clock,
        kernel_clock=lambda: True,
        monotonic=clock.monotonic,
    )


def cloud_config(**over: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "household_id": "hh-test",
        "config_version": 1,
        "slots": [Slot(name="morning", time="08:00", questions=["health"])],
        "quiet_hours": QuietHours(start="21:00", end="06:30"),
        "inactivity_deadline": "10:00",
        "devices": [PairedDeviceExpectation(device="living-motion", role="motion")],
    }
    values.update(over)
    return GatewayConfig(**values)


def pending(gw: Gateway) -> list[dict[str, Any]]:
    return [json.loads(p.body) for p in gw.outbox.peek(100_000)]


def kinds(gw: Gateway) -> list[str]:
    return [e["kind"] for e in pending(gw)]


# --- a real cloud, seeded through its own CLI and enrolled over HTTP ------------------------


@dataclass
class Enrolled:
    base_url: str
    database_url: str
    gateway_id: str
    household_id: str
    token: str

    def db_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")

    def stored_events(self) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.db_path())
        try:
            rows = conn.execute(
                "SELECT id, kind, payload, received_at FROM events WHERE household_id = ? "
                "ORDER BY received_at, rowid",
                (self.household_id,),
            ).fetchall()
        finally:
            conn.close()
        return [
            {"id": r[0], "kind": r[1], "payload": json.loads(r[2]), "received_at": r[3]}
            for r in rows
        ]


def enroll(cloud: Any, slot: str = "08:00") -> Enrolled:
    """Seed a household through the cloud's admin API (one process, unlike four CLI runs)
    and enroll a gateway for it over HTTP."""
    admin = httpx.Client(
        base_url=f"{cloud.base_url}/api/v1",
        headers={"Authorization": f"Bearer {cloud.full_env()['MIMAMORI_ADMIN_TOKEN']}"},
        timeout=30,
    )
    with admin:
        muni = admin.post("/admin/municipalities", json={"name": "テスト市"})
        muni.raise_for_status()
        office = admin.post(
            "/admin/offices", json={"municipality_id": muni.json()["id"], "name": "テスト郵便局"}
        )
        office.raise_for_status()
        household = admin.post(
            "/admin/households",
            json={
                "office_id": office.json()["id"],
                "resident_name": "見守 花子",
                "slots": [{"time": slot, "name": "morning"}],
            },
        )
        household.raise_for_status()
        code = admin.post(f"/admin/households/{household.json()['id']}/enrollment-codes")
        code.raise_for_status()
    body = enroll_gateway(
        OneShotClient(cloud.base_url),
        code.json()["code"],
        hardware_id="test-hw",
        software_version="test",
    )
    return Enrolled(
        cloud.base_url, cloud.database_url, body.gateway_id, body.household_id, body.token
    )


@pytest.fixture(scope="session")
def gateway_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudServer]:
    """One real cloud (uvicorn + SQLite) for the gateway tests: each test enrolls its own
    household, so they do not see each other's events. Saves a server start per test."""
    workdir = tmp_path_factory.mktemp("gateway-cloud")
    server = CloudServer(f"sqlite:///{workdir}/cloud.db", workdir / "cloud").start()
    yield server
    server.stop()
