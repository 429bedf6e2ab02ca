"""Fail loudly when the watcher stops (issue 13): worker passes are recorded in the database;
GET /readyz answers 503 and every signed-in staff page shows a red banner when no pass
completed within watch_stale_s; /metrics shows the last pass; a dead-man's switch is pinged."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client import REGISTRY

from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.core.logging import FIELDS_ATTR
from cloud.db import transaction
from cloud.worker import Worker
from mimamori_dev.services import free_port
from tests.dashboard.conftest import PASSWORD, login

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
STALE_S = 30
BANNER = "見守りの自動処理が止まっています"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


class RunningWorker:
    """An in-process worker (all loops on threads, as `mimamori-cloud worker` runs them)."""

    def __init__(self, cloud) -> None:  # type: ignore[no-untyped-def]
        self.worker = Worker(cloud.settings, cloud.clock)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self.worker.run_until, args=(self.stop_event, 0.05), daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        self.worker.close()


def staff_client(cloud) -> httpx.Client:  # type: ignore[no-untyped-def]
    with transaction(cloud.sessions) as session:
        create_user(
            session,
            email="watch@example.jp",
            password=PASSWORD,
            name="監視 担当",
            role="system_admin",
            office_id=None,
            municipality_id=None,
            settings=AuthSettings(),
        )
    return login(cloud.base_url, "watch@example.jp")


def _banner_shown(html: str) -> bool:
    match = re.search(r'<div class="watch-stopped"[^>]*id="watch-stopped"([^>]*)>', html)
    assert match, "banner element missing"
    return "hidden" not in match.group(1) and BANNER in html


def _ready(cloud) -> int:  # type: ignore[no-untyped-def]
    return httpx.get(f"{cloud.base_url}/readyz", timeout=10).status_code


def test_stopped_workers_turn_readiness_red_and_show_the_banner_until_one_starts(
    live_cloud_factory, database_url
) -> None:
    cloud = live_cloud_factory(
        database_url=database_url, watch_stale_s=STALE_S, metrics_public=True
    )
    staff = staff_client(cloud)
    never = httpx.get(f"{cloud.base_url}/readyz", timeout=10)
    assert never.status_code == 503
    assert "detect: no worker has completed a pass" in never.json()["reasons"]

    worker = RunningWorker(cloud)
    wait_until(lambda: _ready(cloud) == 200)
    assert not _banner_shown(staff.get("/").text)
    worker.stop()
    stopped_at = cloud.clock()

    # Within the configured time the watch still counts as running ...
    cloud.travel(stopped_at + timedelta(seconds=STALE_S - 1))
    assert _ready(cloud) == 200
    # ... and once it has passed: 503 with the reasons, the banner on every staff page.
    cloud.travel(stopped_at + timedelta(seconds=STALE_S + 1))
    body = httpx.get(f"{cloud.base_url}/readyz", timeout=10)
    assert body.status_code == 503
    assert body.json()["status"] == "not_ready"
    assert {r.split(":")[0] for r in body.json()["reasons"]} == {"detect", "escalate", "mail"}
    assert _banner_shown(staff.get("/").text)
    assert _banner_shown(staff.get("/board").text)
    feed = staff.get("/desk/feed", headers={"Accept": "application/json"}).json()
    assert feed["watch_stopped"] is True
    scraped = httpx.get(f"{cloud.base_url}/metrics", timeout=10).text
    assert "mimamori_watch_ready 0.0" in scraped
    last = re.search(r'mimamori_worker_last_pass_timestamp_seconds\{loop="detect"\} (\S+)', scraped)
    assert last and float(last.group(1)) == pytest.approx(stopped_at.timestamp(), abs=1)

    worker = RunningWorker(cloud)
    try:
        wait_until(lambda: _ready(cloud) == 200)
        assert not _banner_shown(staff.get("/").text)
        assert (
            staff.get("/desk/feed", headers={"Accept": "application/json"}).json()["watch_stopped"]
            is False
        )
        assert "mimamori_watch_ready 1.0" in httpx.get(f"{cloud.base_url}/metrics").text
    finally:
        worker.stop()
        staff.close()


class _Monitor(BaseHTTPRequestHandler):
    hits: list[str]
    cond: threading.Condition

    def do_GET(self) -> None:
        with self.cond:
            self.hits.append(self.path)
            self.cond.notify_all()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_dead_mans_switch_is_pinged_after_passes_and_its_failures_never_stop_the_watch(
    live_cloud_factory, caplog
) -> None:
    handler = type("Monitor", (_Monitor,), {"hits": [], "cond": threading.Condition()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ping/abc"
    try:
        cloud = live_cloud_factory(deadman_url=url, deadman_every_s=0)
        worker = Worker(cloud.settings, cloud.clock)
        worker.run_pass()
        with handler.cond:
            assert handler.cond.wait_for(lambda: handler.hits, timeout=10)
        assert handler.hits == ["/ping/abc"]
        worker.close()
    finally:
        server.shutdown()
        server.server_close()

    # The monitor is gone: the pass still completes, the failure is logged and counted.
    dead = live_cloud_factory(deadman_url=f"http://127.0.0.1:{free_port()}/", deadman_every_s=0)
    errors_before = REGISTRY.get_sample_value("mimamori_deadman_pings_total", {"result": "error"})
    caplog.set_level(logging.WARNING, logger="mimamori.deadman")
    worker = Worker(dead.settings, dead.clock)
    try:
        worker.run_pass()
        ping = worker.deadman.pass_completed("mail")  # throttle 0: every full round pings
        assert ping is None  # a round needs all three loops again
        for loop in ("detect", "escalate", "mail"):
            ping = worker.deadman.pass_completed(loop) or ping
        assert ping is not None
        ping.join(timeout=10)
    finally:
        worker.close()
    wait_until(lambda: any(r.getMessage() == "deadman.ping_failed" for r in caplog.records))
    errors_after = REGISTRY.get_sample_value("mimamori_deadman_pings_total", {"result": "error"})
    assert errors_after - (errors_before or 0) >= 1
    assert all(url not in str(getattr(r, FIELDS_ATTR, "")) for r in caplog.records)
    with httpx.Client(base_url=dead.base_url) as client:
        assert client.get("/readyz").status_code == 200  # the passes were recorded
