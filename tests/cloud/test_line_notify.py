"""LINE as a family channel, against the local LINE API stand-in (real HTTP, real SMTP,
SQLite and PostgreSQL): a help press reaches a linked member on LINE and an e-mail-only
member by mail; a blocked LINE user gets e-mail within the same step; 429 then success
delivers exactly once (retry key)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloud.models import FamilyContact, Household, LineChannelConfig, OutboxMail
from cloud.notify.base import DELIVERED
from cloud.notify.line import CHANNEL_FIELD, MESSAGES_FIELD, LineChannel
from mimamori_dev.line_standin import LineStandin
from mimamori_wire import v1
from tests.cloud.test_e2e_escalation import JST_0835

TOKEN = "standin-token"
USER = "U" + "a" * 32


def _delivery(ref: str = "ch", to: str = USER) -> OutboxMail:
    return OutboxMail(
        id="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        to_addr=to,
        headers={CHANNEL_FIELD: ref, MESSAGES_FIELD: [{"type": "text", "text": "テスト"}]},
    )


def test_429_then_success_delivers_once_by_retry_key(line_standin: LineStandin) -> None:
    line_standin.add_user(USER)
    line_standin.rate_limited, line_standin.retry_after_s = 1, 42
    channel = LineChannel(line_standin.base_url, lambda ref: TOKEN)
    first = channel.send(_delivery())
    assert first.reason == "line_rate" and first.retry_after_s == 42 and not first.permanent
    assert channel.send(_delivery()) == DELIVERED
    # The answer got lost and the outbox retries the same delivery: LINE says 409, no copy.
    assert channel.send(_delivery()) == DELIVERED
    assert [p.retry_key for p in line_standin.pushes_to(USER)] == [_delivery().id]
    channel.close()


def test_bad_token_blocked_user_and_missing_credentials_fail_for_good(
    line_standin: LineStandin,
) -> None:
    line_standin.add_user(USER)
    bad = LineChannel(line_standin.base_url, lambda ref: "wrong")
    assert (bad.send(_delivery()).reason, bad.send(_delivery()).permanent) == ("line_auth", True)
    line_standin.blocked.add(USER)
    blocked = LineChannel(line_standin.base_url, lambda ref: TOKEN).send(_delivery())
    assert blocked.reason == "line_blocked" and blocked.permanent
    none = LineChannel(line_standin.base_url, lambda ref: None).send(_delivery())
    assert none.reason == "line_auth" and none.permanent
    assert line_standin.pushes == []


def test_unreachable_api_is_retried_not_failed() -> None:
    from mimamori_dev.services import free_port

    channel = LineChannel(f"http://127.0.0.1:{free_port()}", lambda ref: TOKEN, timeout_s=2)
    result = channel.send(_delivery())
    assert result.reason == "line_connect" and not result.permanent


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def line_cloud(request, live_cloud_factory, smtp_sink, line_standin):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    cloud = live_cloud_factory(
        database_url=url, smtp_port=smtp_sink.port, line_api_base=line_standin.base_url
    )
    hh = cloud.household(contacts=2)
    with cloud.sessions() as session, session.begin():
        household = session.get(Household, hh["id"])
        session.add(
            LineChannelConfig(
                municipality_id=household.office.municipality_id,
                office_id=household.office_id,
                channel_id="1650000000",
                channel_secret="s" * 32,
                access_token=TOKEN,
            )
        )
        first, second = sorted(household.contacts, key=lambda c: c.email)
        first.line_user_id, first.channel_pref = USER, "line_first"
        second.channel_pref = "email"
    line_standin.add_user(USER, "山田 太郎0")
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=95))  # 07:00 JST: no slot deadline on the way
    return cloud, hh, gw


def _press_help(cloud, gw) -> None:  # type: ignore[no-untyped-def]
    assert gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})).status_code == 200


def _family_mails(sink) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(str(m["To"]) for m in sink.messages if str(m["To"]).startswith("family"))


def _wait_family_mails(sink, count: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while len(_family_mails(sink)) < count:
        assert time.monotonic() < deadline, _family_mails(sink)
        sink.wait_for(len(sink.messages) + 1, timeout=max(0.1, deadline - time.monotonic()))


def test_help_press_reaches_line_member_on_line_and_mail_member_by_mail(
    line_cloud, smtp_sink, line_standin
) -> None:
    cloud, hh, gw = line_cloud
    _press_help(cloud, gw)
    cloud.run_worker()
    [push] = line_standin.wait_for(1, timeout=10, to=USER)
    text = push.texts()[0]
    assert "山田 花子" in text and "港北郵便局" in text and len(text) <= 5000
    buttons = push.messages[1]["template"]["actions"]
    assert [a["label"] for a in buttons[:2]] == ["連絡がとれました", "郵便局に電話してほしい"]
    smtp_sink.wait_for(1, timeout=10)
    # The e-mail-only member by mail; the LINE member gets no mail (staff mail aside).
    assert _family_mails(smtp_sink) == ["family1@example.jp"]
    cloud.run_worker()
    assert len(line_standin.pushes) == 1 and _family_mails(smtp_sink) == ["family1@example.jp"]
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    detail = cloud.admin_ok("GET", f"/incidents/{incident['id']}")
    channels = sorted(n["channel"] for n in detail["notifications"] if n["action"] == "family")
    assert channels == ["email", "line"]


def test_blocked_line_user_gets_mail_within_the_same_step(
    line_cloud, smtp_sink, line_standin
) -> None:
    cloud, _, gw = line_cloud
    line_standin.blocked.add(USER)
    _press_help(cloud, gw)
    cloud.run_worker()  # LINE fails for good (400) -> the e-mail is queued
    cloud.run_worker()
    _wait_family_mails(smtp_sink, 2)
    assert _family_mails(smtp_sink) == ["family0@example.jp", "family1@example.jp"]
    assert line_standin.pushes == []
    with cloud.sessions() as session:
        rows = session.scalars(select(OutboxMail).where(OutboxMail.contact_id.is_not(None))).all()
        by = {(r.channel, r.kind, r.status) for r in rows}
        first = session.scalars(
            select(FamilyContact).where(FamilyContact.email == "family0@example.jp")
        ).one()
        line_row = next(r for r in rows if r.channel == "line")
        fallback = next(r for r in rows if r.contact_id == first.id and r.channel == "email")
    assert ("line", "alert.family", "failed") in by
    assert "line_blocked" in (line_row.last_error or "")
    assert fallback.kind == "alert.family.line_fallback" and fallback.step == line_row.step
    # Staff see which channel reached whom: LINE failed, then e-mail as the fallback.
    reached = cloud.admin_ok("GET", f"/incidents/{line_row.incident_id}/deliveries")
    mine = [(d["channel"], d["to"], d["fallback"]) for d in reached if d["contact_id"] == first.id]
    assert mine == [("line", "山田 太郎0", False), ("email", "山田 太郎0", True)]
    # Admins see failed deliveries per channel.
    failed = cloud.admin_ok("GET", "/deliveries", params={"status": "failed", "channel": "line"})
    assert [(d["id"], d["contact_id"]) for d in failed] == [(line_row.id, first.id)]
    assert (
        cloud.admin_ok("GET", "/deliveries", params={"status": "failed", "channel": "email"}) == []
    )


def test_rate_limited_push_waits_for_retry_after_then_lands_once(
    line_cloud, smtp_sink, line_standin
) -> None:
    cloud, _, gw = line_cloud
    line_standin.rate_limited, line_standin.retry_after_s = 1, 120
    _press_help(cloud, gw)
    cloud.run_worker()
    assert line_standin.pushes == []
    with cloud.sessions() as session:
        row = session.scalars(select(OutboxMail).where(OutboxMail.channel == "line")).one()
    assert row.status == "pending" and row.next_attempt_at >= cloud.clock() + timedelta(seconds=119)
    cloud.travel(cloud.clock() + timedelta(seconds=121))
    cloud.run_worker()
    line_standin.wait_for(1, timeout=10, to=USER)
    cloud.run_worker()
    assert len(line_standin.pushes) == 1


def test_demo_mail_page_lists_line_pushes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mimamori_dev import mailview

    standin = LineStandin(maildir=tmp_path).start()
    try:
        standin.add_user(USER, "山田 太郎")
        assert LineChannel(standin.base_url, lambda ref: TOKEN).send(_delivery()) == DELIVERED
    finally:
        standin.stop()
    [kept] = tmp_path.glob("*-line-*.json")
    index = mailview.render_index(tmp_path)
    assert "LINE: 山田 太郎" in index and kept.name in index
    assert "テスト" in mailview.render_message(kept)
