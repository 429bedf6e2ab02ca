"""Hostile input against the wire contract, generated (hypothesis), not hand-picked.

Arbitrary floats (NaN, +-Infinity), arbitrary unicode (NUL and other control characters, lone
surrogates), extreme and malformed datetimes, deep and large payload values: the contract
either refuses an event/heartbeat with a ValidationError, or what it accepts round-trips and
is storable (strict JSON, UTF-8, no control characters) on both sides. Nothing else escapes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mimamori_wire import v1
from tests.foundation.hostile_input import json_values, numbers, raw_events, texts


def _assert_storable(wire: Any) -> str:
    """Strict JSON (no NaN/Infinity), valid UTF-8, and passes the contract's own text rules."""
    text = json.dumps(wire, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # a lone surrogate would raise here (and in PostgreSQL)
    v1.check_wire_safe(wire)
    return text


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(raw=raw_events())
def test_event_is_refused_or_round_trips_storably(raw: Any) -> None:
    try:
        event = v1.Event.model_validate(raw)
    except ValidationError:
        return
    text = _assert_storable(event.to_wire())
    assert v1.Event.model_validate(json.loads(text)) == event
    assert event.occurred_at.tzinfo is not None


@settings(FAST, max_examples=60)
@given(events=st.lists(raw_events(), min_size=1, max_size=5))
def test_lenient_batch_names_every_event_and_never_raises(events: list[Any]) -> None:
    good, bad = v1.parse_batch_leniently({"events": events})
    assert len(good) + len(bad) == len(events)
    assert all(r.reason in v1.REJECT_REASONS for r in bad)
    for event in good:
        _assert_storable(event.to_wire())


heartbeat_fields = st.fixed_dictionaries(
    {"software_version": st.just("1.0") | texts, "uptime_s": numbers, "outbox_depth": numbers},
    optional={
        "bytes_written_per_event": numbers | st.none(),
        "ble_status": texts,
        "quarantined_events": numbers,
        "counters": st.dictionaries(texts, numbers, max_size=4),
        "devices": st.lists(
            st.fixed_dictionaries(
                {"device": texts}, optional={"battery_pct": numbers, "room": texts}
            ),
            max_size=3,
        ),
        "anything": json_values,
    },
)


@FAST
@given(body=heartbeat_fields | json_values)
def test_heartbeat_is_refused_or_round_trips_storably(body: Any) -> None:
    try:
        beat = v1.Heartbeat.model_validate(body)
    except ValidationError:
        return
    text = _assert_storable(beat.model_dump(mode="json"))
    assert v1.Heartbeat.model_validate(json.loads(text)) == beat


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf")],
)
def test_gateway_side_cannot_even_make_a_non_finite_event(value: float) -> None:
    """Both sides: the contract refuses to build such an event, not only to parse one."""
    with pytest.raises(ValidationError, match=r"NaN|finite"):
        v1.Event.create(
            household_id="hh-1",
            gateway_id="gw-1",
            kind=v1.EventKind.GATEWAY_CLOCK_SKEW,
            payload=v1.ClockSkew.model_construct(skew_s=value, source="cloud_date"),
        )
    with pytest.raises(ValidationError):
        v1.ClockSkew(skew_s=value, source="cloud_date")
    with pytest.raises(ValidationError):
        v1.Heartbeat(
            software_version="1", uptime_s=1, outbox_depth=0, bytes_written_per_event=value
        )


def test_free_text_keeps_tabs_and_line_breaks() -> None:
    """The documented choice: TAB/LF/CR are text (transcripts span lines); others are not."""
    ok = v1.RequestTrouble(text="テレビが\n映らない\tです\r\n")
    event = v1.Event.create(
        household_id="hh-1", gateway_id="gw-1", kind=v1.EventKind.REQUEST_TROUBLE, payload=ok
    )
    assert event.payload["text"] == "テレビが\n映らない\tです\r\n"
    with pytest.raises(ValidationError, match="control character U\\+0000"):
        v1.Event.create(
            household_id="hh-1",
            gateway_id="gw-1",
            kind=v1.EventKind.REQUEST_TROUBLE,
            payload={"text": "a\x00b"},
        )
