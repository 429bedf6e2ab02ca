"""Zigbee2MQTT topic routing and action naming: the rules, with generated input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.mqtt import Z2MTopic, classify_z2m_topic
from firmware_bridge.roles import IGNORE, PRESS_ACTIONS, z2m_action

BASE = "zigbee2mqtt"
# Zigbee2MQTT friendly names: any text without MQTT wildcards, segments joined by "/".
segment = st.text(
    alphabet=st.characters(blacklist_characters="/#+\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
friendly_name = st.lists(segment, min_size=1, max_size=4).map("/".join)
paired_names = st.sets(friendly_name, min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, database=None)
@given(paired_names)
def test_every_paired_name_routes_to_itself(names: set[str]) -> None:
    for name in names:
        assert classify_z2m_topic(BASE, f"{BASE}/{name}", names) == Z2MTopic("state", name)
        availability = classify_z2m_topic(BASE, f"{BASE}/{name}/availability", names)
        if f"{name}/availability" in names:  # a device literally named so: exact name wins
            assert availability == Z2MTopic("state", f"{name}/availability")
        else:
            # the longest paired prefix: "a/b" over "a" for "a/b/availability"
            assert availability == Z2MTopic("availability", name)


@settings(max_examples=150, deadline=None, database=None)
@given(paired_names, friendly_name, st.sampled_from(["set", "get", "set/state", "action"]))
def test_requests_and_unpaired_devices_are_never_states(
    names: set[str], other: str, suffix: str
) -> None:
    name = sorted(names)[0]
    request = classify_z2m_topic(BASE, f"{BASE}/{name}/{suffix}", names)
    assert request.kind in ("ignored", "state")  # "state" only if that full name is paired
    if request.kind == "state":
        assert request.name == f"{name}/{suffix}"
    if not any(other == n or other.startswith(f"{n}/") for n in names):
        assert classify_z2m_topic(BASE, f"{BASE}/{other}", names).kind in ("unknown", "ignored")


def test_bridge_topics_are_ignored() -> None:
    for rest in ("bridge/state", "bridge/devices", "bridge/request/device/rename", "bridge"):
        assert classify_z2m_topic(BASE, f"{BASE}/{rest}", {"room/sensor"}).kind == "ignored"


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=40), st.dictionaries(st.text(max_size=12), st.text(max_size=12)))
def test_any_action_is_a_press_ignored_or_unknown(raw: str, action_map: dict) -> None:
    result = z2m_action(raw, action_map)
    assert result is None or result == IGNORE or result in PRESS_ACTIONS


def test_vendor_action_names() -> None:
    cases = {
        "single": "press",
        "single_left": "press",
        "double_right": "double_press",
        "double_both": "double_press",
        "hold_left": "hold_press",
        "1_single": "press",
        "2_hold": "hold_press",
        "quadruple": "quadruple_press",
        "release": IGNORE,
        "brightness_stop": IGNORE,
        "brightness_move_up": None,
        "shake": None,
    }
    assert {raw: z2m_action(raw) for raw in cases} == cases
    assert z2m_action("single_right", {"single_right": "long_press"}) == "long_press"
    assert z2m_action("single_right", {"single_right": "hepl"}) is None  # typo is seen
