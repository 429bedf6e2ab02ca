"""Family messages beyond the first alert, on LINE (issue 17), against the local LINE API
stand-in and a real SMTP server, on SQLite and PostgreSQL: the daily report on LINE for a
contact who opted in (once, even when a worker dies after the push), follow-ups on LINE with
the e-mail fallback, the family mail's LINE linking section, and webhook replies retried."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from cloud.mail.daily_report import send_daily_reports
from cloud.mail.links import LinkSigner
from cloud.models import DailyReportLog, FamilyContact, Household, LineLinkCode, OutboxMail
from cloud.notify import outbox
from cloud.notify.base import DELIVERED
from cloud.notify.line import LineChannel, reply_texts
from mimamori_dev.line_standin import STANDIN_SECRET, LineStandin, sign
from mimamori_wire import v1
from tests.cloud.test_e2e_escalation import JST_0835

TOKEN = "standin-token"
FRIEND_URL = "https://lin.ee/mimamori-kohoku"
USER_A = "U" + "d" * 32  # family0: linked, LINE first
USER_C = "U" + "e" * 32  # family2: linked
MAIL_A, MAIL_B, MAIL_C = (f"family{i}@example.jp" for i in range(3))
CODE = re.compile(r"登録コード: ([A-Z2-9]{4}-[A-Z2-9]{4})")


def set_line_channel(cloud, household_id: str, channel_id: str, **extra: str) -> None:  # type: ignore[no-untyped-def]
    """The household's office gets a LINE channel on the stand-in (through the admin API)."""
    with cloud.sessions() as session:
        household = session.get(Household, household_id)
        muni, office = household.office.municipality_id, household.office_id
    settings = {"channel_id": channel_id, "channel_secret": STANDIN_SECRET, "access_token": TOKEN}
    body = {"municipality_id": muni, "office_id": office, **settings, **extra}
    cloud.admin_ok("PUT", "/line-channels", json=body)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def family_line(request, live_cloud_factory, smtp_sink, line_standin):  # type: ignore[no-untyped-def]
    """Three family contacts: A and C linked to LINE, B by e-mail only; the office has a LINE
    channel with a friend-add link (set through the admin API)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    cloud = live_cloud_factory(
        database_url=url, smtp_port=smtp_sink.port, line_api_base=line_standin.base_url
    )
    hh = cloud.household(slots=["08:00"], contacts=3)
    set_line_channel(cloud, hh["id"], "1650000007", add_friend_url=FRIEND_URL)
    ids = {c["email"]: c["id"] for c in hh["contacts"]}
    with cloud.sessions() as session, session.begin():
        session.get(FamilyContact, ids[MAIL_A]).line_user_id = USER_A
        session.get(FamilyContact, ids[MAIL_C]).line_user_id = USER_C
    line_standin.add_user(USER_A, "山田 太郎0")
    line_standin.add_user(USER_C, "山田 太郎2")
    return cloud, hh, ids


def _text(msg) -> str:  # type: ignore[no-untyped-def]
    return msg.get_body(preferencelist=("plain",)).get_content()


def _html(msg) -> str:  # type: ignore[no-untyped-def]
    return msg.get_body(preferencelist=("html",)).get_content()


def _to(mails, address: str) -> list:  # type: ignore[no-untyped-def]
    return [m for m in mails if m["To"] == address]


def test_daily_report_reaches_the_opted_in_contact_on_line_once(
    family_line, smtp_sink, line_standin
) -> None:
    cloud, hh, ids = family_line
    opted = cloud.admin_ok(
        "PUT", f"/contacts/{ids[MAIL_A]}/channels", json={"daily_report_line": True}
    )
    assert (opted["daily_report"], opted["daily_report_line"], opted["line_linked"]) == (
        True,
        True,
        True,
    )
    with cloud.sessions() as session, session.begin():
        for address in (MAIL_B, MAIL_C):  # C is on LINE too, but did not opt in for the report
            session.get(FamilyContact, ids[address]).daily_report = True
    gw = cloud.enroll(hh["id"])
    cloud.travel(datetime(2026, 11, 26, 23, 2, tzinfo=UTC))  # 08:02 JST
    gw.heartbeat()
    gw.answer("morning", "fine")
    cloud.travel(JST_0835 + timedelta(seconds=1))
    assert cloud.worker.detect() == 1  # the day's last deadline: reports queued, not sent

    # Another worker (or a retried pass) over the same day queues nothing more.
    signer = LinkSigner(cloud.settings.secret_key, cloud.settings.base_url, 3600)
    with cloud.sessions() as session, session.begin():
        household = session.get(Household, hh["id"])
        assert (
            send_daily_reports(session, signer, household, date(2026, 11, 27), cloud.clock()) == 0
        )
    with cloud.sessions() as session:
        [row] = session.scalars(select(OutboxMail).where(OutboxMail.channel == "line")).all()
        logged = {(r.contact_id, r.channel) for r in session.scalars(select(DailyReportLog))}
    assert logged == {(ids[MAIL_A], "line"), (ids[MAIL_B], "email"), (ids[MAIL_C], "email")}

    # A worker pushed it and died before recording "sent": the next one pushes again with
    # the same retry key, and LINE (409) does not deliver it twice.
    died = LineChannel(line_standin.base_url, outbox.token_lookup(cloud.sessions))
    assert died.send(row) == DELIVERED
    died.close()
    cloud.run_worker()
    cloud.run_worker()
    [push] = line_standin.pushes_to(USER_A)
    assert push.retry_key == row.id and line_standin.pushes_to(USER_C) == []
    assert ("POST", "/v2/bot/message/push", 409) in line_standin.requests
    with cloud.sessions() as session:
        assert session.get(OutboxMail, row.id).status == "sent"
    report = push.texts()[0]
    assert "8時の見守り: 元気（8:02）" in report and "山田 花子様" in report
    assert len(push.messages) == 1 and len(report) <= 5000

    # The same content by e-mail to the others; the LINE contact gets no mail copy.
    mails = smtp_sink.wait_for(2, timeout=10)
    cloud.run_worker()
    assert sorted(m["To"] for m in smtp_sink.messages) == [MAIL_B, MAIL_C]
    [to_b], [to_c] = _to(mails, MAIL_B), _to(mails, MAIL_C)
    assert "8時の見守り: 元気（8:02）" in _text(to_b)
    # B is not on LINE yet: the report says how; C is linked: it does not.
    assert FRIEND_URL in _text(to_b) and CODE.search(_text(to_b))
    assert "毎日の報告もLINEでご希望の場合" in _text(to_b) and FRIEND_URL in _html(to_b)
    assert "登録コード" not in _text(to_c) + _html(to_c) and FRIEND_URL not in _text(to_c)


def test_daily_report_of_a_blocked_line_contact_goes_by_mail_once(
    family_line, smtp_sink, line_standin
) -> None:
    cloud, hh, ids = family_line
    cloud.admin_ok("PUT", f"/contacts/{ids[MAIL_A]}/channels", json={"daily_report_line": True})
    line_standin.blocked.add(USER_A)  # LINE answers 400; the webhook was not told
    gw = cloud.enroll(hh["id"])
    cloud.travel(datetime(2026, 11, 26, 23, 2, tzinfo=UTC))  # 08:02 JST
    gw.heartbeat()
    gw.answer("morning", "fine")
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()  # the push fails for good: the e-mail report is queued
    cloud.run_worker()
    [mail] = smtp_sink.wait_for(1, timeout=10)
    cloud.run_worker()
    assert [m["To"] for m in smtp_sink.messages] == [MAIL_A] and line_standin.pushes == []
    assert "8時の見守り: 元気（8:02）" in _text(mail) and mail["List-Unsubscribe"]
    assert "登録コード" not in _text(mail)  # linked (if blocked): no offer to link again
    with cloud.sessions() as session:
        rows = sorted(
            (r.channel, r.kind, r.status)
            for r in session.scalars(select(OutboxMail).where(OutboxMail.kind.like("daily%")))
        )
        logged = sorted((r.contact_id, r.channel) for r in session.scalars(select(DailyReportLog)))
    assert rows == [
        ("email", "daily_report.line_fallback", "sent"),
        ("line", "daily_report", "failed"),
    ]
    assert logged == [(ids[MAIL_A], "email"), (ids[MAIL_A], "line")]


@pytest.mark.parametrize("blocked", [False, True], ids=["linked", "blocked"])
def test_follow_up_reaches_the_line_contact_or_falls_back_to_mail(
    family_line, smtp_sink, line_standin, blocked
) -> None:
    cloud, hh, _ = family_line
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(hours=2))
    gw.heartbeat()  # then silence: the gateway lost power
    cloud.travel(JST_0835 + timedelta(minutes=15, seconds=5))
    cloud.run_worker()  # gateway_offline: the family step tells A and C on LINE, B by mail
    line_standin.wait_for(1, timeout=10, to=USER_A)
    line_standin.wait_for(1, timeout=10, to=USER_C)
    [alert] = smtp_sink.wait_for(1, timeout=10)
    assert alert["To"] == MAIL_B
    if blocked:  # A blocked the account since; LINE has not told the webhook yet
        line_standin.blocked.add(USER_A)

    cloud.travel(JST_0835 + timedelta(minutes=20))
    gw.heartbeat()  # power is back: the case closes and everyone alerted hears so
    cloud.run_worker()
    cloud.run_worker()  # a LINE follow-up that failed for good: its e-mail goes now
    back_c = line_standin.wait_for(2, timeout=10, to=USER_C)[1]
    assert "再接続しました" in back_c.texts()[0] and "8:55に再び接続しました" in back_c.texts()[0]
    mails = smtp_sink.wait_for(3 if blocked else 2, timeout=10)
    cloud.run_worker()
    assert "再接続" in _to(mails, MAIL_B)[-1]["Subject"]
    to_a = _to(smtp_sink.messages, MAIL_A)
    with cloud.sessions() as session:
        rows = session.scalars(
            select(OutboxMail).where(OutboxMail.contact_id.is_not(None), OutboxMail.step < 0)
        ).all()
    ours = sorted(
        (r.channel, r.kind, r.status, r.to_addr) for r in rows if r.to_addr in (USER_A, MAIL_A)
    )
    if not blocked:
        assert "再接続" in line_standin.pushes_to(USER_A)[1].texts()[0]
        assert to_a == [] and ours == [("line", "gateway_back", "sent", USER_A)]
    else:
        assert len(line_standin.pushes_to(USER_A)) == 1  # only the alert got through
        [mail] = to_a
        assert "再接続" in mail["Subject"] and "8:55に再び接続しました" in _text(mail)
        assert ours == [
            ("email", "gateway_back.line_fallback", "sent", MAIL_A),
            ("line", "gateway_back", "failed", USER_A),
        ]
    assert len(smtp_sink.messages) == (3 if blocked else 2)  # no copies on later passes


def test_family_alert_mail_offers_line_linking_only_when_not_linked(
    family_line, smtp_sink, line_standin
) -> None:
    cloud, hh, ids = family_line
    cloud.admin_ok("PUT", f"/contacts/{ids[MAIL_C]}/channels", json={"channel_pref": "both"})
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=95))
    assert gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})).status_code == 200
    smtp_sink.stop()  # the first send fails: the mails are retried later
    cloud.run_worker()
    smtp_sink.start()
    cloud.travel(cloud.clock() + timedelta(minutes=1))
    cloud.run_worker()
    mails = smtp_sink.wait_for(3, timeout=10)
    assert sorted(m["To"] for m in mails) == [MAIL_B, MAIL_C, "office@example.jp"]
    with cloud.sessions() as session:
        attempts = session.scalars(
            select(OutboxMail.attempts).where(OutboxMail.to_addr == MAIL_B)
        ).all()
        codes = session.scalar(
            select(func.count())
            .select_from(LineLinkCode)
            .where(LineLinkCode.contact_id == ids[MAIL_B])
        )
    assert attempts == [2] and codes == 1  # one code for the mail, not one per attempt
    [to_b] = _to(mails, MAIL_B)
    text = _text(to_b)
    assert "LINEでもお知らせを受け取れます" in text and FRIEND_URL in text
    assert "毎日の報告もLINEで" not in text  # that sentence belongs to the daily report
    code = CODE.search(text)
    assert code is not None and code.group(1) in _html(to_b) and FRIEND_URL in _html(to_b)
    for other in (_to(mails, MAIL_C)[0], _to(mails, "office@example.jp")[0]):
        assert "登録コード" not in _text(other) + _html(other) and FRIEND_URL not in _text(other)

    # The mailed code links B's LINE through the signed webhook, once.
    user_b = "U" + "f" * 32
    line_standin.add_user(user_b)
    event = {
        "type": "message",
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "timestamp": 1764460800000,
        "mode": "active",
        "replyToken": line_standin.new_reply_token(),
        "source": {"type": "user", "userId": user_b},
        "message": {"type": "text", "id": "1", "text": code.group(1)},
    }
    body = json.dumps({"destination": "U0", "events": [event]}).encode()
    hook = f"{cloud.base_url}/api/v1/line/webhook"
    headers = {"X-Line-Signature": sign(body), "Content-Type": "application/json"}
    assert httpx.post(hook, content=body, headers=headers).json()["results"] == ["linked"]
    with cloud.sessions() as session:
        assert session.get(FamilyContact, ids[MAIL_B]).line_user_id == user_b
    assert "登録が完了しました" in line_standin.wait_for_replies(1, timeout=10)[0].texts()[0]


def _failed_replies() -> float:
    return REGISTRY.get_sample_value("mimamori_line_replies_total", {"result": "failed"}) or 0.0


def test_reply_retried_after_500_and_429_not_after_400(line_standin: LineStandin) -> None:
    token = line_standin.new_reply_token()
    line_standin.reply_failures = [500, 429]
    line_standin.retry_after_s = 0
    assert reply_texts(line_standin.base_url, TOKEN, token, ["ありがとうございます"])
    assert line_standin.reply_attempts() == [500, 429, 200]
    assert [r.texts() for r in line_standin.replies] == [["ありがとうございます"]]
    # The token is used up: another reply with it is refused at once, never retried.
    failed = _failed_replies()
    assert not reply_texts(line_standin.base_url, TOKEN, token, ["もう一度"])
    assert line_standin.reply_attempts() == [500, 429, 200, 400]
    assert _failed_replies() == failed + 1
    # LINE stays busy: the retries stop within the budget and the failure is counted.
    busy = line_standin.new_reply_token()
    line_standin.reply_failures = [500] * 20
    assert not reply_texts(line_standin.base_url, TOKEN, busy, ["x"], budget_s=0.5)
    assert 2 <= line_standin.reply_attempts().count(500) - 1 < 20
    assert _failed_replies() == failed + 2


def test_webhook_answers_200_before_its_reply_and_retries_a_500(
    live_cloud_factory, line_standin
) -> None:
    cloud = live_cloud_factory(line_api_base=line_standin.base_url)
    hh = cloud.household(contacts=1)
    set_line_channel(cloud, hh["id"], "1650000008")
    line_standin.replies_held = threading.Event()  # LINE is slow to take the reply
    line_standin.reply_failures = [500]
    follow = {
        "type": "follow",
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "timestamp": 1764460800000,
        "mode": "active",
        "replyToken": line_standin.new_reply_token(),
        "source": {"type": "user", "userId": USER_A},
    }
    body = json.dumps({"destination": "U0", "events": [follow]}).encode()
    response = httpx.post(
        f"{cloud.base_url}/api/v1/line/webhook",
        content=body,
        headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"},
        timeout=10,
    )
    # The 200 came while the reply was still waiting on LINE.
    assert response.status_code == 200 and response.json()["results"] == ["follow"]
    assert line_standin.replies == []
    line_standin.replies_held.set()
    [reply] = line_standin.wait_for_replies(1, timeout=20)
    assert reply.texts()[0].startswith("友だち追加ありがとうございます")
    assert line_standin.reply_attempts() == [500, 200]


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=12_000).filter(lambda t: t.strip()))
def test_line_text_messages_always_fit_lines_limit(text: str) -> None:
    [message] = outbox.text_messages(text)
    assert 1 <= len(message["text"]) <= outbox.TEXT_MAX
    assert message["text"].startswith(text.strip()[:100])


def test_cli_sets_a_contacts_channels(live_cloud) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cloud.cli import app

    hh = live_cloud.household(contacts=1)
    [contact] = hh["contacts"]
    url = live_cloud.settings.database_url
    args = ["contact-channels", "--contact", contact["id"], "--database-url", url]
    made = CliRunner().invoke(app, [*args, "--daily-report-line", "--channel-pref", "both"])
    assert made.exit_code == 0, made.output
    [shown] = live_cloud.admin_ok("GET", f"/households/{hh['id']}")["contacts"]
    assert (shown["channel_pref"], shown["daily_report_line"], shown["daily_report"]) == (
        "both",
        True,
        True,
    )
    off = CliRunner().invoke(app, [*args, "--no-daily-report-line"])
    assert off.exit_code == 0 and "daily_report_line=False" in off.output
    wrong = CliRunner().invoke(app, [*args, "--channel-pref", "fax"])
    assert wrong.exit_code == 2 and "channel_pref" in wrong.output


@settings(max_examples=200, deadline=None)
@given(
    email=st.sampled_from([None, "a@example.jp"]),
    linked=st.booleans(),
    blocked=st.booleans(),
    pref=st.sampled_from(["line_first", "both", "email"]),
    report_line=st.booleans(),
    line_available=st.booleans(),
    daily=st.booleans(),
)
def test_one_rule_decides_each_contacts_channels(
    email, linked, blocked, pref, report_line, line_available, daily
) -> None:
    contact = FamilyContact(
        email=email,
        line_user_id=USER_A if linked else None,
        line_blocked_at=datetime(2026, 11, 1, tzinfo=UTC) if blocked else None,
        channel_pref=pref,
        daily_report_line=report_line,
    )
    channels = outbox.channels_for(contact, line_available, daily_report=daily)
    wants_line = report_line if daily else pref != "email"
    line_ok = line_available and linked and not blocked
    assert ("line" in channels) == (line_ok and wants_line)
    # E-mail whenever LINE is not used and there is an address; both only by choice.
    assert ("email" in channels) == (
        email is not None and ("line" not in channels or pref == "both")
    )
