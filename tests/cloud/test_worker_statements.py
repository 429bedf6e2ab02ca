"""A worker pass reads per batch, not per row (issue 18): the detection and escalation passes
that handle any mix of answered, silent and unwell households make exactly as many reads
(SELECTs) as for one household of each kind present, and on PostgreSQL as many claims
(compare-and-set UPDATEs) too. What stays per row is what a step writes (its notification,
mail, command). Real SQLite and PostgreSQL, statements counted at the cursor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.detection.runner import detect_due
from cloud.escalation.runner import escalate_due
from cloud.escalation.steps import Notifier
from cloud.migrations import upgrade_head
from cloud.models import Checkin, FamilyContact, Gateway, new_id
from cloud.services import incidents, tenancy

DEADLINE = datetime(2026, 11, 30, 0, 35, tzinfo=UTC)  # 09:35 in Tokyo: the 09:00 slot's
PASS_AT = DEADLINE + timedelta(minutes=16)  # re-prompt, family and staff steps all due
KINDS = ("answered", "silent", "unwell")


class World:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.clock = SettableClock(PASS_AT)
        self.sessions = make_sessionmaker(self.engine, self.clock)
        self.notifier = Notifier.from_settings(Settings(database_url=url, secret_key="t" * 32))
        self.statements: Counter[str] = Counter()
        event.listen(self.engine, "before_cursor_execute", self._count)
        with transaction(self.sessions) as session:
            muni = tenancy.create_municipality(session, "横浜市", email="city@example.jp")
            self.office_id = tenancy.create_office(
                session, muni.id, "港北郵便局", email="office@example.jp", manager_email="b@ex.jp"
            ).id

    def _count(self, _conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
        self.statements[statement.split(None, 1)[0].upper()] += 1

    def seed(self, kinds: list[str]) -> None:
        """Households whose 09:00 check-in deadline has passed, one per entry of `kinds`."""
        with transaction(self.sessions) as session:
            for n, kind in enumerate(kinds):
                hh = tenancy.create_household(
                    session,
                    self.office_id,
                    f"住民{n}",
                    DEADLINE - timedelta(seconds=1),
                    slots=[tenancy.SlotInput("09:00")],
                )
                assert hh.next_deadline == DEADLINE
                hh.last_heartbeat_at = DEADLINE - timedelta(minutes=1)
                session.add(FamilyContact(household_id=hh.id, name="家族", email=f"f{n}@ex.jp"))
                session.add(
                    Gateway(
                        household_id=hh.id,
                        token_hash=hh.id.replace("-", "") * 2,
                        hardware_id="pi",
                        software_version="t",
                    )
                )
                if kind == "silent":
                    continue
                session.add(
                    Checkin(
                        household_id=hh.id,
                        slot_date=hh.next_slot_date,
                        slot=hh.next_slot_name,
                        status="answered",
                        intent="unwell" if kind == "unwell" else "fine",
                        occurred_at=DEADLINE - timedelta(minutes=20),
                        event_id=new_id(),
                    )
                )
                session.flush()
                session.refresh(hh)
                if kind == "unwell":  # what the API opened when the answer came
                    incidents.open_incident(session, hh, "unwell", DEADLINE - timedelta(minutes=20))

    def passes(self, kinds: list[str]) -> dict[str, Counter[str]]:
        """Statements of the detection and the escalation pass for these due households."""
        self.seed(kinds)
        used = {}
        for name, work in (
            ("detect", lambda: detect_due(self.sessions, self.notifier.signer, self.clock, STALE)),
            ("escalate", lambda: escalate_due(self.sessions, self.notifier, self.clock)),
        ):
            self.statements.clear()
            work()
            used[name] = Counter(self.statements)
        return used


STALE = timedelta(minutes=10)


def _reads_and_claims(world: World, used: dict[str, Counter[str]]) -> dict[str, int]:
    claims_per_row = world.engine.dialect.name == "sqlite"  # SQLite: in-process CAS per row
    return {
        f"{name}.{kind}": count
        for name, counter in used.items()
        for kind, count in counter.items()
        if kind == "SELECT" or (kind == "UPDATE" and not claims_per_row)
    }


def _check(world: World, kinds: list[str]) -> None:
    one_each = sorted(set(kinds))
    few = _reads_and_claims(world, world.passes(one_each))
    many = _reads_and_claims(world, world.passes(kinds))
    assert many == few, (kinds, few, many)


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('stmts')) / 'w.db'}"
    upgrade_head(url)
    world = World(url)
    yield world
    world.engine.dispose()


@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=40))
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_reads_per_pass_do_not_grow_with_due_households(
    sqlite_world: World, kinds: list[str]
) -> None:
    _check(sqlite_world, kinds)


@pytest.mark.postgres
def test_reads_and_claims_per_pass_postgresql(postgres_url: str) -> None:
    upgrade_head(postgres_url)
    world = World(postgres_url)
    try:
        _check(world, ["answered"] * 30 + ["silent"] * 8 + ["unwell"] * 6)
        _check(world, ["silent"] * 25)
        used = world.passes(["silent"] * 20)
        # Per silent household the escalation writes its steps and nothing else: re-prompt
        # (notification, command), family (notification, mail), staff (dashboard and mail
        # notifications, mail).
        assert used["escalate"]["INSERT"] == 20 * 7
        assert used["escalate"]["UPDATE"] == 3  # one claim per batch
    finally:
        world.engine.dispose()
