"""Days off from the cloud config: the gateway does not call an empty house.

Failed before the rule book (the gateway ignored `holidays` and asked on a day off, or
reported the day off as missed after a restart).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.gateway.conftest import SimClock, cloud_config, make_gateway, make_settings
from tests.gateway.test_daemon import of_kind, opened, prime

# 08:00 Asia/Tokyo on 2026-12-01 (a day off) is 23:00 UTC on 2026-11-30.
DAY_OFF_SLOT = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_no_question_on_a_day_off_and_the_next_day_is_asked(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(DAY_OFF_SLOT - timedelta(minutes=5))
        cfg = cloud_config(holidays=["2026-12-01"])
        gw = await opened(tmp_path, clock, ["元気です"], cfg=cfg)
        for _ in range(12):  # through the whole window and past it, every 5 minutes
            clock.advance(minutes=5)
            await gw.schedule_tick()
        assert gw.voice.said == []
        assert of_kind(gw, "checkin.answered") == []
        assert of_kind(gw, "checkin.no_response") == []  # nothing is expected: nothing missed
        clock.t = DAY_OFF_SLOT + timedelta(days=1)
        await gw.schedule_tick()
        (answered,) = of_kind(gw, "checkin.answered")
        assert answered["payload"]["slot_date"] == "2026-12-02"
        await gw.close()

    asyncio.run(scenario())


def test_a_day_off_spent_powered_off_is_not_reported_missed(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(DAY_OFF_SLOT + timedelta(hours=6))
        settings = make_settings(tmp_path)
        # Tracking since the day before; that day's slot was answered; then off until now.
        prime(
            settings,
            cloud_config(holidays=["2026-12-01"]),
            tracking_since=(DAY_OFF_SLOT - timedelta(days=1, hours=1)).isoformat(),
            slots={"2026-11-30/morning": {"done": True, "attempts": 1}},
        )
        gw = make_gateway(settings, clock)
        await gw.open()
        (started,) = of_kind(gw, "gateway.started")
        assert started["payload"]["missed_slots"] == []
        await gw.schedule_tick()
        assert of_kind(gw, "checkin.no_response") == []
        await gw.close()

    asyncio.run(scenario())


def test_the_button_fine_press_on_a_day_off_claims_no_slot(tmp_path: Path) -> None:
    from gateway.schedule import current_occurrence

    cfg = cloud_config(holidays=["2026-12-01"])
    assert current_occurrence(cfg, DAY_OFF_SLOT + timedelta(minutes=5)) is None
    assert current_occurrence(cfg, DAY_OFF_SLOT + timedelta(days=1, minutes=5)) is not None
