"""Hypothesis strategies for hostile wire input, shared by the contract and ingest suites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from mimamori_wire import v1

NASTY_CHARS = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\ud800",
    "\udfff",
    "\t",
    "\n",
    "\r",
    "\u2028",
]
texts = st.text(
    st.one_of(st.characters(), st.sampled_from(NASTY_CHARS)), max_size=40
) | st.sampled_from(["", "x" * 5000, "元気です"])
numbers = st.one_of(
    st.floats(),  # NaN and +-Infinity included
    st.integers(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 2**53 + 1]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=25,
)
zones = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=9)),
        timezone(timedelta(hours=-9)),
        timezone(timedelta(hours=14)),
    ]
)
times = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=zones
    ).map(datetime.isoformat),
    st.datetimes(timezones=st.none()).map(datetime.isoformat),  # naive: refused
    st.sampled_from(
        [
            "0001-01-01T00:00:00+09:00",
            "9999-12-31T23:59:59-09:00",
            "2026-11-27T08:00:00+09:00",
            "2026-02-30T08:00:00Z",
            "yesterday",
        ]
    ),
    json_values,
)

# A minimal valid payload per kind: hostile values are then mixed into real field names, so
# generated events reach the typed payload rules, not only the envelope's.
BASE_PAYLOADS: dict[str, dict[str, Any]] = {
    "checkin.answered": {"slot": "morning", "intent": "fine", "confidence": 0.9, "attempts": 1},
    "checkin.no_response": {"slot": "morning", "attempts": 3},
    "help.requested": {"source": "button"},
    "request.callback": {"transcript": "電話ください"},
    "request.trouble": {"text": "テレビが"},
    "activity": {"sensor": "pir-1", "kind": "motion"},
    "activity.summary": {"hour_start": "2026-11-27T08:00:00+09:00", "counts": {"居間": 3}},
    "inactivity": {"deadline_local": "10:00"},
    "environment.alert": {"sensor": "env-1", "condition": "heat", "temperature_c": 35.0},
    "device.battery_low": {"device": "btn-1", "battery_pct": 9},
    "device.silent": {"device": "pir-1"},
    "device.back": {"device": "pir-1"},
    "announcement.played": {"announcement_id": "a-1"},
    "announcement.heard": {"announcement_id": "a-1"},
    "safety_check.answered": {"check_id": "c-1", "status": "safe"},
    "command.done": {"command_id": "c-1"},
    "gateway.started": {"software_version": "1.0"},
    "gateway.clock_skew": {"skew_s": 1.5, "source": "cloud_date"},
    "gateway.outbox_alarm": {"depth": 1, "capacity": 2},
}
FIELDS = sorted({name for payload in BASE_PAYLOADS.values() for name in payload} | {"extra"})


@st.composite
def payloads(draw: st.DrawFn, kind: str) -> Any:
    base = dict(BASE_PAYLOADS.get(kind, {}))
    overrides = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3))
    return draw(st.one_of(st.just({**base, **overrides}), json_values))


@st.composite
def raw_events(
    draw: st.DrawFn,
    household_id: str = "hh-1",
    gateway_id: str = "gw-1",
    now: datetime | None = None,
    own_envelope: bool = False,
) -> Any:
    """A raw event body, hostile anywhere; `own_envelope` keeps the household and gateway
    ids (so a cloud judges the event, not the tenancy) and a dict shape."""
    kind = draw(st.sampled_from(sorted(BASE_PAYLOADS)) | texts)
    stamp = (now or datetime.now(UTC)).isoformat()
    event: dict[str, Any] = {
        "id": draw(st.just(v1.new_event_id()) | texts),
        "household_id": household_id if own_envelope else draw(st.just(household_id) | texts),
        "gateway_id": gateway_id if own_envelope else draw(st.just(gateway_id) | texts),
        "kind": kind,
        "occurred_at": draw(st.just(stamp) | times),
        "recorded_at": draw(st.just(stamp) | times),
        "payload": draw(payloads(kind)),
        "schema": draw(st.just(1) | json_values),
    }
    return event if own_envelope else draw(st.just(event) | json_values)
