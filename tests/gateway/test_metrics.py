"""The gateway's Prometheus endpoint reads the daemon's live counters over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway.metrics import serve_metrics
from mimamori_dev.services import free_port
from tests.gateway.conftest import SimClock
from tests.gateway.test_daemon import opened


def test_metrics_endpoint_shows_outbox_and_counters(tmp_path: Path) -> None:
    async def scenario() -> str:
        clock = SimClock(datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
        gw = await opened(tmp_path, clock, ["元気です"])
        await gw.schedule_tick()  # the 08:00 slot: one check-in answered, held offline
        gw.counters["device_events_bad"] += 2
        server = serve_metrics(gw.status, free_port())
        try:
            port = server.server_address[1]
            return await asyncio.to_thread(
                lambda: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            )
        finally:
            server.shutdown()
            await gw.close()

    text = asyncio.run(scenario())
    depth = [line for line in text.splitlines() if line.startswith("mimamori_gateway_outbox_depth")]
    assert depth and float(depth[0].split()[-1]) >= 1.0  # the answer waits for the cloud
    assert 'mimamori_gateway_events_total{counter="device_events_bad"} 2.0' in text
    assert 'mimamori_gateway_outbox_total{counter="committed"}' in text
    assert "mimamori_gateway_clock_synchronized" in text
