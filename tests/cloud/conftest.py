"""Cloud fixtures: an in-process cloud on a real uvicorn server with a settable clock.

`live_cloud` serves create_app(settings, clock) over real HTTP on a free port (uvicorn in a
thread) on a real SQLite file, so tests can travel in time while the API, the worker and the
SMTP server are all real. `live_cloud_factory(database_url=..., smtp=...)` for PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cloud.app import create_app
from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker
from cloud.migrations import upgrade_head
from cloud.worker import PassSummary, Worker
from mimamori_dev.services import SmtpSink, SqliteTemplate, free_port
from mimamori_dev.simgateway import OneShotClient, SimGateway
from mimamori_wire import v1

ADMIN = "test-admin-token"
# 2026-11-27 07:00 in Tokyo.
START = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)


class GatewayClient(SimGateway):
    """A simulated gateway with raw responses, for tests that assert status codes."""

    def post(self, *events: v1.Event) -> httpx.Response:
        return self.post_events(events)

    def answer(self, slot: str, intent: str = "fine", **fields: Any) -> httpx.Response:
        answered = v1.CheckinAnswered(
            slot=slot, intent=v1.Intent(intent), confidence=0.9, attempts=1, **fields
        )
        return self.post(self.event(v1.EventKind.CHECKIN_ANSWERED, answered))


@dataclass
class LiveCloud:
    settings: Settings
    clock: SettableClock
    base_url: str
    worker: Worker
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        return self.worker.sessions

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.base_url}/api/v1/admin{path}",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=30,
            **kw,
        )

    def admin_ok(self, method: str, path: str, **kw: Any) -> Any:
        r = self.admin(method, path, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def run_worker(self) -> PassSummary:
        return self.worker.run_pass()

    def travel(self, when: datetime) -> None:
        self.clock.set(when)

    def household(
        self,
        slots: list[str] = ("08:00",),
        contacts: int = 1,
        office: dict | None = None,
        **kw: Any,
    ) -> dict:
        """A municipality, office, household and `contacts` family contacts."""
        muni = self.admin_ok(
            "POST", "/municipalities", json={"name": "横浜市", "email": "city@example.jp"}
        )
        office = office or {
            "name": "港北郵便局",
            "phone": "045-000-1111",
            "email": "office@example.jp",
            "manager_email": "boss@example.jp",
        }
        off = self.admin_ok("POST", "/offices", json={"municipality_id": muni["id"], **office})
        hh = self.admin_ok(
            "POST",
            "/households",
            json={
                "office_id": off["id"],
                "resident_name": "山田 花子",
                "kana": "やまだ はなこ",
                "slots": [{"time": t} for t in slots],
                **kw,
            },
        )
        for i in range(contacts):
            self.admin_ok(
                "POST",
                f"/households/{hh['id']}/contacts",
                json={
                    "name": f"山田 太郎{i}",
                    "email": f"family{i}@example.jp",
                    "relationship": "長男",
                },
            )
        return self.admin_ok("GET", f"/households/{hh['id']}")

    def enroll(self, household_id: str) -> GatewayClient:
        code = self.admin_ok("POST", f"/households/{household_id}/enrollment-codes")["code"]
        return GatewayClient.enroll(
            OneShotClient(self.base_url),
            code,
            hardware_id="pi-test",
            software_version="test",
            clock=self.clock,
        )

    def start(self) -> LiveCloud:
        port = int(self.base_url.rsplit(":", 1)[1])
        app = create_app(self.settings, clock=self.clock)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("in-process cloud did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(timeout=10)
        self.worker.close()


def make_settings(database_url: str, smtp_port: int = 9, **kw: Any) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        admin_token=ADMIN,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_timeout_s=5,
        **kw,
    )


@pytest.fixture
def live_cloud_factory(
    tmp_path: Path, sqlite_template: SqliteTemplate
) -> Iterator[Callable[..., LiveCloud]]:
    started: list[LiveCloud] = []

    def start(database_url: str | None = None, smtp_port: int = 9, **kw: Any) -> LiveCloud:
        if database_url is None:  # a new SQLite file: a copy of the migrated template
            url = sqlite_template.copy_to(f"sqlite:///{tmp_path}/live-{len(started)}.db")
        else:
            url = database_url
            upgrade_head(url)
        port = free_port()
        settings = make_settings(url, smtp_port, base_url=f"http://127.0.0.1:{port}", **kw)
        clock = SettableClock(START)
        cloud = LiveCloud(settings, clock, f"http://127.0.0.1:{port}", Worker(settings, clock))
        started.append(cloud)
        return cloud.start()

    yield start
    for cloud in started:
        cloud.stop()


@pytest.fixture
def live_cloud(live_cloud_factory: Callable[..., LiveCloud]) -> LiveCloud:
    return live_cloud_factory()


def sessions_for(url: str):  # type: ignore[no-untyped-def]
    return make_sessionmaker(make_engine(url))


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    """One real SMTP sink (aiosmtpd) per test module, for tests that drive the mail sender
    themselves."""
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database shared by one test module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'cloud.db'}"
    upgrade_head(url)
    return url


def nine_oclock_household(session: Any, created_at: datetime, name: str = "山田 花子") -> Any:
    """A household of 港北郵便局 (横浜市) with one 09:00 check-in slot, made at `created_at`
    (its first deadline is the next 09:35 in Tokyo after that)."""
    from cloud.services import tenancy

    muni = tenancy.create_municipality(session, "横浜市", email="city@example.jp")
    office = tenancy.create_office(
        session, muni.id, "港北郵便局", email="office@example.jp", manager_email="b@ex.jp"
    )
    return tenancy.create_household(
        session, office.id, name, created_at, slots=[tenancy.SlotInput("09:00")]
    )


def kill_other_connections(url: str) -> int:
    """Terminate every other session on a PostgreSQL test database (a restart, a cut
    firewall) and wait until each is gone; -> how many. (Without the wait, a client could
    send its next statement while the backend was still exiting and get a protocol error
    instead of the closed connection the tests are about.)"""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(killed[0]) if killed else 0
