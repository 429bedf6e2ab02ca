"""Settings staff change in the real cloud (speech speed/volume, quiet hours, questions,
re-ask offsets) reach the gateway through heartbeat + config fetch and shape what it says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gateway.daemon import Gateway
from gateway.schedule import attempt_voice
from mimamori_wire.v1 import Question
from tests.gateway.conftest import Enrolled, SimClock, enroll, make_gateway, make_settings

# 08:00 Asia/Tokyo on 2026-11-27 (23:00 UTC the day before): the household's morning slot.
SLOT = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def admin(gateway_cloud, method: str, path: str, **kw) -> dict:  # type: ignore[no-untyped-def]
    token = gateway_cloud.full_env()["MIMAMORI_ADMIN_TOKEN"]
    r = httpx.request(
        method,
        f"{gateway_cloud.base_url}/api/v1/admin{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        **kw,
    )
    assert r.status_code < 300, r.text
    return r.json()


def connected(cloud: Enrolled, tmp_path: Path, clock: SimClock, answers=()) -> Gateway:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path,
        cloud_url=cloud.base_url,
        token=cloud.token,
        gateway_id=cloud.gateway_id,
        household_id=cloud.household_id,
    )
    return make_gateway(settings, clock, answers)


def test_cloud_speed_volume_questions_and_reasks_reach_say(gateway_cloud, tmp_path: Path) -> None:
    cloud = enroll(gateway_cloud, slot="08:00")
    path = f"/households/{cloud.household_id}"
    admin(
        gateway_cloud,
        "PATCH",
        f"{path}/settings",
        json={
            "tts_speed": 0.7,
            "tts_volume": 1.6,
            "quiet_hours": {"start": "22:00", "end": "06:00"},
        },
    )
    admin(
        gateway_cloud,
        "PUT",
        f"{path}/slots",
        json=[
            {
                "time": "08:00",
                "name": "morning",
                "questions": ["health", "medicine"],
                "reask_offsets_min": [5],
            }
        ],
    )
    version = admin(gateway_cloud, "GET", path)["config_version"]

    async def scenario() -> Gateway:
        clock = SimClock(SLOT - timedelta(minutes=1))
        gw = connected(cloud, tmp_path, clock)  # silent resident: the re-ask is heard
        await gw.open()
        assert gw.cloud_config.tts_speed == 1.0  # nothing fetched yet
        assert await gw.heartbeat_once()  # new config_version -> the config is fetched
        cfg = gw.cloud_config
        assert cfg.config_version == version
        assert (cfg.tts_speed, cfg.tts_volume) == (0.7, 1.6)
        assert (cfg.quiet_hours.start, cfg.quiet_hours.end) == ("22:00", "06:00")
        (slot,) = cfg.slots
        assert slot.questions == [Question.HEALTH, Question.MEDICINE]
        assert slot.reask_offsets_min == [5]
        for minutes in (0, 5):
            clock.t = SLOT + timedelta(minutes=minutes)
            await gw.schedule_tick()
        await gw.close()
        return gw

    gw = asyncio.run(scenario())
    said = gw.voice.said
    # First ask: exactly the resident's speed and volume; at +5 min (not the default +10)
    # the re-ask is slower and louder than that, never faster than staff set.
    first = said[0]
    assert (first.speed, first.volume) == (0.7, 1.6)
    reasks = [s for s in said if (s.speed, s.volume) == attempt_voice(0.7, 1.6, 1, quiet=False)]
    assert reasks, [(s.text, s.speed, s.volume) for s in said]
    assert all(s.speed <= 0.7 for s in said)
    assert max(s.volume for s in said) > 1.6


def test_medicine_question_is_asked_when_the_cloud_adds_it(gateway_cloud, tmp_path: Path) -> None:
    cloud = enroll(gateway_cloud, slot="08:00")
    admin(
        gateway_cloud,
        "PUT",
        f"/households/{cloud.household_id}/slots",
        json=[{"time": "08:00", "name": "morning", "questions": ["medicine"]}],
    )

    async def scenario() -> Gateway:
        clock = SimClock(SLOT)
        gw = connected(cloud, tmp_path, clock, ["元気です", "はい、飲みました"])
        await gw.open()
        assert await gw.heartbeat_once()
        await gw.schedule_tick()
        await gw.close()
        return gw

    gw = asyncio.run(scenario())
    texts = gw.voice.said_texts
    assert any("お薬は飲みましたか" in t for t in texts), texts


def test_reasks_never_speak_faster_than_a_slow_setting() -> None:
    # Staff set 0.5 for a resident who needs it: the re-ask floor (0.6) must not speed it up.
    assert [attempt_voice(0.5, 1.0, attempt, quiet=False)[0] for attempt in (0, 1, 2)] == [
        0.5,
        0.5,
        0.5,
    ]
    assert attempt_voice(1.0, 1.0, 2, quiet=False)[0] == 0.7
