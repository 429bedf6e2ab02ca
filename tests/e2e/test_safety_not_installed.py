"""The safety page names a household whose gateway was never enrolled 「未設置」, like the board.

Such a household cannot be asked, so it is neither "awaited" nor "gateway offline" (that
would tell staff a device failed that never existed); it stays on the follow-up list because
staff still have to call or visit. Real dashboard (POST /safety) with the injected clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.db import transaction
from cloud.web.broadcast import classify_safety
from mimamori_dev.scenario import enroll, seed_area, seed_household

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
PASSWORD = "e2e-safety-password"
STALE = timedelta(minutes=10)


def test_classify_safety_not_installed_unless_answered() -> None:
    fresh = START - timedelta(minutes=1)
    assert classify_safety(None, None, START, STALE, installed=False) == "not_installed"
    assert classify_safety(None, fresh, START, STALE, installed=False) == "not_installed"
    assert classify_safety("safe", None, START, STALE, installed=False) == "safe"
    assert classify_safety(None, None, START, STALE) == "gateway_offline"  # enrolled, silent
    assert classify_safety(None, fresh, START, STALE) == "waiting"


def _login(http) -> None:  # type: ignore[no-untyped-def]
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post(
        "/login",
        data={"email": "bousai@city.example.jp", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _counts(http, check_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    response = http.get(f"/safety/{check_id}/tally")
    assert response.status_code == 200, response.text
    return {k: n for k, n in response.json()["counts"].items() if n}


def test_safety_page_shows_never_enrolled_household_as_not_installed(inprocess_cloud) -> None:
    cloud = inprocess_cloud(START - timedelta(minutes=5))
    area = seed_area(cloud.admin, "石巻市")
    installed = enroll(
        cloud.http, cloud.admin, seed_household(cloud.admin, area.office_id, 0, ["08:00"], 0)
    )
    seed_household(cloud.admin, area.office_id, 1, ["08:00"], 0)  # gateway never enrolled
    installed.heartbeat()
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
    cloud.clock.set(START)
    _login(cloud.http)
    page = cloud.http.get("/safety")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    form = {
        "csrf_token": token,
        "title": "地震 安否確認",
        "question": "地震がありました。ご無事ですか。",
        "area": f"m:{area.municipality_id}",
        "confirmed": "1",
    }
    response = cloud.http.post("/safety", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    check_id = response.headers["location"].rsplit("/", 1)[-1]

    assert _counts(cloud.http, check_id) == {"waiting": 1, "not_installed": 1}
    html = cloud.http.get(f"/safety/{check_id}").text
    assert html.count('<span class="chip st-not_installed">未設置</span>') == 1
    assert "通信途絶" not in html.split('id="safety-rows"', 1)[1]

    # Later the installed gateway goes silent: that one is offline, the other still 未設置.
    cloud.clock.set(START + STALE + timedelta(minutes=1))
    assert _counts(cloud.http, check_id) == {"gateway_offline": 1, "not_installed": 1}
    follow_up = cloud.http.get(f"/safety/{check_id}/print")
    assert follow_up.status_code == 200
    assert "未設置" in follow_up.text  # staff still call the household without a gateway
