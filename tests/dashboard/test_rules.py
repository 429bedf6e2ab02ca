"""The dashboard's pure rules: desk order, slot and gateway status, safety classification,
trend, form parsing, role capabilities, redirect safety."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cloud.auth.roles import CAPABILITIES, Capability, Role, can
from cloud.escalation.chain import DEFAULT_CHAINS
from cloud.models import Checkin, Gateway
from cloud.schedule import SlotSpec
from cloud.web.broadcast import classify_safety
from cloud.web.forms import FieldError, local_datetime, month
from cloud.web.ordering import desk_key, last_step_done
from cloud.web.routes.auth import safe_next
from cloud.web.routes.board import current_gateway, gateway_health, slot_status
from cloud.web.routes.household import trend

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
STALE = timedelta(minutes=10)


def test_desk_order_is_open_first_then_severity_then_age() -> None:
    incidents = [
        ("acknowledged", "help_requested", NOW - timedelta(hours=2)),
        ("open", "gateway_offline", NOW - timedelta(hours=5)),
        ("open", "missed_checkin", NOW - timedelta(minutes=5)),
        ("open", "missed_checkin", NOW - timedelta(minutes=50)),
        ("open", "unwell", NOW),
        ("open", "help_requested", NOW),
        ("open", "battery", NOW - timedelta(days=1)),
        ("open", "callback", NOW),
    ]
    ordered = sorted(incidents, key=lambda i: desk_key(*i))
    assert [(s, c) for s, c, _ in ordered] == [
        ("open", "help_requested"),
        ("open", "unwell"),
        ("open", "missed_checkin"),
        ("open", "missed_checkin"),
        ("open", "gateway_offline"),
        ("open", "callback"),
        ("open", "battery"),
        ("acknowledged", "help_requested"),
    ]
    assert ordered[2][2] < ordered[3][2]  # the older missed check-in first


def test_last_step_done_follows_the_chain_and_its_reminders() -> None:
    chain = DEFAULT_CHAINS["missed_checkin"]
    assert last_step_done(chain, 0) is None
    assert last_step_done(chain, 1) == (0, "reprompt")
    assert last_step_done(chain, 2) == (1, "family")
    assert last_step_done(chain, 4) == (3, "manager")
    assert last_step_done(chain, 6) == (5, "staff_reminder")


def _slot(time: str = "08:00") -> SlotSpec:
    return SlotSpec("morning", time, 30, 5)


def _checkin(status: str, intent: str | None = None) -> Checkin:
    return Checkin(
        household_id="h",
        slot_date=date(2026, 11, 27),
        slot="morning",
        status=status,
        intent=intent,
        occurred_at=NOW,
        event_id="e",
    )


@pytest.mark.parametrize(
    ("time", "checkin", "paused", "expected"),
    [
        ("08:00", _checkin("answered", "fine"), False, "answered"),
        ("08:00", _checkin("no_response"), False, "missed"),
        ("08:00", None, False, "missed"),  # deadline 08:35 JST passed at 12:00
        ("11:40", None, False, "waiting"),  # deadline 12:15 JST not yet
        ("18:00", None, False, "waiting"),
        ("08:00", None, True, "paused"),
        ("08:00", _checkin("answered", "unwell"), True, "answered"),  # an answer always shows
    ],
)
def test_slot_status(time: str, checkin: Checkin | None, paused: bool, expected: str) -> None:
    assert slot_status(_slot(time), checkin, paused, NOW, "Asia/Tokyo").status == expected


def test_gateway_health_uses_the_newest_live_gateway() -> None:
    old = Gateway(
        id="a",
        enrolled_at=NOW - timedelta(days=9),
        revoked_at=None,
        last_heartbeat_at=NOW - timedelta(hours=3),
        last_heartbeat={},
    )
    new = Gateway(
        id="b",
        enrolled_at=NOW - timedelta(days=1),
        revoked_at=None,
        last_heartbeat_at=NOW - timedelta(minutes=1),
        last_heartbeat={
            "devices": [
                {"device": "door", "battery_pct": 5},
                {"device": "pir", "silent": True},
                {"device": "ok", "battery_pct": 90},
            ]
        },
    )
    health = gateway_health([old, new], NOW, STALE)
    assert health.status == "online"
    assert health.battery_low == ["door"] and health.silent == ["pir"]
    assert gateway_health([old], NOW, STALE).status == "offline"
    new.revoked_at = NOW
    assert gateway_health([new], NOW, STALE).status == "none"
    assert gateway_health([], NOW, STALE).status == "none"


def test_current_gateway_is_the_one_heard_from_last_not_the_newest_enrolled() -> None:
    # A spare box enrolled yesterday but never plugged in must not hide the working one's
    # devices (the household page lists devices from the same gateway the badge describes).
    working = Gateway(
        id="a",
        enrolled_at=NOW - timedelta(days=9),
        revoked_at=None,
        last_heartbeat_at=NOW - timedelta(minutes=1),
        last_heartbeat={"devices": [{"device": "pir"}]},
    )
    spare = Gateway(
        id="b",
        enrolled_at=NOW - timedelta(days=1),
        revoked_at=None,
        last_heartbeat_at=None,
        last_heartbeat=None,
    )
    assert current_gateway([working, spare]) is working
    assert gateway_health([working, spare], NOW, STALE).status == "online"
    assert current_gateway([spare]) is spare
    assert current_gateway([]) is None


@pytest.mark.parametrize(
    ("answer", "heartbeat", "expected"),
    [
        ("safe", None, "safe"),  # an answer wins even from a gateway now offline
        ("needs_help", NOW, "needs_help"),
        ("no_answer", NOW, "no_answer"),
        (None, NOW - timedelta(minutes=2), "waiting"),
        (None, NOW - timedelta(minutes=11), "gateway_offline"),
        (None, None, "gateway_offline"),
        ("garbage", NOW, "waiting"),
    ],
)
def test_classify_safety(answer: str | None, heartbeat: datetime | None, expected: str) -> None:
    assert classify_safety(answer, heartbeat, NOW, STALE) == expected


def test_trend_counts_intents_and_misses_per_day() -> None:
    first = date(2026, 11, 25)
    rows = [
        Checkin(slot_date=date(2026, 11, 25), status="answered", intent="fine"),
        Checkin(slot_date=date(2026, 11, 25), status="answered", intent="fine"),
        Checkin(slot_date=date(2026, 11, 26), status="answered", intent="unwell"),
        Checkin(slot_date=date(2026, 11, 26), status="no_response", intent=None),
        Checkin(slot_date=date(2026, 10, 1), status="answered", intent="fine"),  # out of range
    ]
    days = trend(rows, first, 3)
    assert [d.day for d in days] == [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]
    assert days[0].counts["fine"] == 2 and days[0].missed == 0
    assert days[1].counts["unwell"] == 1 and days[1].missed == 1
    assert sum(days[2].counts.values()) == 0


def test_local_datetime_parsing() -> None:
    assert local_datetime("", "Asia/Tokyo", NOW) == NOW
    assert local_datetime("2026-11-27T15:30", "Asia/Tokyo", NOW) == datetime(
        2026, 11, 27, 6, 30, tzinfo=UTC
    )
    for bad, key in [
        ("2026-11-27T11:00", "err_past_datetime"),
        ("tomorrow", "err_invalid_datetime"),
        ("2026-11-27T15:30+09:00", "err_invalid_datetime"),
    ]:
        with pytest.raises(FieldError) as info:
            local_datetime(bad, "Asia/Tokyo", NOW)
        assert info.value.key == key
    assert month("2026-02") == (2026, 2)
    with pytest.raises(FieldError):
        month("2026-2")


def test_capabilities_by_role() -> None:
    assert can("staff", Capability.DESK) and not can("staff", Capability.ANNOUNCE)
    assert can("office_manager", Capability.ANNOUNCE)
    assert not can("office_manager", Capability.SAFETY_START)
    assert not can("office_manager", Capability.AUDIT)
    assert can("municipality_admin", Capability.AUDIT)
    assert not can("nobody", Capability.DESK)
    assert all(Capability.DESK in caps for caps in CAPABILITIES.values())
    assert set(CAPABILITIES) == set(Role)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "/"),
        ("/board", "/board"),
        ("/households/x?y=1", "/households/x?y=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("board", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_safe_next(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected
