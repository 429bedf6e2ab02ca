"""The load generator of bench/morning.py (mimamori_dev/loadgen.py): its figures come from the
cloud's real responses, its plan follows the behaviour shares it was given, its bodies are
the wire contract's, and a run it fell behind in is judged invalid, not the cloud's fault."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cloud.models import Checkin, EventRecord, Gateway, Incident
from mimamori_dev.loadgen import (
    ANSWERS,
    GOALS,
    HEARTBEAT_BODY,
    LATE_TOLERANCE_S,
    Bodies,
    Home,
    LoadGenerator,
    Mix,
    Rates,
    percentile,
    plan,
    verdict,
)
from mimamori_wire import v1


@given(
    count=st.integers(min_value=0, max_value=3000),
    silent=st.floats(0, 0.2),
    offline=st.floats(0, 0.2),
    unwell=st.floats(0, 0.2),
)
@settings(max_examples=50, deadline=None)
def test_behaviours_follow_the_shares_exactly(
    count: int, silent: float, offline: float, unwell: float
) -> None:
    mix = Mix(silent=silent, offline=offline, unwell=unwell, help=0.01, reask=0.1)
    got = Counter(mix.behaviours(count))
    assert sum(got.values()) == count
    assert got["silent"] == round(silent * count)
    assert got["offline"] == round(offline * count)
    assert got["unwell"] == round(unwell * count)


def test_offline_homes_send_nothing_and_answers_come_before_the_deadline() -> None:
    homes = [
        Home(i, f"h{i}", f"g{i}", "t", "morning", "2026-11-30", 100.0, 110.0, behaviour)
        for i, behaviour in enumerate(("fine", "reask", "unwell", "help", "silent", "offline"))
    ]
    actions = plan(homes, start=0.0, rates=Rates(heartbeat_s=60))
    assert not [a for a in actions if a[2] == 5]  # offline: no request at all
    slot = [a for a in actions if a[3] in ("checkin", "no_response", "help")]
    assert {a[2] for a in slot} == {0, 1, 2, 3, 4}
    assert all(100.0 <= at < 110.0 for at, *_ in slot)


def test_percentile_of_nothing_is_zero_and_of_one_value_is_that_value() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([float(n) for n in range(1, 101)], 50) == 50.5


def test_a_short_run_counts_what_the_cloud_answered(live_cloud) -> None:  # type: ignore[no-untyped-def]
    live_cloud.travel(datetime.now(UTC))  # the generator stamps events with the wall clock
    behaviours = ["fine", "unwell", "silent"]
    gateways = [live_cloud.enroll(live_cloud.household(slots=["09:00"])["id"]) for _ in behaviours]
    start = time.time() + 0.3
    homes = [
        Home(
            i,
            g.household_id,
            g.gateway_id,
            g.token,
            "morning",
            "2026-11-30",
            start + 0.2,
            start + 1.5,
            b,
        )
        for i, (g, b) in enumerate(zip(gateways, behaviours, strict=True))
    ]
    # A home with a token the cloud never issued: every request it makes must fail as a 401.
    homes.append(
        Home(
            3,
            gateways[0].household_id,
            gateways[0].gateway_id,
            "not-a-token",
            "morning",
            "2026-11-30",
            start + 0.2,
            start + 1.5,
            "fine",
        )
    )
    rates = Rates(heartbeat_s=0.4, summary_s=1.0, sensor_s=0.6)
    stats = LoadGenerator(live_cloud.base_url, homes, rates, concurrency=4, drain_s=10).run(
        start, start + 2.0
    )
    assert set(stats.errors) == {"http_401"} and stats.errors["http_401"] >= 4
    assert (
        stats.requests
        == sum(len(v) for v in stats.latencies_ms.values()) + stats.errors["http_401"]
    )
    with live_cloud.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(EventRecord))
        answered = session.scalars(select(Checkin.status)).all()
        causes = session.scalars(select(Incident.cause)).all()
        beats = session.scalars(select(Gateway.last_heartbeat_at)).all()
    # Every event the generator counts as acknowledged is a row the cloud stored.
    assert stats.events_acknowledged == stored > 0
    assert sorted(answered) == ["answered", "answered", "no_response"]
    assert "unwell" in causes
    assert all(beat is not None for beat in beats)
    assert len(stats.latencies_ms["heartbeat"]) >= 6
    assert all(ms > 0 for ms in stats.latencies_ms["heartbeat"])


# --- bodies: bytes made cheaply, yet the contract's ------------------------------------------

# Every kind of request the generator sends: (home behaviour, planned kind, extra, cold) ->
# the event kind and payload fields the cloud must read from it.
EVERY_BODY = [
    (
        "fine",
        "checkin",
        "",
        False,
        v1.EventKind.CHECKIN_ANSWERED,
        {"intent": "fine", "attempts": 1},
    ),
    (
        "reask",
        "checkin",
        "",
        False,
        v1.EventKind.CHECKIN_ANSWERED,
        {"intent": "usual", "attempts": 2},
    ),
    ("unwell", "checkin", "", False, v1.EventKind.CHECKIN_ANSWERED, {"intent": "unwell"}),
    ("help", "help", "", False, v1.EventKind.HELP_REQUESTED, {"source": "button"}),
    ("silent", "no_response", "", False, v1.EventKind.CHECKIN_NO_RESPONSE, {"attempts": 3}),
    (
        "fine",
        "summary",
        "",
        False,
        v1.EventKind.ACTIVITY_SUMMARY,
        {"counts": {"居間": 7, "台所": 3}},
    ),
    ("fine", "sensor", "", True, v1.EventKind.ENVIRONMENT_ALERT, {"condition": "cold"}),
    ("fine", "sensor", "", False, v1.EventKind.DEVICE_BATTERY_LOW, {"battery_pct": 9}),
    ("fine", "command_done", "cmd-42", False, v1.EventKind.COMMAND_DONE, {"command_id": "cmd-42"}),
]


def _home(
    behaviour: str = "fine", hid: str = "h-1", gid: str = "g-1", slot: str = "morning"
) -> Home:
    return Home(7, hid, gid, "tok-en_1", slot, "2026-11-30", 0.0, 0.0, behaviour)


@pytest.mark.parametrize(("behaviour", "kind", "extra", "cold", "event_kind", "fields"), EVERY_BODY)
def test_every_body_is_a_valid_event_batch_of_the_contract(
    behaviour: str, kind: str, extra: str, cold: bool, event_kind: v1.EventKind, fields: dict
) -> None:
    now = 1_764_489_600.123  # 2025-11-30T08:00:00.123Z
    body = Bodies().events(_home(behaviour), kind, now, extra, cold)
    batch = v1.EventBatch.model_validate_json(body)  # raises if the contract refuses it
    (event,) = batch.events
    assert (event.household_id, event.gateway_id, event.kind) == ("h-1", "g-1", event_kind)
    assert event.occurred_at == event.recorded_at == datetime.fromtimestamp(1_764_489_600.123, UTC)
    assert uuid.UUID(event.id).version == 7
    assert event.payload.items() >= fields.items()
    typed = event.typed_payload()
    if kind in ("checkin", "no_response"):
        assert (typed.slot, typed.slot_date) == ("morning", "2026-11-30")
    if kind == "summary":
        assert typed.hour_start == datetime(2025, 11, 30, 8, tzinfo=UTC)


def test_the_heartbeat_body_is_the_contracts() -> None:
    beat = v1.Heartbeat.model_validate_json(HEARTBEAT_BODY)
    assert beat.software_version == "loadgen" and len(beat.devices) == 2


def test_each_event_gets_its_own_id_and_each_home_its_own_bearer() -> None:
    bodies = Bodies()
    ids = {
        v1.EventBatch.model_validate_json(bodies.events(_home(), "sensor", 1_764_489_600.0))
        .events[0]
        .id
        for _ in range(500)
    }
    assert len(ids) == 500  # same millisecond, yet no duplicate the cloud would drop
    assert bodies.auth(_home()) == b"Authorization: Bearer tok-en_1\r\n"
    with pytest.raises(ValueError, match="printable ASCII"):
        Bodies().auth(Home(1, "h", "g", "tok\r\nX-Evil: 1", "m", "2026-11-30", 0, 0))


# Identifiers and slot names as the contract allows them (no control characters, no lone
# surrogates): whatever they are, the body carries them exactly and stays valid.
_ID_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"),
    min_size=1,
    max_size=32,
)


@given(
    hid=_ID_TEXT,
    gid=_ID_TEXT,
    slot=_ID_TEXT,
    behaviour=st.sampled_from(["fine", "reask", "unwell", "help", "silent"]),
    kind=st.sampled_from(["checkin", "no_response", "help", "summary", "sensor"]),
    now=st.floats(min_value=1_600_000_000, max_value=4_000_000_000),
    cold=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_bodies_carry_any_contract_identifiers_exactly(
    hid: str, gid: str, slot: str, behaviour: str, kind: str, now: float, cold: bool
) -> None:
    body = Bodies().events(_home(behaviour, hid, gid, slot), kind, now, cold=cold)
    (event,) = v1.EventBatch.model_validate_json(body).events
    assert (event.household_id, event.gateway_id) == (hid, gid)
    assert abs(event.occurred_at.timestamp() - now) < 0.001
    if kind in ("checkin", "no_response"):
        assert event.payload["slot"] == slot


# --- lateness: a run the generator fell behind in is not the cloud's result -------------------

_GOOD = {
    "behind_p99_s": 0.1,
    "answers_sent_after_deadline": 0,
    "errors": 0,
    "ingest_p99_ms": 40.0,
    "detect_lag_p99_s": 1.0,
    "deadline_to_mail_p99_s": 2.0,
    "desk_ms_under_load": 60.0,
}


def test_a_run_that_kept_time_and_met_the_goals_is_valid() -> None:
    assert verdict(_GOOD) == {"valid": True, "verdict": "goals_met", "goals_missed": []}
    slow = {**_GOOD, "ingest_p99_ms": 4321.0, "deadline_to_mail_p99_s": None}
    assert verdict(slow) == {
        "valid": True,
        "verdict": "goals_missed",
        "goals_missed": ["ingest_p99_ms", "deadline_to_mail_p99_s"],
    }


@given(
    behind=st.floats(0, 600),
    late_answers=st.integers(0, 100_000),
    p99=st.floats(0, 10_000),
    errors=st.integers(0, 10),
    waited=st.floats(0, 1_000),
)
@settings(max_examples=200, deadline=None)
def test_late_generators_void_the_run_whatever_the_cloud_did(
    behind: float, late_answers: int, p99: float, errors: int, waited: float
) -> None:
    figures = {
        **_GOOD,
        "behind_p99_s": behind,
        "answers_sent_after_deadline": late_answers,
        "ingest_p99_ms": p99,
        "errors": errors,
        "connection_wait_s": waited,
    }
    got = verdict(figures)
    kept_time = behind <= LATE_TOLERANCE_S and late_answers == 0
    held_up_by_cloud = not kept_time and waited > LATE_TOLERANCE_S
    assert got["valid"] is (kept_time or held_up_by_cloud)
    if held_up_by_cloud:  # every connection held by an unanswered request: the cloud's fault
        assert got["verdict"] == "cloud_saturated"
    elif not kept_time:
        assert got["verdict"] == "generator_fell_behind"
    missed = {"ingest_p99_ms"} if p99 > GOALS["ingest_p99_ms"] else set()
    missed |= {"errors"} if errors else set()
    assert set(got["goals_missed"]) == missed


def test_a_generator_that_starts_late_counts_its_late_answers(live_cloud) -> None:  # type: ignore[no-untyped-def]
    """Planned in the past: every request starts late, every answer after its deadline; the
    figures say so and the verdict voids the run (the cloud was on time)."""
    live_cloud.travel(datetime.now(UTC))
    behaviours = ["fine", "unwell", "silent", "help"]
    gateways = [live_cloud.enroll(live_cloud.household(slots=["09:00"])["id"]) for _ in behaviours]
    start = time.time() - 20  # the plan began 20 s ago: 20 s behind from the first request
    homes = [
        Home(
            i,
            g.household_id,
            g.gateway_id,
            g.token,
            "morning",
            "2026-11-30",
            start + 1,
            start + 5,
            b,
        )
        for i, (g, b) in enumerate(zip(gateways, behaviours, strict=True))
    ]
    rates = Rates(heartbeat_s=60, summary_s=3600, sensor_s=21600)
    gen = LoadGenerator(live_cloud.base_url, homes, rates, concurrency=4, drain_s=30)
    stats = gen.run(start, start + 6)
    figures = stats.summary()
    assert figures["errors"] == 0
    # fine + unwell + help answer, silent reports no response: all sent after the deadline
    assert figures["answers_sent_after_deadline"] == len(behaviours)
    assert sum(1 for _, kind in stats.sent_at if kind in ANSWERS) == len(behaviours)
    assert figures["behind_p50_s"] >= 14 and figures["behind_max_s"] >= 14
    assert stats.cpu_s > 0  # the generator's own thread did the work
    assert verdict({**_GOOD, **figures})["verdict"] == "generator_fell_behind"
