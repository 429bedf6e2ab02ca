"""What a gateway request costs the database (issue 18): heartbeats are ~98 % of all gateway
requests, so the steady heartbeat is counted in statements, and the cloud tells gateways the
(cheaper) heartbeat interval in their config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import Engine, event, select

from cloud.core.config import Settings
from cloud.models import Checkin, Command, Household, Incident
from cloud.services import incidents
from cloud.services.gateways import HEARTBEAT_HISTORY_EVERY, history_phase_s
from mimamori_wire import v1


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs inside the block (BEGIN/COMMIT excluded)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def _steady_heartbeat(live_cloud) -> None:  # type: ignore[no-untyped-def]
    gateway = live_cloud.enroll(live_cloud.household()["id"])
    gateway.heartbeat()  # the first one is kept in the history
    # The next beat opens the gateway's next quarter hour (kept too); the one after that
    # is the steady case: nothing new, same quarter.
    every = HEARTBEAT_HISTORY_EVERY.total_seconds()
    shifted = live_cloud.clock().timestamp() - history_phase_s(gateway.gateway_id)
    live_cloud.travel(live_cloud.clock() + timedelta(seconds=every - shifted % every + 10))
    gateway.heartbeat()
    live_cloud.travel(live_cloud.clock() + timedelta(seconds=60))
    with statements() as seen:
        response = gateway.heartbeat()
    assert response.commands == []
    if live_cloud.settings.database_url.startswith("postgresql"):
        # One statement (a round trip) in autocommit: token lookup, both stamps, and
        # whether an outage is to be closed or a command is waiting.
        assert len(seen) == 1, seen
        assert "FOR UPDATE" in seen[0] and "UPDATE households" in seen[0]
        return
    assert len(seen) == 3, seen
    assert seen[0].startswith("SELECT") and "FROM gateways" in seen[0]
    assert seen[1].startswith("UPDATE gateways")
    # Open offline incidents and waiting commands are asked in the same statement.
    assert seen[2].startswith("UPDATE households") and "RETURNING" in seen[2]


def test_a_steady_heartbeat_is_a_token_lookup_and_two_updates(live_cloud) -> None:  # type: ignore[no-untyped-def]
    _steady_heartbeat(live_cloud)


@pytest.mark.postgres
def test_a_steady_heartbeat_postgresql(live_cloud_factory, postgres_url) -> None:  # type: ignore[no-untyped-def]
    _steady_heartbeat(live_cloud_factory(database_url=postgres_url))


def test_the_rare_heartbeat_still_delivers_commands_and_closes_the_outage(live_cloud) -> None:  # type: ignore[no-untyped-def]
    _rare_heartbeat(live_cloud)


@pytest.mark.postgres
def test_the_rare_heartbeat_postgresql(live_cloud_factory, postgres_url) -> None:  # type: ignore[no-untyped-def]
    _rare_heartbeat(live_cloud_factory(database_url=postgres_url))


def _rare_heartbeat(live_cloud) -> None:  # type: ignore[no-untyped-def]
    household_id = live_cloud.household()["id"]
    gateway = live_cloud.enroll(household_id)
    now = live_cloud.clock()
    with live_cloud.sessions() as session, session.begin():
        household = session.get_one(Household, household_id)
        incidents.open_incident(
            session, household, "gateway_offline", now, slot="morning", slot_date=date.today()
        )
        session.add(
            Command(
                household_id=household_id,
                kind=v1.CommandKind.REPROMPT.value,
                payload={"slot": "morning"},
                issued_at=now,
            )
        )
        # Done and expired commands are never sent again.
        session.add(
            Command(
                household_id=household_id,
                kind=v1.CommandKind.REPROMPT.value,
                payload={"slot": "morning"},
                issued_at=now,
                expires_at=now - timedelta(minutes=1),
            )
        )
    response = gateway.heartbeat()
    assert [c.kind for c in response.commands] == [v1.CommandKind.REPROMPT]
    with live_cloud.sessions() as session:
        states = session.scalars(
            select(Incident.state).where(Incident.cause == "gateway_offline")
        ).all()
        delivered = session.scalars(select(Command.delivered_at)).all()
    assert states == ["resolved"]
    assert sum(d is not None for d in delivered) == 1
    with statements() as seen:
        again = gateway.heartbeat()  # undone: sent again, as the gateway may have lost it
    assert [c.kind for c in again.commands] == [v1.CommandKind.REPROMPT]
    assert any("FROM commands" in s and s.startswith("SELECT") for s in seen)
    assert not any(s.startswith("SELECT incidents") for s in seen)
    revoked = live_cloud.admin("POST", f"/gateways/{gateway.gateway_id}/revoke")
    assert revoked.status_code < 300
    with pytest.raises(Exception, match="401"):
        gateway.heartbeat()


def test_the_cloud_tells_gateways_the_heartbeat_interval(live_cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = live_cloud_factory()
    gateway = cloud.enroll(cloud.household()["id"])
    url = f"{cloud.base_url}/api/v1/gateway/config"
    first = httpx.get(url, headers=gateway.headers, timeout=10)
    assert first.status_code == 200
    assert v1.GatewayConfig.model_validate(first.json()).heartbeat_interval_s == 300
    assert Settings().heartbeat_interval_for_gateways == 300


@pytest.mark.parametrize(
    ("interval", "stale", "told"),
    [(300, 600, 300), (300, 400, 200), (60, 600, 60), (300, 30, 15), (3600, 3600, 1800)],
)
def test_the_interval_told_leaves_two_beats_before_offline(
    interval: int, stale: int, told: int
) -> None:
    settings = Settings(gateway_heartbeat_interval_s=interval, heartbeat_stale_s=stale)
    assert settings.heartbeat_interval_for_gateways == told
    assert 2 * max(told, 10) <= max(stale, 20)


def _life_sign_summary(live_cloud) -> None:  # type: ignore[no-untyped-def]
    gateway = live_cloud.enroll(live_cloud.household()["id"])
    now = live_cloud.clock()
    summary = gateway.event(
        v1.EventKind.ACTIVITY_SUMMARY,
        {"hour_start": now.replace(minute=0, second=0).isoformat(), "counts": {"居間": 3}},
    )
    with statements() as seen:
        response = gateway.post(summary)
    assert response.status_code == 200 and response.json()["accepted"] == [summary.id]
    if live_cloud.settings.database_url.startswith("postgresql"):
        # One autocommit statement: token lookup, the tenancy guard and the insert.
        assert len(seen) == 1, seen
        assert "FROM gateways" in seen[0] and "INSERT INTO events" in seen[0]
    else:
        assert len(seen) == 2, seen
        assert "FROM gateways" in seen[0] and seen[1].startswith("INSERT INTO events")
    help_call = gateway.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    assert gateway.post(help_call).status_code == 200  # an event with effects still has them
    with live_cloud.sessions() as session:
        causes = session.scalars(select(Incident.cause)).all()
    assert causes == ["help_requested"]


def test_a_life_sign_summary_is_a_token_lookup_and_one_insert(live_cloud) -> None:  # type: ignore[no-untyped-def]
    _life_sign_summary(live_cloud)


@pytest.mark.postgres
def test_a_life_sign_summary_is_one_statement_postgresql(live_cloud_factory, postgres_url) -> None:  # type: ignore[no-untyped-def]
    _life_sign_summary(live_cloud_factory(database_url=postgres_url))


def _checkin_answer(live_cloud) -> None:  # type: ignore[no-untyped-def]
    gateway = live_cloud.enroll(live_cloud.household()["id"])
    with statements() as seen:
        response = gateway.answer("morning")
    assert response.status_code == 200 and len(response.json()["accepted"]) == 1
    # The token lookup reads the household's zone, slots and incident flags with it; then
    # the event and the check-in. No household, slot or incident row loaded one by one.
    assert "FROM gateways JOIN (households" in seen[0] and "schedule_slots" in seen[0]
    if live_cloud.settings.database_url.startswith("postgresql"):
        # The check-in is upserted by the event insert's own statement (a CTE).
        assert len(seen) == 2, seen
        assert "INSERT INTO events" in seen[1] and "INSERT INTO checkins" in seen[1]
    else:
        assert len(seen) == 3, seen
        assert seen[1].startswith("INSERT INTO events")
        assert seen[2].startswith("INSERT INTO checkins") and "ON CONFLICT" in seen[2]
    assert not any("SAVEPOINT" in s for s in seen)
    with live_cloud.sessions() as session:
        assert session.scalars(select(Checkin.status)).all() == ["answered"]


def test_a_checkin_answer_is_three_statements_sqlite(live_cloud) -> None:  # type: ignore[no-untyped-def]
    _checkin_answer(live_cloud)


@pytest.mark.postgres
def test_a_checkin_answer_is_two_statements_postgresql(live_cloud_factory, postgres_url) -> None:  # type: ignore[no-untyped-def]
    _checkin_answer(live_cloud_factory(database_url=postgres_url))
