"""What the gateway sends in its heartbeat is declared in the contract (the cloud keeps
unknown heartbeat fields from newer gateways, but ours must not rely on that)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from mimamori_wire.v1 import Heartbeat, undeclared_fields
from tests.gateway.conftest import SimClock
from tests.gateway.test_daemon import opened


def test_the_heartbeat_body_declares_every_field_it_carries(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = await opened(tmp_path, SimClock(datetime(2026, 11, 27, 0, 0, tzinfo=UTC)))
        gw.counters["dialogue_errors"] += 1
        body = gw.heartbeat_body().model_dump(mode="json")
        parsed = Heartbeat.model_validate(body)
        assert undeclared_fields(parsed, body) == []
        assert parsed.counters["dialogue_errors"] == 1
        assert parsed.model_extra == {}
        await gw.close()

    asyncio.run(scenario())
