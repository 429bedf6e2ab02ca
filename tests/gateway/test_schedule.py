"""Pure schedule maths: slot times, re-asks, pauses, quiet hours, missed slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.schedule import (
    SlotProgress,
    Step,
    attempt_voice,
    current_occurrence,
    decide,
    in_quiet_hours,
    occurrences,
    quiet_hours_end,
)
from mimamori_wire.v1 import GatewayConfig, Pause, QuietHours, Slot

CFG = GatewayConfig(
    household_id="h",
    config_version=1,
    slots=[Slot(name="morning", time="08:00"), Slot(name="evening", time="19:30")],
)
# 08:00 Asia/Tokyo on 2026-11-27 is 23:00 UTC the day before.
MORNING = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def morning():
    (occ,) = [
        o
        for o in occurrences(CFG, MORNING - timedelta(hours=1), MORNING + timedelta(hours=1))
        if o.slot.name == "morning"
    ]
    return occ


def test_occurrences_use_local_time_and_dates() -> None:
    found = occurrences(CFG, MORNING - timedelta(hours=1), MORNING + timedelta(days=1))
    assert [(o.slot.name, o.key, o.at) for o in found] == [
        ("morning", "2026-11-27/morning", MORNING),
        ("evening", "2026-11-27/evening", MORNING + timedelta(hours=11, minutes=30)),
    ]


def test_reask_at_plus_10_and_20_then_report() -> None:
    occ = morning()
    p = SlotProgress()
    assert decide(occ, p, MORNING - timedelta(minutes=1), []).step == Step.WAIT
    assert decide(occ, p, MORNING, []).step == Step.ASK
    p = SlotProgress(attempts=1, last_attempt_at=MORNING)
    wait = decide(occ, p, MORNING + timedelta(minutes=2), [])
    assert wait.step == Step.WAIT and wait.until == MORNING + timedelta(minutes=10)
    ask = decide(occ, p, MORNING + timedelta(minutes=10), [])
    assert (ask.step, ask.attempt) == (Step.ASK, 1)
    p = SlotProgress(attempts=2, last_attempt_at=MORNING + timedelta(minutes=10))
    assert decide(occ, p, MORNING + timedelta(minutes=20), []).attempt == 2
    p = SlotProgress(attempts=3, last_attempt_at=MORNING + timedelta(minutes=20))
    final = decide(occ, p, MORNING + timedelta(minutes=21), [])
    assert (final.step, final.reason) == (Step.REPORT_NO_RESPONSE, "silent")


def test_powered_off_over_the_whole_window_is_reported_gateway_down() -> None:
    d = decide(morning(), SlotProgress(), MORNING + timedelta(hours=3), [])
    assert (d.step, d.reason) == (Step.REPORT_NO_RESPONSE, "gateway_down")


def test_reboot_inside_the_window_asks_late_but_never_back_to_back() -> None:
    occ = morning()
    late = decide(occ, SlotProgress(), MORNING + timedelta(minutes=12), [])
    assert (late.step, late.attempt) == (Step.ASK, 0)
    after = SlotProgress(attempts=1, last_attempt_at=MORNING + timedelta(minutes=12))
    nxt = decide(occ, after, MORNING + timedelta(minutes=13), [])
    assert nxt.step == Step.WAIT and nxt.until == MORNING + timedelta(minutes=17)


def test_pause_from_cloud_reports_paused() -> None:
    pause = Pause(starts_at=MORNING - timedelta(days=1), ends_at=MORNING + timedelta(days=2))
    assert decide(morning(), SlotProgress(), MORNING, [pause]).step == Step.REPORT_PAUSED
    ended = Pause(starts_at=MORNING - timedelta(days=2), ends_at=MORNING - timedelta(days=1))
    assert decide(morning(), SlotProgress(), MORNING, [ended]).step == Step.ASK


def test_quiet_hours_wrap_midnight_and_end() -> None:
    quiet = QuietHours(start="21:00", end="06:30")
    tokyo_2200 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert in_quiet_hours(quiet, tokyo_2200, "Asia/Tokyo")
    assert not in_quiet_hours(quiet, MORNING, "Asia/Tokyo")
    assert quiet_hours_end(quiet, tokyo_2200, "Asia/Tokyo") == datetime(
        2026, 11, 27, 21, 30, tzinfo=UTC
    )


def test_reasks_are_slower_and_louder_but_not_louder_at_night() -> None:
    assert attempt_voice(1.0, 1.0, 0, quiet=False) == (1.0, 1.0)
    speed, volume = attempt_voice(1.0, 1.0, 2, quiet=False)
    assert speed < 1.0 and volume > 1.0
    assert attempt_voice(1.0, 1.0, 2, quiet=True)[1] == 1.0


def test_current_occurrence_for_button_press() -> None:
    occ = current_occurrence(CFG, MORNING + timedelta(minutes=5))
    assert occ is not None and occ.key == "2026-11-27/morning"
    assert current_occurrence(CFG, MORNING + timedelta(minutes=5), {occ.key}) is None
    assert current_occurrence(CFG, MORNING + timedelta(hours=3)) is None


@settings(max_examples=150, deadline=None)
@given(
    answers=st.lists(st.booleans(), min_size=3, max_size=3),
    outages=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
    step_min=st.integers(min_value=1, max_value=9),
)
def test_every_occurrence_ends_in_exactly_one_outcome(
    answers: list[bool], outages: list[int], step_min: int
) -> None:
    """Drive time in random steps with random downtime: never a silent skip."""
    occ = morning()
    progress = SlotProgress()
    outcomes: list[str] = []
    now = MORNING - timedelta(minutes=5)
    down = set(outages)
    for tick in range(200):
        now += timedelta(minutes=step_min)
        if tick in down:
            continue  # powered off during this tick
        d = decide(occ, progress, now, [])
        if d.step == Step.ASK:
            progress.attempts += 1
            progress.last_attempt_at = now
            if answers[d.attempt]:
                progress.done = True
                outcomes.append("answered")
        elif d.step == Step.REPORT_NO_RESPONSE:
            progress.done = True
            outcomes.append(d.reason)
    assert len(outcomes) == 1
    assert progress.attempts <= 3
