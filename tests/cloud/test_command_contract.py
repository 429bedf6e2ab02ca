"""Contract: what the cloud's real builders produce, the gateway's real parser reads.

Commands come from the cloud's own code paths (the announcement and safety-check builders,
the escalation worker's re-prompt), config from a household with a pause and a day off; both
travel over real HTTP and are read by gateway.cloud_client.CloudClient. Every example must parse,
declare every field it carries (the producing side sends nothing undeclared), and survive a
round trip through the typed model unchanged.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

from cloud.models import Household
from cloud.web.broadcast import send_announcement, start_safety_check
from gateway.cloud_client import CloudClient
from mimamori_wire import v1
from tests.cloud.conftest import START

COMMAND = TypeAdapter(v1.Command)


def produce_commands(live_cloud: Any, gw: Any, household_id: str) -> None:
    """Each kind of command the cloud makes, made by the cloud's own code."""
    now = live_cloud.clock()
    with live_cloud.sessions() as session, session.begin():
        household = session.get_one(Household, household_id)
        muni = household.office.municipality_id
        send_announcement(
            session,
            municipality_id=muni,
            office_id=None,
            target_kind="all",
            households=[household],
            text="明日は燃えるごみの日です。",
            play_at=now + timedelta(hours=1),
            by="staff@example.jp",
            now=now,
        )
        start_safety_check(
            session,
            municipality_id=muni,
            office_id=None,
            title="地震",
            question="地震がありました。ご無事ですか。",
            households=[household],
            by="staff@example.jp",
            now=now,
        )
    # A missed slot: the worker's escalation step 0 is a re-prompt command.
    live_cloud.travel(START + timedelta(hours=1, minutes=40))  # 08:40 Tokyo: deadline passed
    gw.heartbeat()  # the gateway is up: the resident did not answer
    live_cloud.run_worker()


def raw_json(live_cloud: Any, gw: Any, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(
        method, f"{live_cloud.base_url}/api/v1{path}", headers=gw.headers, timeout=30, **kw
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_declared_and_round_trips(parsed: BaseModel, raw: dict[str, Any]) -> None:
    assert v1.undeclared_fields(parsed, raw) == []
    again = type(parsed).model_validate(parsed.model_dump(mode="json"))
    assert again == parsed


@pytest.fixture
def enrolled(live_cloud: Any) -> tuple[Any, Any, str]:
    hh = live_cloud.household(slots=["08:00", "19:00"])
    live_cloud.admin_ok(
        "POST", f"/households/{hh['id']}/holidays", json={"day": "2026-12-01", "note": "旅行"}
    )
    live_cloud.admin_ok(
        "POST",
        f"/households/{hh['id']}/pauses",
        json={"starts_at": "2026-12-05T00:00:00+09:00", "reason": "入院"},
    )
    gw = live_cloud.enroll(hh["id"])
    return live_cloud, gw, hh["id"]


def test_every_command_the_cloud_builds_parses_on_the_gateway(enrolled) -> None:
    live_cloud, gw, household_id = enrolled
    produce_commands(live_cloud, gw, household_id)
    body = v1.Heartbeat(software_version="test", uptime_s=1, outbox_depth=0)
    raw = raw_json(live_cloud, gw, "POST", "/gateway/heartbeat", json=body.model_dump(mode="json"))
    raw_commands = raw["commands"]
    kinds = sorted(c["kind"] for c in raw_commands)
    assert kinds == ["announcement", "reprompt", "safety_check"]
    for raw_command in raw_commands:
        parsed = COMMAND.validate_python(raw_command)
        assert parsed.kind == raw_command["kind"]
        assert_declared_and_round_trips(parsed, raw_command)
    by_kind = {c["kind"]: COMMAND.validate_python(c) for c in raw_commands}
    assert isinstance(by_kind["announcement"], v1.AnnouncementCommand)
    assert by_kind["announcement"].payload.urgent is False  # sent, not assumed
    assert by_kind["safety_check"].payload.question == "地震がありました。ご無事ですか。"
    assert by_kind["reprompt"].payload.slot == "morning"

    async def through_the_gateway_client() -> tuple[v1.HeartbeatResponse, list[Any]]:
        client = CloudClient(live_cloud.base_url, gw.token, None)
        try:
            return await client.heartbeat(body)
        finally:
            await client.aclose()

    response, bad = asyncio.run(through_the_gateway_client())
    assert bad == []
    assert sorted(c.kind for c in response.commands) == kinds


def test_the_config_the_cloud_sends_is_fully_declared(enrolled) -> None:
    live_cloud, gw, _ = enrolled
    raw = raw_json(live_cloud, gw, "GET", "/gateway/config")
    config = v1.GatewayConfig.model_validate(raw)
    assert_declared_and_round_trips(config, raw)
    assert [d.isoformat() for d in config.holidays] == ["2026-12-01"]
    assert len(config.pauses) == 1 and config.pauses[0].ends_at is None

    async def through_the_gateway_client() -> v1.GatewayConfig | None:
        client = CloudClient(live_cloud.base_url, gw.token, None)
        try:
            return (await client.get_config(None))[0]
        finally:
            await client.aclose()

    assert asyncio.run(through_the_gateway_client()) == config


def test_a_newer_cloud_adding_fields_does_not_break_this_gateway() -> None:
    """Version skew: unknown fields are ignored (and reported), unknown kinds fail alone."""
    raw = {
        "id": "c1",
        "kind": "announcement",
        "issued_at": "2026-11-27T00:00:00Z",
        "payload": {"text": "お知らせ", "voice": "warm"},
        "priority": 3,
    }
    parsed = COMMAND.validate_python(raw)
    assert v1.undeclared_fields(parsed, raw) == ["payload.voice", "priority"]
    config = {
        "household_id": "h",
        "config_version": 2,
        "slots": [{"name": "m", "time": "08:00", "tone": 1}],
        "new": 1,
    }
    cfg = v1.GatewayConfig.model_validate(config)
    assert v1.undeclared_fields(cfg, config) == ["slots[0].tone", "new"]
    with pytest.raises(ValueError):
        v1.parse_command({"id": "c2", "kind": "self_destruct", "issued_at": "2026-11-27T00:00:00Z"})
