"""The rule that keeps the cloud from declaring a miss while the resident is still answering:
every ask the gateway may start ends (MAX_DIALOGUE) and reaches the cloud (UPLOAD_MARGIN)
before the slot's deadline, for any slot settings (hypothesis), short graces included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud import schedule as cloud_schedule
from mimamori_rules import schedule as rules
from mimamori_wire.v1 import Slot

DAY = date(2026, 11, 30)


@st.composite
def slots(draw: st.DrawFn) -> Slot:
    window = draw(st.integers(5, 240))
    offsets = draw(st.lists(st.integers(0, 260), max_size=3, unique=True))
    return Slot(
        name="s",
        time=f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
        window_min=window,
        grace_min=draw(st.integers(0, 120)),
        reask_offsets_min=offsets,
    )


def occurrence(slot: Slot, zone: str = "Asia/Tokyo") -> rules.SlotOccurrence[Slot]:
    return rules.occurrence_on(slot, DAY, ZoneInfo(zone))


@settings(max_examples=300, deadline=None)
@given(
    slot=slots(),
    seconds_in=st.integers(0, 300 * 60),
    attempts=st.integers(0, 4),
    last_gap_s=st.one_of(st.none(), st.integers(0, 60 * 60)),
)
def test_every_ask_the_gateway_may_start_is_reported_before_the_deadline(
    slot: Slot, seconds_in: int, attempts: int, last_gap_s: int | None
) -> None:
    occ = occurrence(slot)
    now = occ.at + timedelta(seconds=seconds_in)
    last = None if last_gap_s is None else now - timedelta(seconds=last_gap_s)
    progress = rules.SlotProgress(attempts=attempts, last_attempt_at=last)
    if rules.decide(occ, progress, now, []).step != rules.Step.ASK:
        return
    assert now < occ.window_end
    over_by = rules.dialogue_cutoff(now) + rules.MAX_PROMPT  # the last prompt played out
    assert over_by <= occ.answer_by
    assert over_by + rules.UPLOAD_MARGIN <= occ.deadline
    assert not rules.is_late(occ.deadline, over_by + rules.UPLOAD_MARGIN)


@settings(max_examples=300, deadline=None)
@given(slot=slots())
def test_the_deadline_never_shortens_the_grace_and_keeps_it_when_it_is_enough(slot: Slot) -> None:
    occ = occurrence(slot)
    granted = occ.at + timedelta(minutes=slot.window_min + slot.grace_min)
    assert occ.deadline >= granted
    if granted >= occ.window_end + rules.MAX_DIALOGUE + rules.UPLOAD_MARGIN:
        assert occ.deadline == granted


def test_the_defaults_keep_their_deadline_and_a_zero_grace_gets_the_answer_window() -> None:
    usual = occurrence(Slot(name="m", time="08:00"))  # window 30, grace 5, re-asks 10 and 20
    assert usual.deadline == usual.at + timedelta(minutes=35)
    none = occurrence(Slot(name="m", time="08:00", grace_min=0))
    assert none.deadline == none.window_end + rules.MAX_DIALOGUE + rules.UPLOAD_MARGIN
    assert none.deadline == none.at + timedelta(minutes=35)


@settings(max_examples=100, deadline=None)
@given(slot=slots())
def test_the_clouds_stored_deadline_is_the_rule_books(slot: Slot) -> None:
    """The worker stores what cloud.schedule computes from a slot row, re-asks included."""
    spec = cloud_schedule.SlotSpec(
        slot.name, slot.time, slot.window_min, slot.grace_min, tuple(slot.reask_offsets_min)
    )
    after = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    found = cloud_schedule.next_deadline([spec], "Asia/Tokyo", after)
    assert found is not None
    expected = rules.occurrence_on(slot, found.slot_date, ZoneInfo("Asia/Tokyo"))
    assert found.deadline == expected.deadline
