"""Pure role rules and Zigbee2MQTT parsing (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.events import DeviceRole, DeviceSignal, PairedDevice
from firmware_bridge.mqtt import BadPayload, parse_availability, parse_z2m_state
from firmware_bridge.roles import DeviceState, Observation

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def state(role: DeviceRole, **options) -> DeviceState:
    device = PairedDevice(
        name="d", transport="ble", address="AA:BB:CC:DD:EE:FF", role=role, options=options
    )
    return DeviceState(device, T0)


def signals(events) -> list[DeviceSignal]:
    return [e.signal for e in events]


def test_button_mapping_is_configurable() -> None:
    s = state(DeviceRole.HELP_BUTTON, fine_actions=["double_press"], help_actions=["press"])
    assert signals(s.observe(Observation(T0, actions=("press",)))) == [DeviceSignal.HELP]
    assert signals(s.observe(Observation(T0, actions=("double_press",)))) == [
        DeviceSignal.CHECKIN_FINE
    ]
    assert signals(s.observe(Observation(T0, actions=("long_press",)))) == [DeviceSignal.ACTIVITY]


def test_battery_low_once_and_again_after_replacement() -> None:
    s = state(DeviceRole.MOTION)
    got = []
    for pct in (30, 19, 18, 15, 100, 12):
        got += signals(s.observe(Observation(T0, readings={"battery": pct})))
    assert got == [DeviceSignal.BATTERY_LOW, DeviceSignal.BATTERY_LOW]


def test_cold_alert_needs_the_whole_span_and_rearms_with_hysteresis() -> None:
    s = state(DeviceRole.THERMOMETER, cold_span_s=3600, reading_every_s=10**9)
    at = T0
    out = []
    for temp in (17.0, 17.5, 19.5, 17.0, 16.0, 16.0, 16.5, 18.5, 19.5, 17.0):
        out += [
            e
            for e in s.observe(Observation(at, readings={"temperature": temp}))
            if e.signal is DeviceSignal.ENVIRONMENT
        ]
        at += timedelta(minutes=30)
    # 17.0/17.5 then 19.5 breaks the span; 17.0..16.5 holds for 90 min -> one alert;
    # 18.5 is inside the hysteresis (no re-arm), 19.5 re-arms, 17.0 starts a new span.
    assert [(e.data["condition"], e.data["temperature_c"]) for e in out] == [("cold", 16.0)]


def test_motion_false_is_not_activity_and_generic_reacts_to_anything() -> None:
    m = state(DeviceRole.MOTION)
    assert m.observe(Observation(T0, states={"motion": False})) == []
    g = state(DeviceRole.GENERIC)
    assert signals(g.observe(Observation(T0, states={"occupancy": True}))) == [
        DeviceSignal.ACTIVITY
    ]


def test_z2m_state_mapping() -> None:
    obs = parse_z2m_state(b'{"contact": false, "battery": 88, "linkquality": 5}', T0)
    assert obs.states == {"opening": True} and obs.readings == {"battery": 88}
    obs = parse_z2m_state(b'{"action": "single"}', T0)
    assert obs.actions == ("press",)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "mqtt_not_json"),
        (b"{", "mqtt_not_json"),
        (b"\xff", "mqtt_not_json"),
        (b"42", "mqtt_not_object"),
        (b'{"occupancy": 1}', "mqtt_wrong_type"),
        (b'{"battery": "full"}', "mqtt_wrong_type"),
        (b'{"battery": true}', "mqtt_wrong_type"),
        (b'{"temperature": "31"}', "mqtt_wrong_type"),
        (b" " * (70 * 1024), "mqtt_oversize"),
    ],
)
def test_z2m_bad_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason):
        parse_z2m_state(payload, T0)


def test_availability_formats() -> None:
    assert parse_availability(b"online") is True
    assert parse_availability(b'{"state":"offline"}') is False
    with pytest.raises(BadPayload):
        parse_availability(b'{"state": 1}')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
z2m_like = st.dictionaries(
    st.sampled_from(["occupancy", "contact", "action", "battery", "temperature", "humidity", "x"]),
    json_values,
    max_size=5,
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.one_of(z2m_like.map(json.dumps), json_values.map(json.dumps), st.text(max_size=60)))
def test_z2m_parser_either_reads_or_names_the_problem(payload: str) -> None:
    try:
        obs = parse_z2m_state(payload.encode(), T0)
    except BadPayload as exc:
        assert str(exc).startswith("mqtt_")
        return
    assert all(isinstance(v, bool) for v in obs.states.values())
    assert all(
        isinstance(v, float | int) and not isinstance(v, bool) for v in obs.readings.values()
    )
