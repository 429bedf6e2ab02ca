"""End to end over real HTTP, a real SQLite file and a real SMTP server, travelling in time.

A household misses its 08:00 slot -> re-prompt command -> family e-mail with a signed
"連絡がとれました" link -> the link stops the staff step -> a late answer resolves the incident
and tells the family.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from cloud.models import Command
from mimamori_wire import v1

JST_0835 = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)  # 08:35 JST = deadline of 08:00 slot


def _incidents(cloud, household_id):  # type: ignore[no-untyped-def]
    return cloud.admin_ok("GET", "/incidents", params={"household_id": household_id})


def _text(msg) -> str:  # type: ignore[no-untyped-def]
    return msg.get_body(preferencelist=("plain",)).get_content()


def _heard_from_before_the_deadline(cloud, contacts: int) -> dict:  # type: ignore[no-untyped-def]
    """An 08:00 household whose gateway sent a heartbeat a minute before the deadline, so
    the miss is a missed check-in, not a silent gateway."""
    hh = cloud.household(slots=["08:00"], contacts=contacts)
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=1))
    gw.heartbeat()
    return hh


def test_missed_slot_family_ack_then_late_answer(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"], contacts=1)
    assert hh["next_slot"] == "morning"
    assert datetime.fromisoformat(hh["next_deadline"]) == JST_0835
    gw = cloud.enroll(hh["id"])

    cloud.travel(JST_0835 - timedelta(minutes=2))
    assert gw.heartbeat().commands == []
    cloud.run_worker()
    assert _incidents(cloud, hh["id"]) == []  # not due yet

    # Step 0 at the deadline: a re-prompt command for the gateway, no mail yet.
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()
    [incident] = _incidents(cloud, hh["id"])
    assert (incident["cause"], incident["state"], incident["slot"]) == (
        "missed_checkin",
        "open",
        "morning",
    )
    commands = gw.heartbeat().commands
    assert [c.kind for c in commands] == [v1.CommandKind.REPROMPT]
    assert smtp_sink.messages == []

    # Step 1 at +5 min: the family's e-mail.
    cloud.travel(JST_0835 + timedelta(minutes=5, seconds=1))
    cloud.run_worker()
    [mail] = smtp_sink.wait_for(1, timeout=10)
    assert mail["To"] == "family0@example.jp"
    assert "本日8時の見守りに応答がありません" in mail["Subject"]
    assert "山田 花子" in mail["Subject"]
    assert mail.is_multipart()
    text = _text(mail)
    assert "045-000-1111" in text and "港北郵便局" in text
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "連絡がとれました" in html
    assert mail["List-Unsubscribe"].startswith("<http")
    ack_url = re.search(r"連絡がとれました: (\S+)", text).group(1)

    # GET only shows the confirm page; POST acknowledges.
    page = httpx.get(ack_url)
    assert page.status_code == 200 and "連絡がとれました" in page.text
    assert _incidents(cloud, hh["id"])[0]["state"] == "open"
    done = httpx.post(ack_url)
    assert done.status_code == 200 and "ありがとうございました" in done.text
    [incident] = _incidents(cloud, hh["id"])
    assert incident["state"] == "acknowledged"
    assert incident["acknowledged_by"] == "family:family0@example.jp"

    # Step 2 (+15 min, staff) does not happen after the acknowledgement.
    cloud.travel(JST_0835 + timedelta(minutes=61))
    summary = cloud.run_worker()
    assert summary.steps == 0
    assert len(smtp_sink.messages) == 1

    # A late answer resolves the incident and tells the family.
    r = gw.answer("morning", "fine", slot_date="2026-11-27")
    assert r.status_code == 200, r.text
    [incident] = _incidents(cloud, hh["id"])
    assert (incident["state"], incident["outcome"]) == ("resolved", "answered_late")
    cloud.run_worker()
    mails = smtp_sink.wait_for(2, timeout=10)
    assert "応答がありました" in mails[1]["Subject"]
    assert "元気" in _text(mails[1])
    assert mails[1]["To"] == "family0@example.jp"


def test_unacknowledged_chain_reaches_staff_manager_and_reminders(
    live_cloud_factory, smtp_sink
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = _heard_from_before_the_deadline(cloud, contacts=2)
    for minutes in (0, 5, 15, 60, 120, 180):
        cloud.travel(JST_0835 + timedelta(minutes=minutes, seconds=1))
        cloud.run_worker()
        cloud.run_worker()  # a second pass must not repeat anything
    to = sorted(m["To"] for m in smtp_sink.wait_for(7, timeout=10))
    # family x2 (step 1), staff (step 2), manager + municipality (step 3), reminders x2.
    assert to == sorted(
        [
            "family0@example.jp",
            "family1@example.jp",
            "office@example.jp",
            "boss@example.jp",
            "city@example.jp",
            "office@example.jp",
            "office@example.jp",
        ]
    )
    reminders = [m for m in smtp_sink.messages if "再通知" in m["Subject"]]
    assert len(reminders) == 2
    detail = cloud.admin_ok("GET", f"/incidents/{_incidents(cloud, hh['id'])[0]['id']}")
    assert [n["step"] for n in detail["notifications"] if n["channel"] == "gateway"] == [0]


def test_worker_back_after_three_days_sends_each_step_once_and_one_reminder(
    live_cloud_factory, smtp_sink
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = _heard_from_before_the_deadline(cloud, contacts=1)
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()  # the incident opens; then no worker runs for three days
    cloud.travel(JST_0835 + timedelta(days=3, minutes=30))
    cloud.run_worker()
    cloud.run_worker()
    # Two incidents by now: the missed check-in, and the silent gateway at the next deadlines.
    # Each: family, staff, manager + municipality once (late), and one reminder instead of
    # the ~70 missed while no worker ran.
    mails = smtp_sink.wait_for(10, timeout=10)
    sent = [(m["To"], m["Subject"]) for m in mails]
    assert len(set(sent)) == len(sent) == 10, sent
    assert [m["To"] for m in mails if "再通知" in m["Subject"]] == ["office@example.jp"] * 2
    assert len(_incidents(cloud, hh["id"])) == 2
    # Sent three days late, the mail names the day instead of saying "today".
    missed = [m["Subject"] for m in mails if "見守りに応答がありません" in m["Subject"]]
    assert missed and all("11月27日8時の見守り" in subject for subject in missed), missed
    # Reminders then follow the hourly rhythm again: one per incident an hour later.
    cloud.travel(JST_0835 + timedelta(days=3, minutes=125))
    cloud.run_worker()
    assert len(smtp_sink.wait_for(12, timeout=10)) == 12


def test_answer_in_time_means_no_incident_and_next_day_deadline(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00", "19:00"])
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(JST_0835 - timedelta(minutes=30))
    assert gw.answer("08:00", "usual").status_code == 200  # by time works as well as by name
    live_cloud.travel(JST_0835 + timedelta(minutes=1))
    assert live_cloud.run_worker().deadlines == 1
    assert _incidents(live_cloud, hh["id"]) == []
    after = live_cloud.admin_ok("GET", f"/households/{hh['id']}")
    assert after["next_slot"] == "evening"
    assert datetime.fromisoformat(after["next_deadline"]) == datetime(
        2026, 11, 27, 10, 35, tzinfo=UTC
    )


def test_stale_heartbeat_means_gateway_offline_not_silent(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"])
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(hours=2))
    gw.heartbeat()  # then nothing: the gateway died
    cloud.travel(JST_0835 + timedelta(seconds=5))
    cloud.run_worker()
    [incident] = _incidents(cloud, hh["id"])
    assert incident["cause"] == "gateway_offline"
    with cloud.sessions() as session:  # no point re-prompting a dead gateway
        assert session.scalars(select(Command)).all() == []
    # (A heartbeat now would close the incident: see test_incident_followups.py.)
    cloud.travel(JST_0835 + timedelta(minutes=15, seconds=5))
    cloud.run_worker()
    [mail] = smtp_sink.wait_for(1, timeout=10)
    assert "見守り機からの連絡が途絶えています" in mail["Subject"]


def test_no_response_report_with_fresh_heartbeat_is_resident_silent(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00"])
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(JST_0835 - timedelta(hours=3))
    gw.heartbeat()  # stale by the deadline, but the gateway itself reported no_response
    live_cloud.travel(JST_0835 - timedelta(minutes=10))
    r = gw.post(gw.event(v1.EventKind.CHECKIN_NO_RESPONSE, {"slot": "morning", "attempts": 3}))
    assert r.status_code == 200
    live_cloud.travel(JST_0835 + timedelta(seconds=1))
    live_cloud.run_worker()
    assert [i["cause"] for i in _incidents(live_cloud, hh["id"])] == ["missed_checkin"]


def test_help_and_unwell_go_to_family_and_staff_at_once(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"])
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=20))
    r = gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"}))
    assert r.status_code == 200
    # A second help press while the first is open does not open a second incident.
    gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "voice"}))
    gw.answer("morning", "unwell")
    cloud.run_worker()
    causes = sorted(i["cause"] for i in _incidents(cloud, hh["id"]))
    assert causes == ["help_requested", "unwell"]
    mails = smtp_sink.wait_for(4, timeout=10)
    subjects = [m["Subject"] for m in mails]
    assert sum("助けの要請" in s for s in subjects) == 2
    assert sum("元気がない" in s for s in subjects) == 2
    assert sorted(m["To"] for m in mails) == sorted(["family0@example.jp", "office@example.jp"] * 2)
