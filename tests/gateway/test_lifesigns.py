"""Pure life-sign logic: hourly summaries and the inactivity watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.lifesigns import ActivitySummariser, InactivityRule, check_inactivity

# 07:10 Asia/Tokyo on 2026-11-27
T0 = datetime(2026, 11, 26, 22, 10, tzinfo=UTC)


def test_counts_per_hour_and_room_flushed_only_when_the_hour_is_over() -> None:
    s = ActivitySummariser()
    s.add(T0, "living")
    s.add(T0 + timedelta(minutes=5), "living")
    s.add(T0 + timedelta(minutes=20), "kitchen")
    s.add(T0 + timedelta(minutes=55), None)  # next hour (23:05 UTC)
    assert s.flush(T0 + timedelta(minutes=30)) == []
    (summary,) = s.flush(T0 + timedelta(minutes=51))
    assert summary.hour_start == datetime(2026, 11, 26, 22, tzinfo=UTC)
    assert summary.counts == {"living": 2, "kitchen": 1}
    assert summary.first_activity_at == T0
    assert summary.last_activity_at == T0 + timedelta(minutes=55)
    (later,) = s.flush(T0 + timedelta(hours=2))
    assert later.counts == {"unknown": 1}


def test_first_activity_resets_on_a_new_local_day_and_state_round_trips() -> None:
    s = ActivitySummariser()
    s.add(T0, "living")
    s.add(T0 + timedelta(days=1), "living")
    assert s.first_of_day == T0 + timedelta(days=1)
    again = ActivitySummariser.from_state("Asia/Tokyo", s.to_state())
    assert again.counts == s.counts and again.last_activity == s.last_activity


RULE = InactivityRule(deadline="10:00")
TEN = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 10:00 Tokyo
LONG_AGO = TEN - timedelta(days=3)


def test_no_activity_by_deadline_is_reported_once() -> None:
    yesterday = TEN - timedelta(hours=20)
    found = check_inactivity(RULE, TEN, yesterday, {}, LONG_AGO)
    assert found is not None
    payload, key = found
    assert payload.since == yesterday and payload.deadline_local == "10:00"
    assert (
        check_inactivity(RULE, TEN + timedelta(minutes=1), yesterday, {key: "x"}, LONG_AGO) is None
    )


def test_activity_today_or_too_early_or_just_started_means_no_alert() -> None:
    assert check_inactivity(RULE, TEN, TEN - timedelta(hours=2), {}, LONG_AGO) is None
    assert check_inactivity(RULE, TEN - timedelta(minutes=1), None, {}, LONG_AGO) is None
    # The gateway was installed at 09:00: no evidence about this morning.
    assert check_inactivity(RULE, TEN, None, {}, TEN - timedelta(hours=1)) is None


def test_span_rule() -> None:
    rule = InactivityRule(deadline=None, max_span=timedelta(hours=12))
    last = TEN - timedelta(hours=13)
    found = check_inactivity(rule, TEN, last, {}, LONG_AGO)
    assert found is not None and found[0].since == last
    assert check_inactivity(rule, TEN, TEN - timedelta(hours=11), {}, LONG_AGO) is None
