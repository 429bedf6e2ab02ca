"""The shared schedule vectors (tests/rules/schedule_vectors.json) through the real daemon.

The gateway runs each case from its start to its end on the simulated clock, waking when its
scheduler says, with a resident who answers every question: it must ask exactly the slots
the vectors say (answered), report exactly the paused ones, and say nothing on days off.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimamori_wire.v1 import GatewayConfig, Pause, Slot
from tests.gateway.conftest import SimClock, make_gateway, make_settings
from tests.gateway.test_daemon import of_kind, prime

CASES = json.loads((Path(__file__).parents[1] / "rules" / "schedule_vectors.json").read_text())[
    "cases"
]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_daemon_asks_exactly_the_vectors(case: dict[str, Any], tmp_path: Path) -> None:
    cfg = GatewayConfig(
        household_id="hh-test",
        config_version=1,
        timezone=case["zone"],
        slots=[Slot(**s) for s in case["slots"]],
        pauses=[Pause(**p) for p in case["pauses"]],
        holidays=case["days_off"],
    )
    start, end = instant(case["from"]), instant(case["to"])

    async def scenario() -> tuple[list, list, list]:
        clock = SimClock(start)
        settings = make_settings(tmp_path)
        prime(settings, cfg)
        gw = make_gateway(settings, clock, ["元気です"] * 50)
        await gw.open()
        while clock() < end:
            wake = await gw.schedule_tick()
            step = max(wake - clock(), timedelta(seconds=1))
            clock.advance(seconds=min(step, end - clock() + timedelta(seconds=1)).total_seconds())
        answered = [
            (e["payload"]["slot"], e["payload"]["slot_date"])
            for e in of_kind(gw, "checkin.answered")
        ]
        reports = [
            (e["payload"]["slot"], e["payload"]["slot_date"], e["payload"]["reason"])
            for e in of_kind(gw, "checkin.no_response")
        ]
        jumps = of_kind(gw, "gateway.clock_skew")
        await gw.close()
        return answered, reports, jumps

    answered, reports, jumps = asyncio.run(scenario())
    expected = case["expected"]
    assert sorted(answered) == sorted(
        (e["slot"], e["date"]) for e in expected if e["fate"] == "ask"
    )
    assert sorted(reports) == sorted(
        (e["slot"], e["date"], "paused") for e in expected if e["fate"] == "paused"
    )
    assert jumps == []
