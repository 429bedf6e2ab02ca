"""The care desk against the real server and real SQLite: people to call (validated Japanese
numbers as tel: links, age, map link, contacts in order), the case file that keeps calls and
notes after resolution, the handover, the print views, editing on the household page."""

from __future__ import annotations

import re
from datetime import date
from email.utils import parsedate_to_datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from cloud.core.clock import system_clock
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.mail.alert_text import case_number
from cloud.models import FamilyContact, Household, Incident
from cloud.services import caselog
from cloud.services.contacts import age_on
from cloud.services.incidents import open_incident
from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll, login

TOKYO = ZoneInfo("Asia/Tokyo")


def _post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf_of(client), **data})


def _open_incident(world: World, household_id: str, cause: str) -> str:
    engine = make_engine(world.server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            household = session.get_one(Household, household_id)
            incident = open_incident(session, household, cause, system_clock())
            assert incident is not None
            return incident.id
    finally:
        engine.dispose()


def _family_reached(world: World, incident_id: str, contact_id: str) -> str:
    engine = make_engine(world.server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            incident = session.get_one(Incident, incident_id)
            contact = session.get_one(FamilyContact, contact_id)
            return caselog.family_reached(session, incident, contact, system_clock())
    finally:
        engine.dispose()


def _help_incident(world: World, household_id: str) -> str:
    enroll(world.server, household_id).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    ((incident_id,),) = world.sql(
        "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household_id,)
    )
    return incident_id


def _add_taro(staff: httpx.Client, household_id: str) -> str:
    added = _post(
        staff,
        f"/households/{household_id}/contacts",
        name="山田 太郎",
        relationship="長男",
        phone1="090-1111-2222",
        email="taro@example.jp",
        roles="family",
        notify_alerts="1",
    )
    assert added.status_code == 200, added.text
    assert "連絡先を保存しました" in added.text
    return re.findall(r'id="contact-([0-9a-f-]{36})"', added.text)[-1]


def test_people_to_call_are_validated_and_dialable_everywhere(world: World) -> None:
    household = world.households["A"][0]
    incident_id = _help_incident(world, household)
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        _add_taro(staff, household)
        saved = _post(
            staff,
            f"/households/{household}/details",
            phone1="0312345678",
            phone2="",
            phone3="",
            address="みどり市中央1-2-3",
            birth_date="1936-04-01",
            visitor_notes="耳が遠い。犬がいる",
        )
        assert saved.status_code == 200 and "ご本人の情報を保存しました" in saved.text
        assert 'href="tel:+81312345678">03-1234-5678</a>' in saved.text
        # The server's date (its Date header), not this process's: the age is its arithmetic.
        today = parsedate_to_datetime(saved.headers["date"]).astimezone(TOKYO).date()
        assert f"{age_on(date(1936, 4, 1), today)}歳（1936年生）" in saved.text
        maps = "https://www.google.com/maps/search/?api=1&amp;query=" + quote("みどり市中央1-2-3")
        assert maps in saved.text

        # A number that is not Japanese: a Japanese error in place, nothing saved.
        bad = _post(staff, f"/households/{household}/details", phone1="12345", address="別の住所")
        assert bad.status_code == 422 and "電話番号の形式が正しくありません" in bad.text
        assert world.sql("SELECT phones, address FROM households WHERE id = ?", (household,)) == [
            ('["03-1234-5678"]', "みどり市中央1-2-3")
        ]

        for path in ("/", f"/incidents/{incident_id}", f"/households/{household}"):
            body = staff.get(path).text
            assert 'href="tel:+81312345678"' in body, path
            assert 'href="tel:+819011112222">090-1111-2222</a>' in body, path
            assert "耳が遠い" in body, path
    finally:
        staff.close()


def test_calls_and_notes_survive_resolution_and_show_on_the_household_timeline(
    world: World,
) -> None:
    household = world.households["A"][0]
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        _add_taro(staff, household)
        incident_id = _help_incident(world, household)
        world.server.cli("worker", "--once")
        # No result chosen: refused with the reason, on the desk.
        missing = _post(staff, f"/incidents/{incident_id}/call", target="山田 太郎|090-1111-2222")
        assert missing.status_code == 422 and "電話の結果を選んでください" in missing.text

        called = _post(
            staff,
            f"/incidents/{incident_id}/call",
            target="山田 太郎|090-1111-2222",
            call_result="no_answer",
        )
        assert called.status_code == 303
        assert "done=call" in called.headers["location"]
        desk = staff.get(called.headers["location"]).text
        assert "電話の記録を保存しました" in desk and "不在" in desk

        noted = _post(
            staff,
            f"/incidents/{incident_id}/note",
            kind="visit",
            text="14時に訪問予定",
            back="case",
        )
        assert noted.headers["location"] == f"/incidents/{incident_id}?done=note"
        closed = _post(
            staff,
            f"/incidents/{incident_id}/resolve",
            outcome="safe",
            note="訪問し無事",
            back="case",
        )
        assert closed.headers["location"] == f"/incidents/{incident_id}?done=resolved"
        case = staff.get(closed.headers["location"]).text
        assert "対応完了として記録しました" in case and "メモを保存しました" not in case
        for text in ("不在", "090-1111-2222", "14時に訪問予定", "無事を確認", "訪問し無事"):
            assert text in case, text
        assert "ご家族へお知らせ" in case and "郵便局職員へ通知" in case  # the chain's steps
        assert case_number(incident_id) in case  # the number staff mails give (not a UUID)
        assert case.count("佐藤 一郎") >= 3  # took the case, called, closed it
        assert "staff_a@example.jp" not in case.split('class="ack-by"')[1].split("</dd>")[0]

        # After resolution the file stays open for what happens later.
        later = _post(staff, f"/incidents/{incident_id}/note", kind="other", text="翌日も元気")
        assert later.status_code == 303
        page = staff.get(f"/households/{household}").text
        for text in ("不在", "14時に訪問予定", "翌日も元気", f"/incidents/{incident_id}"):
            assert text in page, text
    finally:
        staff.close()
    actions = {a for (a,) in world.sql("SELECT action FROM audit_log")}
    assert {"incident.call", "incident.note", "incident.resolve", "incident.view"} <= actions
    assert {"contact.add", "household.view"} <= actions


def test_desk_resolve_banner_says_the_case_was_closed(world: World) -> None:
    incident_id = _help_incident(world, world.households["A"][1])
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        done = _post(staff, f"/incidents/{incident_id}/resolve", outcome="false_alarm")
        page = staff.get(done.headers["location"]).text
        assert "対応完了として記録しました" in page and "メモを保存しました" not in page
    finally:
        staff.close()


def test_family_click_shows_as_family_and_keeps_help_open(world: World) -> None:
    household = world.households["A"][0]
    help_id = _help_incident(world, household)
    missed_id = _open_incident(world, world.households["A"][1], "missed_checkin")
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        contact = _add_taro(staff, household)
        other = _add_taro(staff, world.households["A"][1])
        assert _family_reached(world, help_id, contact) == "recorded"
        assert _family_reached(world, missed_id, other) == "acknowledged"
        desk = staff.get("/").text
    finally:
        staff.close()
    assert "family:" not in desk
    cards = dict(
        (m.group(1), m.group(2))
        for m in re.finditer(
            r'<article [^>]*id="incident-([^"]+)"[^>]*>(.*?)</article>', desk, re.S
        )
    )
    assert "ご家族（山田 太郎）" in cards[help_id] and "職員が確認するまで" in cards[help_id]
    assert "未対応" in cards[help_id]
    assert "対応者" in cards[missed_id] and "ご家族（山田 太郎）" in cards[missed_id]
    # The help card still comes first: the family's word did not lower its urgency.
    assert desk.index(f'id="incident-{help_id}"') < desk.index(f'id="incident-{missed_id}"')


def test_handover_and_print_views(world: World) -> None:
    household = world.households["A"][0]
    incident_id = _help_incident(world, household)
    staff = login(world.server.base_url, world.users["staff_a"])
    admin = login(world.server.base_url, world.users["admin_m1"])
    try:
        contact = _add_taro(staff, household)
        edited = _post(
            staff,
            f"/households/{household}/contacts/{contact}",
            name="山田 太郎",
            relationship="長男",
            phone1="090-1111-2222",
            email="taro@example.jp",
            roles="key_holder",
            notify_alerts="1",
        )
        assert edited.status_code == 200
        _post(staff, f"/households/{household}/details", phone1="03-1234-5678")
        _post(
            staff,
            f"/incidents/{incident_id}/call",
            target="山田 花子|03-1234-5678",
            call_result="busy",
        )
        handover = staff.get("/handover")
        assert handover.status_code == 200
        assert f'id="open-{incident_id}"' in handover.text and "話し中" in handover.text
        assert "山田 花子" in handover.text and "小林 トメ" not in handover.text
        future = staff.get("/handover", params={"since": "2099-01-01T00:00"}).text
        assert "話し中" in future  # clamped to now: the open case still shows what was done
        assert staff.get("/handover", params={"since": "yesterday"}).status_code == 422

        sheet = staff.get(f"/households/{household}/print")
        assert sheet.status_code == 200
        for text in ("中央1-2-3", "鍵の預け先", "山田 太郎", "tel:+819011112222", "maps/search"):
            assert text in sheet.text, text

        asked = _post(
            admin, "/safety", title="台風", question="ご無事ですか", area=f"o:{world.offices['A']}"
        )
        assert asked.status_code == 200 and "4 世帯" in asked.text
        assert world.sql("SELECT count(*) FROM safety_checks") == [(0,)]
        started = _post(
            admin,
            "/safety",
            title="台風",
            question="ご無事ですか",
            area=f"o:{world.offices['A']}",
            confirmed="1",
        )
        check = started.headers["location"].rsplit("/", 1)[1]
        follow = admin.get(f"/safety/{check}/print").text
        assert "tel:+81312345678" in follow and "tel:+819011112222" in follow
        assert follow.count('<tr class="st-') == 4
    finally:
        staff.close()
        admin.close()
    actions = {a for (a,) in world.sql("SELECT action FROM audit_log")}
    assert {"handover.view", "print.visit_sheet", "print.safety_follow_up"} <= actions


def test_contacts_reorder_edit_remove_and_pauses_on_the_household_page(world: World) -> None:
    household = world.households["A"][0]
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        first = _add_taro(staff, household)
        doctor = _post(
            staff,
            f"/households/{household}/contacts",
            name="中央クリニック",
            phone1="03-5555-0000",
            roles="doctor",
        )
        assert doctor.status_code == 200
        second = re.findall(r'id="contact-([0-9a-f-]{36})"', doctor.text)[-1]
        # Alerts without an e-mail address: refused, nothing added.
        refused = _post(
            staff,
            f"/households/{household}/contacts",
            name="民生委員 田村",
            phone1="03-5555-0001",
            roles="welfare_volunteer",
            notify_alerts="1",
        )
        assert refused.status_code == 422 and "メールアドレスが必要です" in refused.text
        moved = _post(staff, f"/households/{household}/contacts/{second}/move", direction="up")
        assert moved.text.index(f'id="contact-{second}"') < moved.text.index(
            f'id="contact-{first}"'
        )
        # What the family stopped by the mail's link, staff see on the page.
        world.sql(
            "UPDATE family_contacts SET daily_report = 0, "
            "reports_stopped_at = '2026-11-29 00:00:00.000000' WHERE id = ?",
            (first,),
        )
        shown = staff.get(f"/households/{household}").text
        assert "毎日の報告は停止（ご家族の操作）" in shown and "緊急のお知らせ" in shown
        removed = _post(staff, f"/households/{household}/contacts/{first}/remove")
        assert f'id="contact-{first}"' not in removed.text

        pause = _post(
            staff,
            f"/households/{household}/pauses",
            reason="入院",
            start_date="",
            end_date="2099-12-31",
        )
        assert pause.status_code == 200 and "休止期間を登録しました" in pause.text
        assert _after_2099(world, household)
        ((pause_id,),) = world.sql("SELECT id FROM pauses WHERE household_id = ?", (household,))
        ended = _post(staff, f"/households/{household}/pauses/{pause_id}/end")
        assert "休止を終えました" in ended.text
        assert not _after_2099(world, household)

        past = _post(staff, f"/households/{household}/holidays", day="2000-01-01")
        assert past.status_code == 422
        day_off = _post(
            staff, f"/households/{household}/holidays", day="2099-01-05", note="デイサービス"
        )
        assert day_off.status_code == 200 and "デイサービス" in day_off.text
        ((holiday_id,),) = world.sql("SELECT id FROM holidays WHERE household_id = ?", (household,))
        gone = _post(staff, f"/households/{household}/holidays/{holiday_id}/remove")
        assert "休みの日を削除しました" in gone.text
    finally:
        staff.close()
    actions = [a for (a,) in world.sql("SELECT action FROM audit_log ORDER BY id")]
    for action in ("contact.move", "contact.remove", "pause.add", "pause.end", "holiday.add"):
        assert action in actions, action


def _after_2099(world: World, household: str) -> bool:
    ((deadline,),) = world.sql("SELECT next_deadline FROM households WHERE id = ?", (household,))
    return deadline is None or str(deadline) >= "2100"
