"""Scenario fixtures: the real ASGI app in-process on a settable clock, a real SQLite file,
the real worker on the same clock, and the real SMTP sink (from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.worker import Worker
from mimamori_dev.scenario import Admin
from mimamori_dev.services import SmtpSink, SqliteTemplate

ADMIN_TOKEN = "e2e-admin-token"


@dataclass
class InProcessCloud:
    settings: Settings
    clock: SettableClock
    http: TestClient
    worker: Worker
    admin: Admin


@pytest.fixture
def inprocess_cloud(
    tmp_path: Path, smtp_sink: SmtpSink, sqlite_template: SqliteTemplate
) -> Iterator[Callable[..., InProcessCloud]]:
    """Factory: inprocess_cloud(start, **settings) -> InProcessCloud on a fresh SQLite file
    (a copy of the migrated template)."""
    made: list[InProcessCloud] = []

    def make(start: datetime, **overrides: object) -> InProcessCloud:
        url = sqlite_template.copy_to(f"sqlite:///{tmp_path}/e2e-{len(made)}.db")
        settings = Settings(
            database_url=url,
            secret_key="e2e-secret",
            admin_token=ADMIN_TOKEN,
            base_url="http://testserver",
            smtp_host=smtp_sink.host,
            smtp_port=smtp_sink.port,
            smtp_timeout_s=5,
            **overrides,  # type: ignore[arg-type]
        )
        clock = SettableClock(start)
        http = TestClient(create_app(settings, clock=clock), base_url="http://testserver")
        cloud = InProcessCloud(
            settings, clock, http, Worker(settings, clock), Admin(http, ADMIN_TOKEN)
        )
        made.append(cloud)
        return cloud

    yield make
    for cloud in made:
        cloud.http.close()
        cloud.worker.close()
