"""Scenario 4: a disaster safety check across 200 households with 10% of gateways offline.

A municipality admin logs into the real dashboard and starts the check the way the page
does (POST /safety); the simulated gateways heartbeat once in the next 60 s (the gateway's
heartbeat interval), receive the SAFETY_CHECK command, and post `safety_check.answered`;
the offline ones stay silent. One heartbeat interval after the start, the dashboard's own
tally (GET /safety/{id}/tally) must be complete and match the simulated truth exactly.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.db import transaction
from mimamori_dev.scenario import enroll, seed_area, seed_household
from mimamori_wire import v1

HOUSEHOLDS = 200
OFFLINE_SHARE = 0.10
HEARTBEAT_INTERVAL = timedelta(seconds=60)  # the gateway daemon's default
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
PASSWORD = "e2e-safety-password"


def _login(http, email: str) -> None:  # type: ignore[no-untyped-def]
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _csrf(http) -> str:  # type: ignore[no-untyped-def]
    page = http.get("/safety")
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)


def _tally(http, check_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    response = http.get(f"/safety/{check_id}/tally")
    assert response.status_code == 200, response.text
    return response.json()["counts"]


def test_safety_check_tally_complete_within_one_heartbeat(inprocess_cloud) -> None:
    rng = random.Random(311)
    cloud = inprocess_cloud(START - timedelta(minutes=30))
    assert cloud.settings.heartbeat_stale_s == 600  # the default: stale after 10 minutes
    area = seed_area(cloud.admin, "石巻市")
    homes = [
        enroll(
            cloud.http, cloud.admin, seed_household(cloud.admin, area.office_id, i, ["08:00"], 0)
        )
        for i in range(HOUSEHOLDS)
    ]
    with transaction(cloud.worker.sessions) as session:
        create_user(
            session,
            email="bousai@city.example.jp",
            password=PASSWORD,
            name="防災 担当",
            role="municipality_admin",
            municipality_id=area.municipality_id,
            settings=AuthSettings(),
        )

    # The whole fleet was up until the disaster; then 10% of gateways lost power or network.
    offline = set(rng.sample(range(HOUSEHOLDS), int(HOUSEHOLDS * OFFLINE_SHARE)))
    for home in homes:
        home.heartbeat()
    cloud.clock.set(START - HEARTBEAT_INTERVAL / 2)
    for i, home in enumerate(homes):
        if i not in offline:
            home.heartbeat()

    cloud.clock.set(START)
    _login(cloud.http, "bousai@city.example.jp")
    form = {
        "csrf_token": _csrf(cloud.http),
        "title": "地震 安否確認",
        "question": "地震がありました。ご無事ですか。",
        "area": f"m:{area.municipality_id}",
    }
    # A whole municipality is asked at once: staff first see how many households (issue 14).
    confirm = cloud.http.post("/safety", data=form, follow_redirects=False)
    assert confirm.status_code == 200, confirm.text
    assert f"{HOUSEHOLDS}" in confirm.text and 'name="confirmed"' in confirm.text
    response = cloud.http.post("/safety", data={**form, "confirmed": "1"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    check_id = response.headers["location"].rsplit("/", 1)[-1]
    # At once: offline gateways are counted as such, everyone else is awaited.
    assert _tally(cloud.http, check_id) == {
        "safe": 0,
        "needs_help": 0,
        "no_answer": 0,
        "gateway_offline": len(offline),
        "not_installed": 0,
        "waiting": HOUSEHOLDS - len(offline),
    }

    # Each online gateway's next heartbeat falls somewhere in the next interval.
    truth: Counter[str] = Counter()
    online = [(rng.uniform(0.5, 59.5), i) for i in range(HOUSEHOLDS) if i not in offline]
    for offset, i in sorted(online):
        home = homes[i]
        cloud.clock.set(START + timedelta(seconds=offset))
        commands = home.heartbeat().commands
        [command] = [c for c in commands if c.kind == v1.CommandKind.SAFETY_CHECK]
        assert command.payload.check_id == check_id
        status = rng.choices(["safe", "needs_help", "no_answer"], [0.8, 0.1, 0.1])[0]
        truth[status] += 1
        now = cloud.clock()
        home.record(
            v1.EventKind.SAFETY_CHECK_ANSWERED,
            {"check_id": check_id, "status": status, "command_id": command.id},
            now,
        )
        home.finish_commands([command], now)
        home.upload(resend=rng.random() < 0.1)  # some retries: never counted twice
        assert home.outbox == []

    cloud.clock.set(START + HEARTBEAT_INTERVAL)
    counts = _tally(cloud.http, check_id)
    assert counts == {
        "safe": truth["safe"],
        "needs_help": truth["needs_help"],
        "no_answer": truth["no_answer"],
        "gateway_offline": len(offline),
        "not_installed": 0,
        "waiting": 0,
    }
    assert min(truth.values()) > 0
    # The CSV export the office downloads agrees with the tally.
    csv = cloud.http.get(f"/safety/{check_id}/export.csv")
    assert csv.status_code == 200
    assert len(csv.text.strip().splitlines()) == HOUSEHOLDS + 1
