"""Check-ins take a fast path (issue 18): the household's zone, slots and incident flags are
read with the token lookup, no savepoints, the ORM household only when an incident is to be
opened or settled. A batch the database refuses as a whole falls back to one savepoint per
event. Both paths must record the same check-ins: generated batches (answers, no-responses,
repeats, a poisoned row) against the same events sent one request at a time and a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.core.clock import SettableClock
from cloud.migrations import upgrade_head
from cloud.models import Checkin, EventRecord, Household, Incident
from cloud.services import incidents
from cloud.worker import Worker
from mimamori_dev.services import free_port
from mimamori_wire import v1

from .conftest import START, GatewayClient, LiveCloud, make_settings
from .test_ingest_isolation import _install_poison_trigger

SLOTS = ("morning", "evening")  # the household's 08:00 and 18:00 slots
DAY = date(2026, 11, 27)
# (slot, day offset, answered?, intent index, seconds after the first event)
Step = tuple[str, int, bool, int, int]
INTENTS = ("fine", "usual", "unwell")

steps = st.lists(
    st.tuples(
        st.sampled_from(SLOTS),
        st.integers(0, 1),
        st.booleans(),
        st.integers(0, len(INTENTS) - 1),
        st.integers(0, 600),
    ),
    min_size=1,
    max_size=6,
)


def _events(gw: GatewayClient, plan: list[Step], start: datetime) -> list[v1.Event]:
    out = []
    for slot, offset, answered, intent, after in plan:
        when = start + timedelta(seconds=after)
        day = (DAY + timedelta(days=offset)).isoformat()
        if answered:
            payload: dict = {"slot": slot, "slot_date": day, "intent": INTENTS[intent]}
            payload |= {"confidence": 0.9, "attempts": 1}
            kind = v1.EventKind.CHECKIN_ANSWERED
        else:
            payload = {"slot": slot, "slot_date": day, "attempts": 3}
            kind = v1.EventKind.CHECKIN_NO_RESPONSE
        out.append(gw.event(kind, payload, occurred_at=when, recorded_at=when))
    return out


def _model(plan: list[Step]) -> dict[tuple[date, str], tuple[str, str | None]]:
    """The rule: per (slot date, slot), the earliest answer wins; no answer -> no_response."""
    out: dict[tuple[date, str], tuple[str, str | None]] = {}
    for slot, offset, answered, intent, _after in sorted(plan, key=lambda s: s[4]):
        key = (DAY + timedelta(days=offset), slot)
        if answered and (key not in out or out[key][0] != "answered"):
            out[key] = ("answered", INTENTS[intent])
        out.setdefault(key, ("no_response", None))
    return out


def _checkins(cloud: LiveCloud, household_id: str) -> dict:
    with cloud.sessions() as session:
        rows = session.execute(
            select(Checkin.slot_date, Checkin.slot, Checkin.status, Checkin.intent).where(
                Checkin.household_id == household_id
            )
        )
        return {(d, s): (status, intent) for d, s, status, intent in rows}


def _fresh_gateway(cloud: LiveCloud) -> GatewayClient:
    return cloud.enroll(cloud.household(slots=["08:00", "18:00"])["id"])


def _poison(gw: GatewayClient, start: datetime) -> v1.Event:
    payload = {"sensor": "poison-row", "kind": "motion"}
    return gw.event(v1.EventKind.ACTIVITY, payload, occurred_at=start, recorded_at=start)


def _same_as_one_by_one(cloud: LiveCloud, plan: list[Step], repeat: int, poisoned: bool) -> None:
    start = cloud.clock() - timedelta(hours=1)
    batch_gw, single_gw = _fresh_gateway(cloud), _fresh_gateway(cloud)
    events = _events(batch_gw, plan, start)
    batch = [*events, events[repeat % len(events)]]  # a resend inside the batch
    poison = _poison(batch_gw, start)
    if poisoned:  # the database refuses one row: the whole batch takes the fallback
        batch.insert(repeat % len(batch), poison)
    result = batch_gw.send(*batch)
    assert result.accepted == [e.id for e in events]
    assert result.duplicates == [events[repeat % len(events)].id]
    assert [(r.reason, r.id) for r in result.rejected] == (
        [("storage_error", poison.id)] if poisoned else []
    )
    for event in sorted(_events(single_gw, plan, start), key=lambda e: e.occurred_at):
        assert single_gw.send(event).accepted == [event.id]
    expected = _model(plan)
    assert _checkins(cloud, batch_gw.household_id) == expected
    assert _checkins(cloud, single_gw.household_id) == expected
    # Nothing acknowledged is lost: every accepted event is stored.
    with cloud.sessions() as session:
        stored = set(session.scalars(select(EventRecord.id)))
    assert set(result.accepted) <= stored


@pytest.fixture(scope="module")
def shared_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """One cloud for every generated example (each uses two new households)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('checkin-paths')}/cloud.db"
    port = free_port()
    settings = make_settings(url, base_url=f"http://127.0.0.1:{port}")
    upgrade_head(url)
    clock = SettableClock(START)
    cloud = LiveCloud(settings, clock, f"http://127.0.0.1:{port}", Worker(settings, clock))
    cloud.start()
    _install_poison_trigger(cloud)
    yield cloud
    cloud.stop()


@settings(
    max_examples=15,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps, repeat=st.integers(0, 10), poisoned=st.booleans())
def test_a_batch_records_the_same_checkins_as_one_request_each(
    shared_cloud: LiveCloud, plan: list[Step], repeat: int, poisoned: bool
) -> None:
    _same_as_one_by_one(shared_cloud, plan, repeat, poisoned)


@pytest.mark.postgres
def test_a_batch_records_the_same_checkins_postgresql(
    live_cloud_factory: Callable[..., LiveCloud], postgres_url: str
) -> None:
    cloud = live_cloud_factory(database_url=postgres_url)
    _install_poison_trigger(cloud)
    plan: list[Step] = [
        ("morning", 0, False, 0, 0),
        ("morning", 0, True, 2, 30),
        ("evening", 0, True, 0, 60),
        ("morning", 0, True, 1, 90),
        ("evening", 1, False, 0, 120),
    ]
    _same_as_one_by_one(cloud, plan, repeat=3, poisoned=False)
    _same_as_one_by_one(cloud, plan, repeat=1, poisoned=True)


def _open_missed(cloud: LiveCloud, household_id: str, cause: str, slot_date: date) -> None:
    with cloud.sessions() as session, session.begin():
        household = session.get_one(Household, household_id)
        now = cloud.clock()
        incidents.open_incident(session, household, cause, now, slot="morning", slot_date=slot_date)


def _incident_states(cloud: LiveCloud, household_id: str) -> dict[str, str]:
    with cloud.sessions() as session:
        rows = session.execute(
            select(Incident.cause, Incident.state).where(Incident.household_id == household_id)
        )
        return dict(rows.tuples().all())


@pytest.mark.parametrize("poisoned", [False, True])
def test_incidents_the_fast_path_reads_as_flags_are_still_settled_and_opened(
    live_cloud: LiveCloud, poisoned: bool
) -> None:
    """A late answer resolves its missed check-in; a no-response for a slot the gateway was
    offline for opens one; in one batch, on both paths."""
    cloud = live_cloud
    if poisoned:
        _install_poison_trigger(cloud)
    late_gw, offline_gw = _fresh_gateway(cloud), _fresh_gateway(cloud)
    start = cloud.clock().astimezone(UTC) - timedelta(minutes=30)
    _open_missed(cloud, late_gw.household_id, "missed_checkin", DAY)
    _open_missed(cloud, offline_gw.household_id, "gateway_offline", DAY)
    late = _events(late_gw, [("morning", 0, True, 0, 0)], start)
    silent = _events(offline_gw, [("morning", 0, False, 0, 0)], start)
    extra = [_poison(late_gw, start)] if poisoned else []
    assert late_gw.send(*late, *extra).accepted == [late[0].id]
    assert offline_gw.send(*silent).accepted == [silent[0].id]
    assert _incident_states(cloud, late_gw.household_id) == {"missed_checkin": "resolved"}
    assert _incident_states(cloud, offline_gw.household_id) == {
        "gateway_offline": "open",
        "missed_checkin": "open",
    }
