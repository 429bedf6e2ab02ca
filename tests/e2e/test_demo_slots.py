"""The demo's early slot: its deadline, by the same rule book the cloud uses, falls within the
demo's first two minutes whatever the rule book adds after the answer window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mimamori_dev.demo import GRACE_MIN, TZ, WINDOW_MIN, _DemoSlot, demo_slots
from mimamori_rules.schedule import SlotOccurrence, parse_hhmm


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31)))
def test_the_early_slots_deadline_falls_40_to_100_s_after_seeding(naive: datetime) -> None:
    seeded = naive.replace(tzinfo=UTC)
    _, early = demo_slots(seeded)
    local_seeded = seeded.astimezone(TZ)
    day = local_seeded.date()
    at = datetime.combine(day, parse_hhmm(early), tzinfo=TZ).astimezone(UTC)
    if at > seeded:  # the early slot began yesterday (seeded just after local midnight)
        at -= timedelta(days=1)
    slot = _DemoSlot(window_min=WINDOW_MIN, grace_min=GRACE_MIN)
    deadline = SlotOccurrence(slot, day, at).deadline
    assert timedelta(seconds=40) <= deadline - seeded <= timedelta(seconds=100)
