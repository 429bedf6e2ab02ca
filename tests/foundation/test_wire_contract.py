"""The wire contract: valid and invalid examples give clear validation errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

import mimamori_wire as wire


def _event(**overrides) -> dict:
    body = {
        "id": wire.new_event_id(),
        "household_id": "hh-1",
        "gateway_id": "gw-1",
        "kind": "checkin.answered",
        "occurred_at": "2026-11-27T23:02:00+00:00",
        "recorded_at": "2026-11-27T23:02:01Z",
        "payload": {"slot": "morning", "intent": "fine", "confidence": 0.93, "attempts": 1},
        "schema": 1,
    }
    body.update(overrides)
    return body


def test_valid_event_round_trips_and_normalises_to_utc() -> None:
    event = wire.Event.model_validate(_event(occurred_at="2026-11-28T08:02:00+09:00"))
    assert event.kind is wire.EventKind.CHECKIN_ANSWERED
    assert event.occurred_at == datetime(2026, 11, 27, 23, 2, tzinfo=UTC)
    wire_form = event.to_wire()
    assert wire_form["schema"] == 1
    assert wire.Event.model_validate(wire_form) == event
    assert event.typed_payload().intent is wire.Intent.FINE


def test_new_event_id_is_uuid7_and_time_ordered() -> None:
    first = wire.new_event_id(now_ms=1_000)
    second = wire.new_event_id(now_ms=2_000)
    assert uuid.UUID(first).version == 7
    assert first < second


def test_ulid_ids_are_accepted() -> None:
    event = wire.Event.model_validate(_event(id="01hzy3k2m4n5p6q7r8s9t0v1w2"))
    assert event.id == "01HZY3K2M4N5P6Q7R8S9T0V1W2"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"kind": "checkin.maybe"}, "kind"),
        ({"occurred_at": "2026-11-27T08:02:00"}, "timezone"),
        ({"id": "not-an-id-at-all-but-long-enough"}, "UUID"),
        ({"schema": 2}, "schema"),
        (
            {"payload": {"slot": "morning", "intent": "happy", "confidence": 1, "attempts": 1}},
            "intent",
        ),
        (
            {"payload": {"slot": "morning", "intent": "fine", "confidence": 3, "attempts": 1}},
            "confidence",
        ),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_events_name_the_problem(overrides: dict, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        wire.Event.model_validate(_event(**overrides))
    assert needle.lower() in str(info.value).lower()


def test_missing_field_is_named() -> None:
    body = _event()
    del body["household_id"]
    with pytest.raises(ValidationError, match="household_id"):
        wire.Event.model_validate(body)


def test_oversize_batch_is_refused() -> None:
    events = [_event(id=wire.new_event_id()) for _ in range(wire.MAX_BATCH_EVENTS + 1)]
    with pytest.raises(ValidationError, match="at most 500"):
        wire.EventBatch.model_validate({"events": events})
    with pytest.raises(OverflowError, match="at most 500"):
        wire.parse_batch_leniently({"events": events})


def test_lenient_batch_keeps_good_events_around_a_bad_one() -> None:
    good_a, good_b = _event(id=wire.new_event_id()), _event(id=wire.new_event_id())
    bad = _event(id=wire.new_event_id(), kind="teleport")
    good, rejected = wire.parse_batch_leniently({"events": [good_a, bad, good_b]})
    assert [e.id for e in good] == [good_a["id"], good_b["id"]]
    assert len(rejected) == 1 and rejected[0].id == bad["id"]
    assert "kind" in rejected[0].error


@pytest.mark.parametrize("body", [[], {"events": "x"}, {"events": []}, {"events": [], "x": 1}])
def test_lenient_batch_refuses_non_batches(body) -> None:
    with pytest.raises(ValueError):
        wire.parse_batch_leniently(body)


def test_help_goes_first_in_uplink_priority() -> None:
    assert wire.priority_of("help.requested") < wire.priority_of("checkin.answered")
    assert wire.priority_of("checkin.answered") < wire.priority_of("activity.summary")
    assert wire.priority_of("no.such.kind") == wire.DEFAULT_PRIORITY


def test_heartbeat_and_commands() -> None:
    hb = wire.Heartbeat(software_version="0.1.0", uptime_s=12.5, outbox_depth=3)
    assert hb.devices == []
    resp = wire.HeartbeatResponse.model_validate(
        {
            "config_version": 4,
            "server_time": datetime.now(UTC).isoformat(),
            "commands": [
                {
                    "id": "c1",
                    "kind": "reprompt",
                    "issued_at": "2026-11-27T00:00:00Z",
                    "payload": {"slot": "morning"},
                }
            ],
        }
    )
    assert resp.commands[0].kind is wire.CommandKind.REPROMPT
    with pytest.raises(ValidationError):
        wire.parse_command(
            {"id": "c", "kind": "self_destruct", "issued_at": "2026-11-27T00:00:00Z"}
        )


def test_slot_time_and_config_limits() -> None:
    with pytest.raises(ValidationError, match="HH:MM"):
        wire.Slot(name="morning", time="8:00")
    slots = [wire.Slot(name=f"s{i}", time=f"0{i}:00") for i in range(4)]
    with pytest.raises(ValidationError):
        wire.GatewayConfig(household_id="h", config_version=1, slots=slots)
    cfg = wire.GatewayConfig(household_id="h", config_version=1, slots=slots[:3])
    assert cfg.timezone == "Asia/Tokyo"


def test_clock_skewed_future_event_still_parses_for_the_cloud_to_judge() -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert wire.Event.model_validate(_event(occurred_at=future)).occurred_at.year >= 2026


def test_every_kind_has_a_payload_model() -> None:
    assert set(wire.PAYLOAD_MODELS) == set(wire.EventKind)


def test_event_ids_take_their_time_from_the_callers_clock() -> None:
    """A gateway on an injected clock stamps ids with that clock, not the wall's."""
    at = datetime(2028, 2, 29, 23, 59, 59, 250_000, tzinfo=UTC)
    event = wire.Event.create(
        household_id="h1",
        gateway_id="g1",
        kind=wire.EventKind.HELP_REQUESTED,
        payload={"source": "button"},
        recorded_at=at,
    )
    assert uuid.UUID(event.id).int >> 80 == int(at.timestamp() * 1000)
    assert event.recorded_at == event.occurred_at == at
