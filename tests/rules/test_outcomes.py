"""The outcome rules: one answer for what a dialogue result means, on every call site."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import dialogue_runner
from mimamori_rules import outcomes
from mimamori_wire.v1 import Intent
from speech import dialogue


@dataclass
class Result:
    outcome: str
    intent: Any = None
    health_intent: Any = None
    confidence: float = 0.9
    answers: dict = field(default_factory=dict)
    transcript: str | None = None
    trouble_text: str | None = None


@pytest.mark.parametrize(
    ("outcome", "intent", "status"),
    [
        ("answered", Intent.FINE, "safe"),
        ("answered", Intent.USUAL, "safe"),
        ("answered", Intent.YES, "safe"),
        ("answered", Intent.UNWELL, "needs_help"),
        ("answered", Intent.NO, "needs_help"),
        # Not clearly fine: a human looks (speech/ once said "safe" here; production did not).
        ("answered", Intent.UNKNOWN, "needs_help"),
        ("answered", None, "needs_help"),
        ("answered", "garbage", "needs_help"),
        ("help", Intent.FINE, "needs_help"),
        ("callback", None, "needs_help"),
        ("trouble", None, "needs_help"),
        ("no_response", None, "no_answer"),
    ],
)
def test_safety_status_table(outcome: str, intent: Any, status: str) -> None:
    assert outcomes.safety_status(outcome, intent) == status


@given(
    outcome=st.sampled_from(outcomes.OUTCOMES),
    intent=st.one_of(st.none(), st.sampled_from(list(Intent)), st.text(max_size=8)),
)
def test_speech_and_gateway_call_sites_agree_with_the_rule_book(outcome: str, intent: Any) -> None:
    result = Result(outcome, intent)
    expected = outcomes.safety_status(outcome, intent)
    assert dialogue_runner.safety_status(result) == expected
    assert dialogue.safety_status(result) == expected  # type: ignore[arg-type]
    # Only a clear "fine/usual/yes" answer is ever safe.
    if expected == "safe":
        assert outcome == "answered" and outcomes.as_intent(intent) in outcomes.SAFE_INTENTS


@given(
    outcome=st.sampled_from(outcomes.OUTCOMES),
    intent=st.one_of(st.none(), st.sampled_from(list(Intent))),
    health=st.one_of(st.none(), st.sampled_from([Intent.FINE, Intent.USUAL, Intent.UNWELL])),
)
def test_an_unwell_answer_is_never_lost_behind_a_request(
    outcome: str, intent: Any, health: Any
) -> None:
    reported = outcomes.checkin_intent(outcome, intent, health)
    if outcome in ("callback", "trouble") and health == Intent.UNWELL:
        assert outcomes.cause_for_intent(reported) == "unwell"
    if outcome == "help":
        assert outcomes.cause_for_intent(reported) == "help_requested"


def test_the_cloud_escalates_on_the_rule_book_tables() -> None:
    from cloud.escalation import state

    assert state.IMMEDIATE_CAUSE_BY_INTENT is outcomes.IMMEDIATE_CAUSE_BY_INTENT
    assert state.IMMEDIATE_CAUSE_BY_SAFETY_STATUS is outcomes.IMMEDIATE_CAUSE_BY_SAFETY_STATUS
    assert outcomes.cause_for_safety_status("needs_help") == "safety_needs_help"
    assert outcomes.cause_for_safety_status("safe") is None
