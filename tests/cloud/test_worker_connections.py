"""The worker's PostgreSQL connections (issue 18): pinged only after sitting idle, like the
API's, and a pass that meets a connection the database dropped (a restart, a failover) runs
again on a fresh one instead of failing. Real PostgreSQL, real backends terminated."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import transaction
from cloud.migrations import upgrade_head
from cloud.models import Household
from cloud.worker import Worker, _loop
from mimamori_dev.services import SmtpSink
from tests.cloud.conftest import kill_other_connections, nine_oclock_household

CREATED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 11, 30, 0, 35, tzinfo=UTC)  # 09:35 in Tokyo on the 30th


def _one_pass(worker: Worker, name: str, work) -> None:  # type: ignore[no-untyped-def]
    """One iteration of the worker's loop `name` (the real _loop, stopped after its pass)."""
    stop = threading.Event()

    def after() -> None:
        worker.completed(name)
        stop.set()

    _loop(name, work, stop, 0.0, after)


@pytest.mark.postgres
def test_a_pass_survives_dropped_connections(
    postgres_url: str, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade_head(postgres_url)
    clock = SettableClock(CREATED)
    settings = Settings(database_url=postgres_url, secret_key="t" * 32, smtp_port=sink.port)
    worker = Worker(settings, clock, worker_id="w-test")
    try:
        with transaction(worker.sessions) as session:
            household_id = nine_oclock_household(session, CREATED).id
        worker.run_pass()  # the pool now holds connections in steady use (not pinged)
        assert kill_other_connections(postgres_url) >= 1
        clock.set(DEADLINE + timedelta(seconds=1))
        with caplog.at_level(logging.ERROR, logger="mimamori.worker"):
            _one_pass(worker, "detect", worker.detect)
        failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not failed, [(r.getMessage(), r.exc_text) for r in failed]
        with worker.sessions() as session:
            household = session.get_one(Household, household_id)
        # Handled (moved on to the next day; no gateway enrolled yet, so no incident).
        assert household.next_deadline is not None and household.next_deadline > DEADLINE
    finally:
        worker.close()
