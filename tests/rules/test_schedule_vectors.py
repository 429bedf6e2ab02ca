"""One set of schedule cases, run against the rule book and from both sides.

The gateway side goes through gateway.schedule (its cached GatewayConfig, the scheduler's
`decide`); the cloud side through cloud.schedule (the deadline the worker stores). Both must
agree with the hand-worked vectors and with each other on random households (hypothesis),
DST zones included.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud import schedule as cloud_schedule
from gateway import schedule as gateway_schedule
from mimamori_rules import schedule as rules
from mimamori_wire.v1 import GatewayConfig, Pause, Slot

VECTORS = json.loads((Path(__file__).parent / "schedule_vectors.json").read_text())["cases"]
ZONES = ["Asia/Tokyo", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def gateway_config(case: dict[str, Any]) -> GatewayConfig:
    return GatewayConfig(
        household_id="h",
        config_version=1,
        timezone=case["zone"],
        slots=[Slot(**s) for s in case["slots"]],
        pauses=[Pause(**p) for p in case["pauses"]],
        holidays=case["days_off"],
    )


def cloud_inputs(cfg: GatewayConfig) -> tuple[list, list]:
    slots = [
        cloud_schedule.SlotSpec(
            s.name, s.time, s.window_min, s.grace_min, tuple(s.reask_offsets_min)
        )
        for s in cfg.slots
    ]
    pauses = [cloud_schedule.PauseSpec(p.starts_at, p.ends_at) for p in cfg.pauses]
    return slots, pauses


def gateway_fates(cfg: GatewayConfig, start: datetime, end: datetime) -> list[tuple]:
    """What the gateway's scheduler does at each slot moment: ask, or report paused."""
    fates = []
    for occ in gateway_schedule.occurrences(cfg, start, end):
        step = rules.decide(occ, rules.SlotProgress(), occ.at, cfg.pauses).step
        fate = {rules.Step.ASK: "ask", rules.Step.REPORT_PAUSED: "paused"}[step]
        fates.append((occ.slot.name, occ.local_date, occ.at, occ.window_end, fate))
    return fates


def cloud_deadlines(cfg: GatewayConfig, start: datetime, end: datetime) -> list[tuple]:
    """The deadlines the cloud's worker walks through, for slots at start <= at < end."""
    slots, pauses = cloud_inputs(cfg)
    found = []
    after, after_slot = start, None
    # As the worker does: each step starts after the deadline (and slot) just handled; a
    # long late window can end after the next day's short early one, so walk one day past.
    while True:
        d = cloud_schedule.next_deadline(
            slots, cfg.timezone, after, pauses, cfg.holidays, after_slot
        )
        if d is None or d.slot_at >= end + timedelta(days=1):
            return found
        if start <= d.slot_at < end:
            found.append((d.slot, d.slot_date, d.slot_at, d.deadline))
        after, after_slot = d.deadline, (d.slot_date, d.slot)


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_gateway_asks_exactly_the_vectors(case: dict[str, Any]) -> None:
    cfg = gateway_config(case)
    expected = [
        (e["slot"], date.fromisoformat(e["date"]), instant(e["at"]), instant(e["window_end"]), fate)
        for e in case["expected"]
        if (fate := e["fate"])
    ]
    assert gateway_fates(cfg, instant(case["from"]), instant(case["to"])) == expected


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_cloud_deadlines_are_exactly_the_asked_vectors(case: dict[str, Any]) -> None:
    cfg = gateway_config(case)
    expected = [
        (e["slot"], date.fromisoformat(e["date"]), instant(e["at"]), instant(e["deadline"]))
        for e in case["expected"]
        if e["fate"] == "ask"
    ]
    # The cloud walks deadlines in deadline order; the vectors list slots in time order.
    assert sorted(cloud_deadlines(cfg, instant(case["from"]), instant(case["to"]))) == sorted(
        expected
    )


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_skip_reason_names_days_off_and_pauses(case: dict[str, Any]) -> None:
    cfg = gateway_config(case)
    zone = ZoneInfo(cfg.timezone)
    days_off = set(cfg.holidays)
    start, end = instant(case["from"]), instant(case["to"])
    day = start.astimezone(zone).date()
    while day < end.astimezone(zone).date():
        for slot in cfg.slots:
            occ = rules.occurrence_on(slot, day, zone)
            reason = rules.skip_reason(occ, cfg.pauses, days_off)
            if day in days_off:
                assert reason == rules.Skip.DAY_OFF
            elif rules.active_pause(cfg.pauses, occ.at):
                assert reason == rules.Skip.PAUSED
            else:
                assert reason is None
        day += timedelta(days=1)


# --- random households: both sides agree -------------------------------------------------

hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
slot_st = st.builds(
    Slot,
    name=st.sampled_from(["morning", "noon", "evening"]),
    time=hhmm,
    window_min=st.integers(5, 240),
    grace_min=st.integers(0, 120),
    reask_offsets_min=st.lists(st.integers(1, 60), max_size=3),
)
START = datetime(2026, 3, 1, tzinfo=UTC)  # spans the spring DST changes of NY and London
DAYS = 40


@st.composite
def households(draw: st.DrawFn) -> GatewayConfig:
    slots = draw(st.lists(slot_st, min_size=1, max_size=3, unique_by=lambda s: s.name))
    day_offsets = draw(st.lists(st.integers(0, DAYS), max_size=8))
    pauses = []
    for _ in range(draw(st.integers(0, 2))):
        begin = START + timedelta(minutes=draw(st.integers(0, DAYS * 24 * 60)))
        length = draw(st.one_of(st.none(), st.integers(1, 5 * 24 * 60)))
        end = None if length is None else begin + timedelta(minutes=length)
        pauses.append(Pause(starts_at=begin, ends_at=end))
    return GatewayConfig(
        household_id="h",
        config_version=1,
        timezone=draw(st.sampled_from(ZONES)),
        slots=slots,
        pauses=pauses,
        holidays=[date(2026, 3, 1) + timedelta(days=d) for d in day_offsets],
    )


@settings(max_examples=150, deadline=None)
@given(cfg=households())
def test_the_gateway_asks_exactly_where_the_cloud_expects_an_answer(cfg: GatewayConfig) -> None:
    start, end = START + timedelta(days=2), START + timedelta(days=DAYS - 2)
    asked = [(n, d, at) for n, d, at, _, fate in gateway_fates(cfg, start, end) if fate == "ask"]
    expected = [(n, d, at) for n, d, at, _ in cloud_deadlines(cfg, start, end)]
    assert sorted(asked) == sorted(expected)
    for _, day, _, _, _ in gateway_fates(cfg, start, end):
        assert day not in cfg.holidays  # a day off is never asked, never reported


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    time=hhmm,
    days=st.integers(0, 400),
)
def test_a_slot_lands_on_its_local_date_and_never_before_its_wall_time(
    zone: str, time: str, days: int
) -> None:
    day = date(2026, 1, 1) + timedelta(days=days)
    occ = rules.occurrence_on(Slot(name="s", time=time), day, ZoneInfo(zone))
    local = occ.at.astimezone(ZoneInfo(zone))
    assert local.date() == day
    # A wall time in a spring-forward gap moves forward, never back.
    wall = rules.parse_hhmm(time)
    assert (local.hour, local.minute) >= (wall.hour, wall.minute)
    assert occ.at.tzinfo == UTC and occ.deadline > occ.at
