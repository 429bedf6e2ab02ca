"""The check-in sentence Home Assistant shows, from the gateway's check-in payload."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.mqtt import checkin_text

DAY = "2026-11-27"


@pytest.mark.parametrize(
    ("outcome", "intent", "text"),
    [
        ("answered", "fine", "11月27日 morning: 応答あり（元気）"),
        ("answered", "unwell", "11月27日 morning: 応答あり（元気がない）"),
        ("answered", None, "11月27日 morning: 応答あり"),
        ("help", "help", "11月27日 morning: 助けを求めています"),
        ("callback", "callback", "11月27日 morning: 電話がほしい"),
        ("no_response", None, "11月27日 morning: 応答なし"),
        ("new_outcome", None, "11月27日 morning: new_outcome"),  # never hidden
    ],
)
def test_outcomes(outcome: str, intent: str | None, text: str) -> None:
    state = {"slot": "morning", "slot_date": DAY, "outcome": outcome, "intent": intent}
    assert checkin_text(state) == text


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.dictionaries(
        st.sampled_from(["slot", "slot_date", "outcome", "intent", "at"]),
        st.none() | st.text(max_size=400) | st.integers(),
    )
)
def test_any_payload_gives_a_short_sentence(state: dict) -> None:
    text = checkin_text(state)
    assert isinstance(text, str) and text and len(text) <= 255  # HA's state length limit
