"""Pure escalation logic: chain steps and reminders, miss classification, transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.detection.rules import classify_miss
from cloud.escalation.chain import (
    DEFAULT_CHAINS,
    chain_for,
    skip_missed_reminders,
    step_at,
    validate_chain,
)
from cloud.escalation.state import can_move

BASE = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)


def test_default_missed_chain_matches_architecture() -> None:
    chain = DEFAULT_CHAINS["missed_checkin"]
    steps = [step_at(chain, BASE, i) for i in range(6)]
    assert [(s.action, s.due_at - BASE) for s in steps] == [
        ("reprompt", timedelta(0)),
        ("family", timedelta(minutes=5)),
        ("staff", timedelta(minutes=15)),
        ("manager", timedelta(minutes=60)),
        ("staff_reminder", timedelta(minutes=120)),
        ("staff_reminder", timedelta(minutes=180)),
    ]


def test_missed_reminders_collapse_into_the_latest_but_regular_steps_never_skip() -> None:
    chain = DEFAULT_CHAINS["missed_checkin"]  # steps 0-3, reminders from +120 min hourly
    late = BASE + timedelta(days=3)
    # Regular steps: each still runs once, however late.
    assert [skip_missed_reminders(chain, BASE, i, late) for i in range(4)] == [0, 1, 2, 3]
    # First reminder, three days late: jump to the last one due (+120 min + 70 h).
    index = skip_missed_reminders(chain, BASE, 4, late)
    assert step_at(chain, BASE, index).due_at == BASE + timedelta(minutes=120 + 70 * 60)
    assert step_at(chain, BASE, index + 1).due_at > late
    # On time, or not yet due: unchanged.
    on_time = BASE + timedelta(minutes=120, seconds=30)
    assert skip_missed_reminders(chain, BASE, 4, on_time) == 4
    assert skip_missed_reminders(chain, BASE, 5, on_time) == 5
    no_repeat = {"steps": [{"after_min": 0, "action": "family"}], "repeat": None}
    assert skip_missed_reminders(no_repeat, BASE, 1, late) == 1


def test_help_and_unwell_go_to_family_and_staff_at_once() -> None:
    for cause in ("help_requested", "unwell"):
        chain = DEFAULT_CHAINS[cause]
        assert [
            (s.action, s.due_at) for s in (step_at(chain, BASE, 0), step_at(chain, BASE, 1))
        ] == [("family", BASE), ("staff", BASE)]


def test_safety_needs_help_escalates_like_help_and_follows_its_override() -> None:
    assert DEFAULT_CHAINS["safety_needs_help"] == DEFAULT_CHAINS["help_requested"]
    custom = {"steps": [{"after_min": 0, "action": "staff"}], "repeat": None}
    # A municipality that changed its help chain gets the same for "needs help" answers...
    assert chain_for("safety_needs_help", {"help_requested": custom}) == custom
    # ...unless it set one for the safety cause itself.
    own = {"steps": [{"after_min": 0, "action": "family"}], "repeat": None}
    both = {"help_requested": custom, "safety_needs_help": own}
    assert chain_for("safety_needs_help", both) == own
    assert chain_for("unwell", {"help_requested": custom}) == DEFAULT_CHAINS["unwell"]


def test_chain_without_repeat_ends() -> None:
    chain = {"steps": [{"after_min": 0, "action": "family"}], "repeat": None}
    assert step_at(chain, BASE, 1) is None


def test_municipality_override_is_copied_not_shared() -> None:
    custom = {"missed_checkin": {"steps": [{"after_min": 10, "action": "family"}]}}
    snap = chain_for("missed_checkin", custom)
    snap["steps"][0]["after_min"] = 99
    assert custom["missed_checkin"]["steps"][0]["after_min"] == 10
    assert chain_for("unwell", custom) == DEFAULT_CHAINS["unwell"]


@pytest.mark.parametrize(
    "chain",
    [
        {"steps": []},
        {"steps": [{"after_min": 0, "action": "telegram"}]},
        {"steps": [{"after_min": 10, "action": "family"}, {"after_min": 5, "action": "staff"}]},
        {
            "steps": [{"after_min": 0, "action": "family"}],
            "repeat": {"every_min": 0, "action": "staff"},
        },
    ],
)
def test_bad_chains_are_refused(chain) -> None:
    with pytest.raises(ValueError):
        validate_chain(chain)


def test_classify_miss() -> None:
    stale = timedelta(minutes=10)
    fresh = BASE - timedelta(minutes=2)
    old = BASE - timedelta(hours=1)
    assert classify_miss("answered", old, BASE, stale) is None
    assert classify_miss("no_response", old, BASE, stale) == "missed_checkin"
    assert classify_miss(None, fresh, BASE, stale) == "missed_checkin"
    assert classify_miss(None, old, BASE, stale) == "gateway_offline"
    assert classify_miss(None, None, BASE, stale) == "gateway_offline"


def test_transitions() -> None:
    assert can_move("open", "acknowledged") and can_move("open", "resolved")
    assert can_move("acknowledged", "resolved")
    assert not can_move("resolved", "open") and not can_move("acknowledged", "acknowledged")
