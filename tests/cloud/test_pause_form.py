"""The desk's pause form (入院・ショートステイ): what a pause from "today" covers.

Pure: the form's dates against the shared schedule maths, at any instant of the day (the CI
run that found this registered the pause at 19:00 JST, while that evening's ask was still open).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.schedule import PauseSpec, SlotSpec, next_deadline
from cloud.web.forms import FieldError
from cloud.web.household_forms import pause

TOKYO = "Asia/Tokyo"


@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.lists(st.integers(0, 23 * 60 + 59), min_size=1, max_size=3, unique=True),
)
def test_a_pause_from_today_leaves_no_slot_of_today_or_later_expected(
    now: datetime, minutes: list[int]
) -> None:
    slots = [SlotSpec(f"s{m}", f"{m // 60:02d}:{m % 60:02d}") for m in minutes]
    starts, ends, _ = pause({"reason": "入院", "end_date": "2099-12-31"}, TOKYO, now)
    today = now.astimezone(ZoneInfo(TOKYO)).date()
    left = next_deadline(slots, TOKYO, now, [PauseSpec(starts, ends)])
    # Only yesterday's late slot, whose deadline runs past midnight, can still be due.
    assert left is None or left.slot_date < today


def test_the_evening_ask_open_when_staff_register_a_stay_is_not_expected() -> None:
    evening = [SlotSpec("evening", "18:00")]
    now = datetime(2026, 11, 30, 18, 20, tzinfo=ZoneInfo(TOKYO)).astimezone(UTC)
    before = next_deadline(evening, TOKYO, now)
    assert before is not None and before.slot_date == date(2026, 11, 30)
    starts, ends, reason = pause({"reason": " 入院 ", "start_date": ""}, TOKYO, now)
    assert (starts, ends, reason) == (datetime(2026, 11, 29, 15, 0, tzinfo=UTC), None, "入院")
    after = next_deadline(evening, TOKYO, now, [PauseSpec(starts, ends)])
    assert after is None


def test_dates_are_whole_local_days_and_the_past_is_refused() -> None:
    now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 10:00 JST
    starts, ends, _ = pause(
        {"reason": "ショートステイ", "start_date": "2026-12-03", "end_date": "2026-12-05"},
        TOKYO,
        now,
    )
    assert starts == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert ends is not None and ends - starts == timedelta(days=3)
    with pytest.raises(FieldError) as past:
        pause({"reason": "入院", "start_date": "2026-11-29"}, TOKYO, now)
    assert past.value.field == "start_date"
    with pytest.raises(FieldError) as backwards:
        pause({"reason": "入院", "start_date": "2026-12-05", "end_date": "2026-12-04"}, TOKYO, now)
    assert backwards.value.field == "end_date"
    with pytest.raises(FieldError) as no_reason:
        pause({"reason": "  "}, TOKYO, now)
    assert no_reason.value.field == "reason"
