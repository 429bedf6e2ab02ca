"""Families on LINE on the dashboard (issue 17), against the real server, the local LINE API
stand-in and a real SMTP sink, on SQLite and PostgreSQL: staff link a family member from the
household page (a one-time code through cloud.notify.linking, the office's add-friend QR
code, audited, CSRF-checked, scoped), the family sends the code through the signed webhook,
and a help press shows on the case page, the household page and the failed-deliveries list
as which channel reached whom and when, with the e-mail fallback of a blocked LINE user."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest
import segno
from sqlalchemy import text

from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.services import contacts
from mimamori_dev.line_standin import STANDIN_SECRET, LineStandin, line_user_id, sign
from mimamori_dev.services import CloudServer, SmtpSink
from mimamori_wire import v1
from tests.dashboard.conftest import World, build_world, csrf_of, enroll, login

TOKYO = ZoneInfo("Asia/Tokyo")
ADD_FRIEND_URL = "https://lin.ee/mimamori-chuo"
CODE = re.compile(r'id="line-code">([A-Z2-9]{4}-[A-Z2-9]{4})<')
ROW = re.compile(r'<tr class="dlv ch-(\w+)[^"]*">(.*?)</tr>', re.S)
TAG = re.compile(r"<[^>]+>")
TARO_USER = line_user_id(1)
HANAE_USER = line_user_id(2)


@dataclass
class LineDesk:
    """A cloud whose office A runs a LINE channel on the stand-in; two family members."""

    server: CloudServer
    world: World
    standin: LineStandin
    sink: SmtpSink
    household: str
    contact: dict[str, str] = field(default_factory=dict)  # name -> id

    def sql(self, statement: str, **params: object) -> list[tuple]:
        engine = make_engine(self.server.database_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()


def make_line_desk(
    start_cloud: Callable[..., CloudServer],
    standin: LineStandin,
    sink: SmtpSink,
    database_url: str | None = None,
) -> LineDesk:
    env = {"MIMAMORI_LINE_API_BASE": standin.base_url, "MIMAMORI_SMTP_PORT": str(sink.port)}
    server = start_cloud(database_url=database_url, env=env)
    world = build_world(server)
    put = httpx.put(
        f"{server.base_url}/api/v1/admin/line-channels",
        headers={"Authorization": "Bearer test-admin-token"},
        json={
            "municipality_id": world.municipalities["M1"],
            "office_id": world.offices["A"],
            "channel_id": f"{1650000000 + standin.port}",
            "channel_secret": STANDIN_SECRET,
            "access_token": next(iter(standin.tokens)),
            "add_friend_url": ADD_FRIEND_URL,
        },
        timeout=20,
    )
    assert put.status_code == 200, put.text
    desk = LineDesk(server, world, standin, sink, world.households["A"][0])
    engine = make_engine(server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            for name, relationship, email in (
                ("山田 太郎", "長男", "taro@example.jp"),
                ("山田 花江", "長女", "hanae@example.jp"),
            ):
                data = contacts.ContactInput(
                    name=name, email=email, relationship=relationship, roles=["family"]
                )
                desk.contact[name] = contacts.add_contact(session, desk.household, data).id
    finally:
        engine.dispose()
    return desk


def post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf_of(client), **data})


def issue_code(staff: httpx.Client, desk: LineDesk, name: str) -> tuple[str, str]:
    """Press 「LINE連携コードを発行」 for a contact: (the code, the page)."""
    issued = post(staff, f"/households/{desk.household}/contacts/{desk.contact[name]}/line-code")
    assert issued.status_code == 200, issued.text
    match = CODE.search(issued.text)
    assert match, issued.text
    return match.group(1), issued.text


def webhook_event(desk: LineDesk, user_id: str, event: dict) -> httpx.Response:
    """An event from LINE, signed with the channel secret exactly as LINE signs it."""
    full = {
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "timestamp": int(time.time() * 1000),  # wall clock: the live server's replay guard
        "mode": "active",
        "source": {"type": "user", "userId": user_id},
        **event,
    }
    body = json.dumps({"destination": "U0", "events": [full]}).encode()
    return httpx.post(
        f"{desk.server.base_url}/api/v1/line/webhook",
        content=body,
        headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"},
        timeout=20,
    )


def send_code(desk: LineDesk, user_id: str, code: str) -> None:
    """The family member adds the account and sends the code in the chat."""
    desk.standin.add_user(user_id)
    message = {
        "type": "message",
        "replyToken": desk.standin.new_reply_token(),
        "message": {"type": "text", "id": "1", "text": code},
    }
    answer = webhook_event(desk, user_id, message)
    assert answer.status_code == 200 and answer.json()["results"] == ["linked"], answer.text


def cells(html: str, table_id: str) -> list[tuple[str, list[str]]]:
    """(channel, visible text of each cell) of each delivery row of one table."""
    start = html.index(f'id="{table_id}"')
    table = html[start : html.index("</table>", start)]
    return [
        (channel, [unescape(TAG.sub("", c)).strip() for c in re.findall(r"<td.*?</td>", row, re.S)])
        for channel, row in ROW.findall(table)
    ]


def chips(html: str, kind: str) -> list[str]:
    return re.findall(rf'<span class="chip {kind}">([^<]*)</span>', html)


def help_press_delivered(desk: LineDesk) -> str:
    """A help press, then worker passes until LINE reached 太郎 and the blocked 花江 got the
    e-mail instead (the fallback mail goes out in the pass after the LINE failure)."""
    enroll(desk.server, desk.household).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    deadline = time.monotonic() + 60
    while not any(str(m["To"]) == "hanae@example.jp" for m in desk.sink.messages):
        assert time.monotonic() < deadline, [str(m["To"]) for m in desk.sink.messages]
        desk.server.cli("worker", "--once")
    assert desk.standin.pushes_to(TARO_USER) and not desk.standin.pushes_to(HANAE_USER)
    ((incident_id,),) = desk.sql(
        "SELECT id FROM incidents WHERE household_id = :h AND state = 'open'", h=desk.household
    )
    return str(incident_id)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


def test_line_reach_and_mail_fallback_show_on_case_household_and_failed_pages(
    start_cloud: Callable[..., CloudServer],
    line_standin: LineStandin,
    smtp_sink: SmtpSink,
    database_url: str | None,
) -> None:
    desk = make_line_desk(start_cloud, line_standin, smtp_sink, database_url)
    staff = login(desk.server.base_url, desk.world.users["staff_a"])
    try:
        before = staff.get(f"/households/{desk.household}").text
        assert chips(before, "line-unlinked") == ["未連携", "未連携"]
        assert chips(before, "line-linked") == []
        for name, user in (("山田 太郎", TARO_USER), ("山田 花江", HANAE_USER)):
            send_code(desk, user, issue_code(staff, desk, name)[0])
        linked = staff.get(f"/households/{desk.household}").text
        assert chips(linked, "line-linked") == ["連携済み", "連携済み"]
        assert chips(linked, "line-unlinked") == []
        assert chips(linked, "pref") == ["LINE優先（届かなければメール）"] * 2

        line_standin.blocked.add(HANAE_USER)  # she blocked the account; LINE answers 400
        incident = help_press_delivered(desk)

        case = staff.get(f"/incidents/{incident}").text
        rows = cells(case, "case-deliveries-table")
        family = [(ch, c) for ch, c in rows if c[2].startswith("山田")]
        assert [(ch, c[2], c[1]) for ch, c in family] == [
            ("line", "山田 太郎（長男）", "1"),
            ("line", "山田 花江（長女）", "1"),
            ("email", "山田 花江（長女）", "1"),
        ], rows
        taro, hanae_line, hanae_mail = (c for _, c in family)
        assert taro[3:] == ["LINE", "送信済み"]
        assert hanae_line[3] == "LINE" and hanae_line[4].startswith("メールに切替")
        assert "LINEで郵便局のアカウントがブロックされています" in hanae_line[4]
        assert hanae_mail[3] == "メール" and hanae_mail[4].startswith("送信済み")
        assert "LINEに届かなかったため、メールで送りました" in hanae_mail[4]
        # Times in Asia/Tokyo: the LINE push was accepted in this minute (or the one before).
        push_at = datetime.fromtimestamp(line_standin.pushes_to(TARO_USER)[0].at, TOKYO)
        shown = {(push_at - timedelta(minutes=m)).strftime("%m/%d %H:%M") for m in (0, 1)}
        assert taro[0] in shown, (taro[0], shown)
        # The case history names the LINE recipient, never the raw LINE user id.
        assert "line:U" not in case and TARO_USER not in case
        assert "山田 太郎（LINE）" in case

        # 太郎 presses 「郵便局に電話してほしい」 in LINE: a case entry staff can read.
        postback = {
            "type": "postback",
            "replyToken": line_standin.new_reply_token(),
            "postback": {"data": f"callback:{incident}"},
        }
        assert webhook_event(desk, TARO_USER, postback).status_code == 200
        request = re.compile(r'<b class="callback-request">電話の依頼</b>\s*ご家族（山田 太郎）')
        for where in (f"/incidents/{incident}", "/"):  # the case page and the desk card
            assert request.search(staff.get(where).text), f"no call request on {where}"

        household = staff.get(f"/households/{desk.household}").text
        latest = cells(household, "household-deliveries")
        assert ("email", "山田 花江（長女）") in [(ch, c[3]) for ch, c in latest]
        assert all(c[1] == "助けの要請" for _, c in latest), latest
        assert f'href="/incidents/{incident}"' in household

        failed = staff.get("/deliveries/failed?channel=line").text
        [(channel, hanae)] = cells(failed, "failed-deliveries")
        assert channel == "line" and hanae[3] == "山田 花江（長女）"
        assert hanae[5].startswith("メールに切替")
        assert cells(staff.get("/deliveries/failed?channel=email").text, "failed-deliveries") == []
        # The e-mail reached her: nothing for the desk to call about.
        assert 'id="mail-failed"' not in staff.get("/").text
        # Had the fallback e-mail bounced too, the desk would say so, with a link to the list.
        desk.sql(
            "UPDATE mail_outbox SET status = 'failed', last_error = :e "
            "WHERE channel = 'email' AND kind LIKE '%.line_fallback'",
            e="smtp_5xx: 550 no such user",
        )
        notice = staff.get("/").text
        assert 'id="mail-failed"' in notice and 'href="/deliveries/failed"' in notice
        assert "届かなかったお知らせ（メール・LINE）が 1 件" in notice
        [(channel, bounced)] = cells(
            staff.get("/deliveries/failed?channel=email").text, "failed-deliveries"
        )
        assert channel == "email" and bounced[5].startswith("失敗")
        assert "相手のメールサーバーが受け取りを拒否しました" in bounced[5]

        # Unfollow: the webhook unlinks her, the household page says so.
        assert webhook_event(desk, HANAE_USER, {"type": "unfollow"}).status_code == 200
        after = staff.get(f"/households/{desk.household}").text
        assert chips(after, "line-blocked") == ["ブロック中"]
        assert chips(after, "line-linked") == ["連携済み"]
    finally:
        staff.close()
    # Another office of the same municipality sees none of it.
    other = login(desk.server.base_url, desk.world.users["staff_b"])
    try:
        assert other.get(f"/incidents/{incident}").status_code == 404
        assert "山田 花江" not in other.get("/deliveries/failed").text
        assert (
            "山田 花江"
            in login(desk.server.base_url, desk.world.users["admin_m1"])
            .get("/deliveries/failed?channel=line")
            .text
        )
    finally:
        other.close()


def test_link_code_is_audited_scoped_csrf_checked_and_shown_once(
    start_cloud: Callable[..., CloudServer], line_standin: LineStandin, smtp_sink: SmtpSink
) -> None:
    desk = make_line_desk(start_cloud, line_standin, smtp_sink)
    taro = desk.contact["山田 太郎"]
    path = f"/households/{desk.household}/contacts/{taro}/line-code"
    staff = login(desk.server.base_url, desk.world.users["staff_a"])
    try:
        for data in ({}, {"csrf_token": "forged"}):
            refused = staff.post(path, data=data)
            assert refused.status_code == 403 and 'id="line-code"' not in refused.text
        assert desk.sql("SELECT count(*) FROM line_link_codes") == [(0,)]

        code, page = issue_code(staff, desk, "山田 太郎")
        assert "LINEで友だち追加し、このコードを送ってください。" in page
        assert f'href="{ADD_FRIEND_URL}"' in page
        # The QR code is inline SVG of the office's add-friend URL (no script, no image URL).
        svg = page[page.index('<svg role="img"') : page.index("</svg>") + 6]
        assert "<title>郵便局のLINE公式アカウントを友だち追加するQRコード</title>" in svg
        expected = segno.make(ADD_FRIEND_URL, error="m").svg_inline(scale=4, border=4)
        assert re.search(r' d="([^"]+)"', expected).group(1) in svg  # type: ignore[union-attr]
        ((code_hash, expires_at),) = desk.sql(
            "SELECT code_hash, expires_at FROM line_link_codes WHERE contact_id = :c", c=taro
        )
        assert code.replace("-", "") not in code_hash  # only the hash is stored
        expires = (
            expires_at
            if isinstance(expires_at, datetime)
            else datetime.fromisoformat(str(expires_at))
        )
        shown = re.search(r"有効期限：(\d{4}/\d\d/\d\d \d\d:\d\d)まで", page)
        assert shown, page
        local = expires.replace(tzinfo=expires.tzinfo or ZoneInfo("UTC")).astimezone(TOKYO)
        assert shown.group(1) == local.strftime("%Y/%m/%d %H:%M")

        (audit,) = desk.sql(
            "SELECT detail, target_id FROM audit_log WHERE action = 'contact.line_code'"
        )
        detail = audit[0] if isinstance(audit[0], dict) else json.loads(audit[0])
        assert detail["contact_id"] == taro and audit[1] == desk.household
        assert code not in json.dumps(detail) and code.replace("-", "") not in json.dumps(detail)

        # Reloaded, the page says a code is waiting but never shows it again.
        again = staff.get(f"/households/{desk.household}").text
        assert "発行済みのコードあり" in again and code not in again

        # A contact of another household through this household's URL: not found.
        other_household = desk.world.households["A"][1]
        stranger = desk.contact["山田 花江"]
        wrong = post(staff, f"/households/{other_household}/contacts/{stranger}/line-code")
        assert wrong.status_code == 404

        # How alerts reach him is edited with his other details, in the same savepoint.
        form = {
            "name": "山田 太郎",
            "relationship": "長男",
            "email": "taro@example.jp",
            "roles": "family",
            "notify_alerts": "1",
        }
        edit = f"/households/{desk.household}/contacts/{taro}"
        bad = post(staff, edit, **{**form, "relationship": "長女"}, channel_pref="fax")
        assert bad.status_code == 422 and "入力内容が正しくありません" in bad.text
        saved = post(staff, edit, **form, channel_pref="email", daily_report_line="1")
        assert saved.status_code == 200 and "メールのみ" in saved.text
        # The LINE report is a way of getting the daily report: without it, it stays off.
        assert desk.sql(
            "SELECT channel_pref, daily_report_line, daily_report, relationship "
            "FROM family_contacts WHERE id = :c",
            c=taro,
        ) == [("email", False, False, "長男")]
        post(staff, edit, **form, channel_pref="both", daily_report="1", daily_report_line="1")
        assert desk.sql(
            "SELECT channel_pref, daily_report_line FROM family_contacts WHERE id = :c", c=taro
        ) == [("both", True)]
        updates = desk.sql("SELECT detail FROM audit_log WHERE action = 'contact.update'")
        changed = [d if isinstance(d, dict) else json.loads(d) for (d,) in updates]
        assert {"channel_pref", "daily_report_line"} <= set(changed[-1]["changed"])
    finally:
        staff.close()
    for user in ("staff_b", "admin_m2"):
        outsider = login(desk.server.base_url, desk.world.users[user])
        try:
            assert post(outsider, path).status_code == 404
        finally:
            outsider.close()
    assert desk.sql("SELECT count(*) FROM line_link_codes") == [(1,)]


def test_office_without_line_channel_cannot_issue_codes(
    start_cloud: Callable[..., CloudServer], line_standin: LineStandin, smtp_sink: SmtpSink
) -> None:
    desk = make_line_desk(start_cloud, line_standin, smtp_sink)
    household = desk.world.households["B"][0]  # office B: no LINE channel of its own
    staff = login(desk.server.base_url, desk.world.users["staff_b"])
    engine = make_engine(desk.server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            data = contacts.ContactInput(name="松本 一", email="hajime@example.jp")
            contact = contacts.add_contact(session, household, data).id
        page = staff.get(f"/households/{household}").text
        assert "LINE公式アカウントはまだ設定されていません" in page
        assert "issue-line-code" not in page
        refused = post(staff, f"/households/{household}/contacts/{contact}/line-code")
        assert refused.status_code == 409 and "まだ設定されていません" in refused.text
        assert desk.sql("SELECT count(*) FROM line_link_codes") == [(0,)]
    finally:
        staff.close()
        engine.dispose()
