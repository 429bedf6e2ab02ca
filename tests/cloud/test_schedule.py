"""Pure deadline maths: midnight, several slots, pauses, holidays, DST zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.schedule import PauseSpec, SlotSpec, next_deadline, slot_deadline

TOKYO = "Asia/Tokyo"


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(TOKYO))


def test_deadline_is_slot_plus_window_plus_grace() -> None:
    d = next_deadline([SlotSpec("morning", "08:00", 30, 5)], TOKYO, jst(2026, 11, 27, 7, 0))
    assert d is not None
    assert d.deadline == jst(2026, 11, 27, 8, 35)
    assert (d.slot, d.slot_date) == ("morning", date(2026, 11, 27))
    assert d.deadline.tzinfo == UTC


def test_after_the_deadline_moves_to_next_slot_then_next_day() -> None:
    slots = [SlotSpec("evening", "19:00"), SlotSpec("morning", "08:00")]
    first = next_deadline(slots, TOKYO, jst(2026, 11, 27, 8, 35))  # exactly at: strictly after
    assert first is not None and first.slot == "evening"
    second = next_deadline(slots, TOKYO, first.deadline)
    assert second is not None
    assert (second.slot, second.slot_date) == ("morning", date(2026, 11, 28))


def test_late_evening_slot_deadline_crosses_midnight() -> None:
    slots = [SlotSpec("night", "23:50", 30, 5)]
    d = next_deadline(slots, TOKYO, jst(2026, 11, 28, 0, 10))
    assert d is not None
    # The 27th's slot is still open at 00:10 on the 28th: its deadline is 00:25.
    assert d.slot_date == date(2026, 11, 27)
    assert d.deadline == jst(2026, 11, 28, 0, 25)
    nxt = next_deadline(slots, TOKYO, d.deadline)
    assert nxt is not None and nxt.slot_date == date(2026, 11, 28)


def test_pause_skips_slots_inside_it() -> None:
    slots = [SlotSpec("morning", "08:00")]
    hospital = PauseSpec(jst(2026, 11, 27, 12, 0), jst(2026, 11, 30, 10, 0))
    d = next_deadline(slots, TOKYO, jst(2026, 11, 27, 9, 0), [hospital])
    assert d is not None and d.slot_date == date(2026, 12, 1)


def test_open_ended_pause_means_no_deadline() -> None:
    slots = [SlotSpec("morning", "08:00")]
    assert (
        next_deadline(slots, TOKYO, jst(2026, 11, 27, 9), [PauseSpec(jst(2026, 11, 27, 9))]) is None
    )


def test_holidays_skip_whole_local_days() -> None:
    slots = [SlotSpec("morning", "08:00"), SlotSpec("evening", "18:00")]
    d = next_deadline(slots, TOKYO, jst(2026, 11, 27, 9), holidays=[date(2026, 11, 27)])
    assert d is not None and (d.slot, d.slot_date) == ("morning", date(2026, 11, 28))


def test_no_slots_no_deadline() -> None:
    assert next_deadline([], TOKYO, jst(2026, 11, 27, 9)) is None


def test_dst_spring_forward_gap_moves_forward() -> None:
    # New York, 2026-03-08: 02:00 -> 03:00. A 02:30 slot does not exist that day.
    zone = ZoneInfo("America/New_York")
    d = slot_deadline(SlotSpec("s", "02:30", 30, 0), date(2026, 3, 8), zone)
    assert d.slot_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # = 03:30 EDT
    before = slot_deadline(SlotSpec("s", "08:00", 30, 5), date(2026, 3, 7), zone)
    after = slot_deadline(SlotSpec("s", "08:00", 30, 5), date(2026, 3, 8), zone)
    assert after.slot_at - before.slot_at == timedelta(hours=23)
    assert after.slot_at.astimezone(zone).hour == 8


def test_dst_fall_back_takes_first_occurrence_and_fires_once() -> None:
    zone_name = "America/New_York"
    slots = [SlotSpec("s", "01:30", 10, 0)]  # 01:30 happens twice on 2026-11-01
    start = datetime(2026, 10, 31, 12, tzinfo=UTC)
    first = next_deadline(slots, zone_name, start)
    second = next_deadline(slots, zone_name, first.deadline)
    assert first.slot_date == date(2026, 11, 1)
    assert first.slot_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert second.slot_date == date(2026, 11, 2)


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(
        st.tuples(st.integers(0, 23), st.integers(0, 59)), min_size=1, max_size=3, unique=True
    ),
    window=st.integers(5, 240),
    after_min=st.integers(0, 3 * 24 * 60),
    zone=st.sampled_from(["Asia/Tokyo", "America/New_York", "Europe/London", "UTC"]),
)
def test_next_deadline_is_the_earliest_one_strictly_after(times, window, after_min, zone) -> None:
    slots = [SlotSpec(f"s{i}", f"{h:02d}:{m:02d}", window, 5) for i, (h, m) in enumerate(times)]
    after = datetime(2026, 3, 6, tzinfo=UTC) + timedelta(minutes=after_min)
    got = next_deadline(slots, zone, after)
    # Brute force over a generous range of days.
    start = after.astimezone(ZoneInfo(zone)).date() - timedelta(days=2)
    candidates = [
        slot_deadline(s, start + timedelta(days=n), ZoneInfo(zone)).deadline
        for n in range(6)
        for s in slots
    ]
    assert got is not None
    assert got.deadline == min(c for c in candidates if c > after)
