"""A newer cloud talks to this gateway: fields it adds are ignored and logged, a command kind
it adds fails alone. Served over real HTTP by a stand-in for that future cloud."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.cloud_client import CloudClient
from mimamori_wire.v1 import AnnouncementCommand, Heartbeat

NEWER_CONFIG = {
    "household_id": "hh",
    "config_version": 7,
    "slots": [{"name": "morning", "time": "08:00", "tone": "gentle"}],
    "holidays": ["2026-12-01"],
    "voice_profile": "warm",
}
NEWER_HEARTBEAT = {
    "config_version": 7,
    "server_time": "2026-11-27T00:00:00Z",
    "commands": [
        {
            "id": "c1",
            "kind": "announcement",
            "issued_at": "2026-11-27T00:00:00Z",
            "payload": {"text": "お知らせです。", "chime": True},
        },
        {"id": "c2", "kind": "play_music", "issued_at": "2026-11-27T00:00:00Z", "payload": {}},
    ],
    "maintenance_window": "02:00",
}


class NewerCloud(BaseHTTPRequestHandler):
    def _send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(NEWER_CONFIG)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(NEWER_HEARTBEAT)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def newer_cloud() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NewerCloud)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_newer_cloud_fields_are_ignored_and_logged(newer_cloud: str, caplog) -> None:
    async def talk() -> tuple[Any, Any, list[Any]]:
        client = CloudClient(newer_cloud, "token", None)
        try:
            config, _ = await client.get_config(None)
            beat = Heartbeat(software_version="old", uptime_s=1, outbox_depth=0)
            response, bad = await client.heartbeat(beat)
            return config, response, bad
        finally:
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="gateway.cloud_client"):
        config, response, bad = asyncio.run(talk())
    assert config.config_version == 7 and [d.isoformat() for d in config.holidays] == ["2026-12-01"]
    (command,) = response.commands
    assert isinstance(command, AnnouncementCommand) and command.payload.text == "お知らせです。"
    assert [b["id"] for b in bad] == ["c2"]  # unknown kind: done with ok=false by the handler
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "voice_profile" in logged and "slots[0].tone" in logged
    assert "payload.chime" in logged
