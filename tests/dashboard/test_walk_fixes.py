"""What a walk through the pages as office staff and as a municipality admin tripped over,
each checked on the rendered page:
- a resident without a phone number is said so once (not 「ご本人の電話: …未登録」);
- ages count the day in Japan, not in UTC; times show in Tokyo whatever the server's zone;
- a municipality admin's desk card gives the post office's number, and the board says whose
  office each household is;
- a safety check lists each resident's number and what they said, and who started it by name;
  the audit log names each actor (with the account address);
- no button that would do nothing (revoke codes when none is unused), and the printed visit
  sheet is titled 「訪問シート」, not with its button's 「訪問シートを印刷」;
- the board's counters say what they count; the announcement form names its whole-area
  choice plainly and an empty history says so;
- the staff list, the monthly report and an announcement's delivery list are readable on a
  390 px phone (one block per row)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page

from cloud.app import create_app
from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.web.render import local
from mimamori_wire import v1
from tests.dashboard.conftest import PASSWORD, World, csrf_of, enroll, login, login_token, utc
from tests.dashboard.test_browser import browser, sign_in  # noqa: F401
from tests.dashboard.test_browser_care import PHONE


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_resident_without_a_phone_is_said_so_once(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    household = shared_world.households["A"][1]  # no phone number registered
    enroll(shared_world.server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    ((incident_id,),) = shared_world.sql(
        "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household,)
    )
    staff = clients["staff_a"]
    for path in (f"/incidents/{incident_id}", f"/households/{household}", "/handover", "/"):
        text = _text(staff.get(path).text)
        assert "ご本人の電話番号は未登録" in text, path
        assert "ご本人の電話: ご本人の電話番号は未登録" not in text, path


def test_ages_count_the_day_in_japan_not_in_utc(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    """At 08:00 in Tokyo on a resident's 90th birthday it is still the day before in UTC:
    the case file and the visit sheet say 90, not 89 (in-process, on a set clock)."""
    household = shared_world.households["A"][2]
    staff = clients["staff_a"]
    staff.post(
        f"/households/{household}/details",
        data={"csrf_token": csrf_of(staff), "phone1": "03-5555-0101", "birth_date": "1936-12-01"},
    ).raise_for_status()
    enroll(shared_world.server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    ((incident_id,),) = shared_world.sql(
        "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household,)
    )
    settings = Settings(database_url=shared_world.server.database_url, secret_key="s" * 32)
    clock = SettableClock(utc(2026, 11, 30, 23, 0))  # 2026-12-01 08:00 in Tokyo
    with TestClient(create_app(settings, clock=clock)) as client:
        client.post(
            "/login",
            data={
                "email": shared_world.users["staff_a"],
                "password": PASSWORD,
                "csrf_token": login_token(client),
            },
            follow_redirects=False,
        )
        for path in (f"/incidents/{incident_id}", f"/households/{household}/print"):
            text = _text(client.get(path).text)
            assert "90歳（1936年生）" in text and "89歳" not in text, path


def test_a_municipality_admin_gets_the_office_number_on_each_desk_card(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    shared_world.sql(
        "UPDATE post_offices SET phone = '045-111-2222' WHERE id = ?", (shared_world.offices["A"],)
    )
    household = shared_world.households["A"][3]
    enroll(shared_world.server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    ((incident_id,),) = shared_world.sql(
        "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household,)
    )

    def card_header(user: str) -> str:
        page = clients[user].get("/").text
        return page.split(f'id="incident-{incident_id}"')[1].split("</header>")[0]

    admin_card = card_header("admin_m1")
    assert 'class="office-phone"' in admin_card and 'href="tel:+81451112222"' in admin_card
    # Office staff are the office: their own number on every card would be noise.
    assert "office-phone" not in card_header("staff_a")


def test_revoke_codes_is_offered_only_when_there_is_a_code_to_revoke(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    household = shared_world.households["B"][0]
    staff = clients["staff_b"]
    path = f"/households/{household}"
    assert 'id="revoke-codes"' not in staff.get(path).text  # no code yet: nothing to revoke
    issued = staff.post(f"{path}/codes", data={"csrf_token": csrf_of(staff)})
    assert issued.status_code == 200 and 'id="revoke-codes"' in issued.text
    revoked = staff.post(f"{path}/codes/revoke", data={"csrf_token": csrf_of(staff)})
    assert revoked.status_code == 200 and "無効にしました" in revoked.text
    assert 'id="revoke-codes"' not in revoked.text


def test_a_safety_check_gives_the_number_to_call_and_who_started_it(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    household = shared_world.households["B"][0]
    staff, admin = clients["staff_b"], clients["admin_m1"]
    staff.post(
        f"/households/{household}/details",
        data={"csrf_token": csrf_of(staff), "phone1": "045-222-3333"},
    ).raise_for_status()
    started = admin.post(
        "/safety",
        data={
            "csrf_token": csrf_of(admin),
            "title": "大雨",
            "question": "ご無事ですか",
            "area": f"o:{shared_world.offices['B']}",
            "confirmed": "1",
        },
    )
    assert started.status_code == 303, started.text
    check_id = started.headers["location"].rsplit("/", 1)[1]
    enroll(shared_world.server, household).post(
        v1.EventKind.SAFETY_CHECK_ANSWERED,
        {"check_id": check_id, "status": "needs_help", "transcript": "水が入ってきた"},
    )
    rows = staff.get(f"/safety/{check_id}").text.split('id="safety-rows"')[1]
    row = next(r for r in rows.split("<tr")[1:] if household in r)
    assert 'href="tel:+81452223333"' in row and "水が入ってきた" in row, row
    assert 'data-label="応答日時"' in row  # when they answered, not a bare 「日時」
    # The printable follow-up list, read on a phone as blocks, says what each value is.
    follow_up = staff.get(f"/safety/{check_id}/print").text.split('id="follow-up"')[1]
    for label in ("住所", "ご本人の電話", "ご家族の連絡先"):
        assert f'data-label="{label}"' in follow_up, label
    listed = staff.get("/safety").text
    assert "田中 市役所" in listed and shared_world.users["admin_m1"] not in listed


def test_the_visit_sheet_is_titled_as_a_sheet_and_the_button_as_an_action(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    household = shared_world.households["A"][0]
    staff = clients["staff_a"]
    button = re.search(r'id="print-visit">([^<]*)<', staff.get(f"/households/{household}").text)
    assert button and button.group(1) == "訪問シートを印刷"
    title = re.search(r"<h1>([^<]*)<small>", staff.get(f"/households/{household}/print").text)
    assert title and title.group(1).strip() == "訪問シート"


def test_the_audit_log_names_who_did_it(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    clients["staff_a"].get(f"/households/{shared_world.households['A'][0]}").raise_for_status()
    page = clients["admin_m1"].get("/audit", params={"action": "household.view"}).text
    actors = {re.sub(r"<[^>]+>", "", a) for a in re.findall(r'class="actor">(.*?)</td>', page)}
    assert "佐藤 一郎（staff_a@example.jp）" in actors, actors


def test_times_show_in_tokyo_whatever_the_server_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        stored = datetime(2026, 11, 30, 13, 5)  # naive, as a raw SQL read may give: UTC
        assert local(stored) == "11/30 22:05"
        assert local(stored.replace(tzinfo=UTC), "%H:%M") == "22:05"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_board_counters_say_what_they_count(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    page = clients["staff_a"].get("/board").text
    total = re.search(r'id="board-total">([^<]*)<', page)
    problems = re.search(r'id="board-problems">([^<]*)<', page)
    assert total and total.group(1) == f"{len(shared_world.households['A'])}世帯"
    assert problems and re.fullmatch(r"要確認 \d+", problems.group(1)), problems


def test_a_municipality_admin_sees_whose_household_each_board_row_is(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    def offices_named(user: str, **params: str) -> list[str]:
        page = clients[user].get("/board", params=params).text
        return re.findall(r'class="office-name">([^<]*)<', page)

    everything = offices_named("admin_m1")
    assert sorted(everything) == ["みどり中央郵便局"] * 4 + ["みどり港郵便局"]
    assert offices_named("admin_m1", office=shared_world.offices["B"]) == []  # one office shown
    assert offices_named("staff_a") == []  # office staff see only their own office


def test_announcement_form_and_empty_history_in_plain_japanese(
    clients: dict[str, httpx.Client],
) -> None:
    # Office A's manager: the announcement another test sends to office B is not theirs.
    page = clients["manager_a"].get("/announcements").text
    radio = re.search(r'value="area"[^>]*>([^<]*)</label>', page)
    assert radio and radio.group(1).strip() == "対象地域の全世帯"
    listed = page.split('id="announcement-list"')[1].split("</table>")[0]
    headers = re.findall(r"<th>([^<]*)</th>", listed)
    assert headers == ["日時", "配信先", "文面"]
    assert "なし" in _text(listed.split("<tbody>")[1])


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(
        viewport=PHONE, locale="ja-JP", timezone_id="Asia/Tokyo", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.browser
def test_wide_tables_are_one_block_per_row_on_a_phone(
    shared_world: World, phone_page: Page
) -> None:
    admin = login(shared_world.server.base_url, shared_world.users["admin_m1"])
    try:
        sent = admin.post(
            "/announcements",
            data={
                "csrf_token": csrf_of(admin),
                "text": "明日は燃えるごみの日です",
                "area": f"o:{shared_world.offices['B']}",
                "target": "area",
                "when": "",
            },
        )
    finally:
        admin.close()
    assert sent.status_code == 303, sent.text
    announcement = sent.headers["location"].split("?")[0]
    sign_in(phone_page, shared_world, "admin_m1")
    for path, table, rows in (
        ("/users", "#staff-list", 4),
        ("/reports", "#report-table", 2),
        (announcement, "#deliveries", len(shared_world.households["B"])),
    ):
        phone_page.goto(f"{shared_world.server.base_url}{path}")
        names = phone_page.locator(f"{table} tbody td:first-child")
        assert names.count() == rows, path
        table_width = phone_page.locator(table).bounding_box()["width"]
        for i in range(rows):
            box = names.nth(i).bounding_box()
            # A name as wide as the table, one line high: not one character per line.
            assert box["width"] > table_width * 0.8 and box["height"] < 40, (path, box)
        assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
