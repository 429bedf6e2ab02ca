"""The dashboard's queries on PostgreSQL (production database): desk, board, household,
safety check with answers, report CSV, audit log, access scoping."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mimamori_dev.services import CloudServer
from mimamori_wire import v1
from tests.dashboard.conftest import build_world, csrf_of, enroll, login


@pytest.mark.postgres
def test_dashboard_on_postgresql(
    postgres_url: str, start_cloud: Callable[..., CloudServer]
) -> None:
    server = start_cloud(database_url=postgres_url)
    world = build_world(server)
    household = world.households["A"][0]
    gateway = enroll(server, household)
    gateway.heartbeat([{"device": "door", "battery_pct": 5}])
    gateway.post(
        v1.EventKind.CHECKIN_ANSWERED,
        {"slot": "07:00", "intent": "fine", "confidence": 0.9, "attempts": 1},
    )
    gateway.post(v1.EventKind.HELP_REQUESTED, {"source": "voice"})

    staff = login(server.base_url, world.users["staff_a"])
    desk = staff.get("/")
    assert desk.status_code == 200 and "助けの要請" in desk.text
    incident_id = desk.text.split('data-id="')[1].split('"')[0]
    token = csrf_of(staff)
    assert (
        staff.post(
            f"/incidents/{incident_id}/note",
            data={"csrf_token": token, "kind": "call", "text": "電話済み"},
        ).status_code
        == 303
    )
    assert (
        staff.post(
            f"/incidents/{incident_id}/resolve", data={"csrf_token": token, "outcome": "safe"}
        ).status_code
        == 303
    )
    board = staff.get("/board").text
    assert "電池残量低下: door" in board and "元気" in board
    assert "中央1-2-3" in staff.get(f"/households/{household}").text
    assert staff.get(f"/households/{world.households['C'][0]}").status_code == 404

    admin = login(server.base_url, world.users["admin_m1"])
    started = admin.post(
        "/safety",
        data={
            "csrf_token": csrf_of(admin),
            "title": "地震",
            "question": "ご無事ですか",
            "area": f"o:{world.offices['A']}",
            "confirmed": "1",
        },
    )
    assert started.status_code == 303
    check_id = started.headers["location"].rsplit("/", 1)[1]
    gateway.post(v1.EventKind.SAFETY_CHECK_ANSWERED, {"check_id": check_id, "status": "safe"})
    counts = admin.get(f"/safety/{check_id}/tally", headers={"Accept": "application/json"}).json()[
        "counts"
    ]
    # The three households whose gateway was never enrolled are 「未設置」, not offline.
    assert counts["safe"] == 1 and counts["not_installed"] == 3 and counts["gateway_offline"] == 0
    report = admin.get("/reports/monthly.csv")
    assert report.status_code == 200 and "みどり中央郵便局" in report.content.decode("utf-8-sig")
    audit = admin.get("/audit").text
    assert "incident.resolve" in audit and "household.view" in audit
