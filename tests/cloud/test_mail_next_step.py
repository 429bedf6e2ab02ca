"""The rule behind 「今後の対応」, on chains hypothesis makes up: a mail names the first step due
after its own, at that step's local time, and never its own moment as a deadline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.escalation.chain import ACTIONS, step_at, validate_chain
from cloud.mail.alert_text import case_number, next_step_text, upcoming

BASE = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)  # 08:59 JST
SAYS_A_TIME = {"family", "staff", "manager", "staff_reminder", "reprompt"}


@st.composite
def chains(draw: st.DrawFn) -> dict:
    gaps = draw(st.lists(st.integers(0, 90), min_size=1, max_size=6))
    after, steps = 0, []
    for gap in gaps:
        after += gap
        steps.append({"after_min": after, "action": draw(st.sampled_from(ACTIONS))})
    repeat = draw(st.none() | st.integers(1, 120))
    chain = {
        "steps": steps,
        "repeat": None if repeat is None else {"every_min": repeat, "action": "staff_reminder"},
    }
    validate_chain(chain)
    return chain


def _hm(instant: datetime) -> str:
    local = instant.astimezone(ZoneInfo("Asia/Tokyo"))
    return f"{local.hour}:{local.minute:02d}"


@settings(max_examples=300, deadline=None)
@given(
    chain=chains(),
    index=st.integers(0, 8),
    cause=st.sampled_from(["missed_checkin", "help_requested", "gateway_offline"]),
    audience=st.sampled_from(["family", "staff"]),
)
def test_next_step_is_the_first_later_step_at_its_time(
    chain: dict, index: int, cause: str, audience: str
) -> None:
    current = step_at(chain, BASE, index)
    if current is None:
        return
    now = current.due_at  # the step runs on time
    text = next_step_text(
        cause=cause,
        chain=chain,
        base=BASE,
        index=index,
        audience=audience,
        office="港北郵便局",
        zone="Asia/Tokyo",
        now=now,
    )
    later = upcoming(chain, BASE, index).next_step
    if later is not None:
        assert later.due_at > current.due_at
        # no step between this one and `later` is due later than this one
        i = index + 1
        while (s := step_at(chain, BASE, i)) is not None and s.index < later.index:
            assert s.due_at <= current.due_at
            i += 1
    times = re.findall(r"(?:\d+月\d+日 )?\d{1,2}:\d{2}", text)
    if later is not None and later.action in SAYS_A_TIME:
        assert times, text
        assert all(t.endswith(_hm(later.due_at)) for t in times), (text, later)


@given(st.uuids())
def test_case_number_is_short_and_stable(incident_id) -> None:  # type: ignore[no-untyped-def]
    number = case_number(str(incident_id))
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", number)
    assert number == case_number(str(incident_id))


def test_next_step_time_carries_the_date_when_not_today() -> None:
    chain = {
        "steps": [{"after_min": 0, "action": "staff"}, {"after_min": 24 * 60, "action": "manager"}]
    }
    text = next_step_text(
        cause="missed_checkin",
        chain=chain,
        base=BASE,
        index=0,
        audience="staff",
        office="港北郵便局",
        zone="Asia/Tokyo",
        now=BASE,
    )
    assert "11月28日 8:59までに" in text
    assert BASE + timedelta(days=1) == step_at(chain, BASE, 1).due_at
