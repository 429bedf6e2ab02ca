"""Admin API auth and schedule management; family link pages; daily report mail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import time_machine

from mimamori_wire import v1

JST_0835 = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)


def test_admin_api_needs_the_token(live_cloud) -> None:
    url = f"{live_cloud.base_url}/api/v1/admin/households"
    assert httpx.get(url).status_code == 401
    r = httpx.get(url, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_admin_token"
    assert live_cloud.admin("GET", "/households").status_code == 200


def test_revoked_gateway_token_is_refused(live_cloud) -> None:
    hh = live_cloud.household()
    gw = live_cloud.enroll(hh["id"])
    assert gw.answer("morning").status_code == 200
    live_cloud.admin_ok("POST", f"/gateways/{gw.gateway_id}/revoke")
    r = gw.answer("morning")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_admin_validation_errors_are_clear(live_cloud) -> None:
    hh = live_cloud.household()
    r = live_cloud.admin(
        "PUT",
        f"/households/{hh['id']}/slots",
        json=[{"time": t} for t in ("06:00", "09:00", "12:00", "18:00")],
    )
    assert r.status_code == 422 and "1 to 3" in r.json()["detail"]
    r = live_cloud.admin(
        "POST", f"/households/{hh['id']}/contacts", json={"name": "x", "email": "not-an-address"}
    )
    assert r.status_code == 422
    assert live_cloud.admin("GET", "/households/nope").status_code == 404


def test_pause_and_holiday_move_the_deadline_and_bump_config(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00"])
    version = hh["config_version"]
    live_cloud.admin_ok(
        "POST",
        f"/households/{hh['id']}/pauses",
        json={
            "starts_at": "2026-11-27T00:00:00+09:00",
            "ends_at": "2026-11-29T12:00:00+09:00",
            "reason": "入院",
        },
    )
    after = live_cloud.admin_ok("GET", f"/households/{hh['id']}")
    assert after["config_version"] == version + 1
    assert after["next_deadline"].startswith("2026-11-29T23:35")  # 30th 08:35 JST
    live_cloud.admin_ok("POST", f"/households/{hh['id']}/holidays", json={"day": "2026-11-30"})
    after = live_cloud.admin_ok("GET", f"/households/{hh['id']}")
    assert after["next_deadline"].startswith("2026-11-30T23:35")
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(JST_0835 + timedelta(days=1))
    assert live_cloud.run_worker().deadlines == 0  # paused: nothing due, nothing opened
    assert gw.heartbeat().config_version == version + 2
    # Slots changed through the API: the gateway sees the new config.
    live_cloud.admin_ok(
        "PUT",
        f"/households/{hh['id']}/slots",
        json=[{"time": "07:00"}, {"time": "19:00", "name": "夕方"}],
    )
    cfg = httpx.get(f"{live_cloud.base_url}/api/v1/gateway/config", headers=gw.headers).json()
    assert [(s["name"], s["time"]) for s in cfg["slots"]] == [
        ("morning", "07:00"),
        ("夕方", "19:00"),
    ]


def _family_mail(cloud, smtp_sink):  # type: ignore[no-untyped-def]
    hh = cloud.household(slots=["08:00"], contacts=1)
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=10))
    gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "voice"}))
    cloud.run_worker()
    mails = smtp_sink.wait_for(2, timeout=10)
    family = next(m for m in mails if m["To"] == "family0@example.jp")
    text = family.get_body(preferencelist=("plain",)).get_content()
    return hh, re.search(r"連絡がとれました: (\S+)", text).group(1), family


def test_ack_link_tampered_and_expired(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh, ack_url, _ = _family_mail(cloud, smtp_sink)
    tampered = ack_url[:-3] + ("AAA" if not ack_url.endswith("AAA") else "BBB")
    r = httpx.post(tampered)
    assert r.status_code == 400 and "無効" in r.text
    with time_machine.travel(datetime.now(UTC) + timedelta(days=8), tick=False):
        r = httpx.post(ack_url)
    assert r.status_code == 410 and "有効期限" in r.text
    [incident] = [i for i in cloud.admin_ok("GET", "/incidents") if i["household_id"] == hh["id"]]
    assert incident["state"] == "open"
    assert httpx.post(ack_url).status_code == 200
    again = httpx.post(ack_url)
    # A help case stays open for staff: the second click is told it was passed on already.
    assert again.status_code == 200 and "すでに担当者にお伝えしてあります" in again.text


def test_unsubscribe_link_stops_family_mail(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh, _, mail = _family_mail(cloud, smtp_sink)
    url = mail["List-Unsubscribe"].strip("<>")
    page = httpx.get(url).text
    assert "配信の停止" in page and "緊急時のお知らせはこれまでどおり" in page
    # RFC 8058 one-click (a mail client, no page seen): the daily report stops, never the
    # alerts; the page says what stays on.
    done = httpx.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "これまでどおりお送りします" in done.text
    [contact] = cloud.admin_ok("GET", f"/households/{hh['id']}")["contacts"]
    assert (contact["unsubscribed"], contact["daily_report"]) == (False, False)
    assert contact["reports_stopped_at"] is not None
    gw = cloud.enroll(hh["id"])
    gw.answer("morning", "unwell")
    cloud.run_worker()
    later = smtp_sink.wait_for(4, timeout=10)[2:]
    assert sorted(m["To"] for m in later) == ["family0@example.jp", "office@example.jp"]
    # Stopping everything is an explicit second choice on the page, with its warning.
    assert "すべてのメールを停止する" in page and "お電話でご連絡します" in page
    stopped = httpx.post(url, data={"scope": "all"})
    assert stopped.status_code == 200 and "すべてのメールを停止しました" in stopped.text
    [contact] = cloud.admin_ok("GET", f"/households/{hh['id']}")["contacts"]
    assert contact["unsubscribed"] is True
    for incident in cloud.admin_ok("GET", "/incidents", params={"state": "open"}):
        cloud.admin_ok("POST", f"/incidents/{incident['id']}/resolve", json={"outcome": "safe"})
    gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"}))
    cloud.run_worker()
    last = smtp_sink.wait_for(5, timeout=10)[4:]
    assert [m["To"] for m in last] == ["office@example.jp"]


def test_daily_report_after_last_slot(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00", "19:00"], contacts=0)
    cloud.admin_ok(
        "POST",
        f"/households/{hh['id']}/contacts",
        json={
            "name": "山田 次郎",
            "email": "jiro@example.jp",
            "daily_report": True,
            "notify_alerts": False,
        },
    )
    gw = cloud.enroll(hh["id"])
    cloud.travel(datetime(2026, 11, 26, 23, 2, tzinfo=UTC))  # 08:02 JST
    gw.heartbeat()
    gw.answer("morning", "fine")
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()
    assert smtp_sink.messages == []  # not after the first slot
    cloud.travel(datetime(2026, 11, 27, 10, 10, tzinfo=UTC))  # 19:10 JST
    gw.heartbeat()
    gw.answer("evening", "usual")
    cloud.travel(datetime(2026, 11, 27, 10, 36, tzinfo=UTC))
    cloud.run_worker()
    cloud.run_worker()
    [report] = smtp_sink.wait_for(1, timeout=10)
    assert report["To"] == "jiro@example.jp"
    assert "本日の山田 花子様のご様子" in report["Subject"]
    text = report.get_body(preferencelist=("plain",)).get_content()
    assert "ありがとうございます" in text  # a greeting, not a bare list
    assert "8時の見守り: 元気（8:02）" in text  # full-width brackets
    assert "19時の見守り: いつも通り（19:10）" in text
    assert "本日の体調" not in text  # the slot lines already say it: nothing twice
    html = report.get_body(preferencelist=("html",)).get_content()
    assert "8時の見守り: 元気（8:02）" in html and 'name="viewport"' in html
    assert report["List-Unsubscribe"]
