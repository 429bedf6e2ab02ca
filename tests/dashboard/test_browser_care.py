"""The care desk in Debian Chromium at 1366 px (desktop) and 390 px (phone): calling from
the desk card, the case page, editing people on the household page, handover, print views."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from cloud.services.contacts import age_on
from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll, login
from tests.dashboard.test_browser import SCREENSHOTS, browser, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1366", "390"])
def sized_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(
        viewport=request.param,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        is_mobile=request.param is PHONE,
        has_touch=request.param is PHONE,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport + 1, f"{page.url}: {width}px wide in a {viewport}px window"


def _seed(world: World) -> tuple[str, str]:
    household = world.households["A"][0]
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        token = csrf_of(staff)
        staff.post(
            f"/households/{household}/contacts",
            data={
                "csrf_token": token,
                "name": "山田 太郎",
                "relationship": "長男",
                "phone1": "090-1111-2222",
                "email": "taro@example.jp",
                "roles": ["family", "key_holder"],
                "notify_alerts": "1",
            },
        ).raise_for_status()
        staff.post(
            f"/households/{household}/details",
            data={"csrf_token": token, "phone1": "03-1234-5678", "birth_date": "1936-04-01"},
        ).raise_for_status()
    finally:
        staff.close()
    enroll(world.server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    world.server.cli("worker", "--once")
    ((incident_id,),) = world.sql(
        "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household,)
    )
    return household, incident_id


def test_call_from_the_desk_then_work_the_case_file(world: World, sized_page: Page) -> None:
    page = sized_page
    size = page.viewport_size["width"]
    household, incident_id = _seed(world)
    sign_in(page, world, "staff_a")
    card = page.locator(f"#incident-{incident_id}")
    expect(card.locator("a.tel").first).to_have_attribute("href", "tel:+81312345678")
    expect(card).to_contain_text("山田 太郎（長男）")

    # A call from the card: who, which number, the result.
    card.locator("select[name=target]").select_option("山田 太郎|090-1111-2222")
    card.locator("input[name=call_result][value=no_answer]").check()
    card.locator("button.record-call").click()
    expect(page.locator("#saved-notice")).to_have_text("電話の記録を保存しました。")
    card = page.locator(f"#incident-{incident_id}")
    expect(card.locator(".notes")).to_contain_text("不在")
    expect(card.locator(".ack-by")).to_contain_text("佐藤 一郎")
    page.screenshot(path=str(SCREENSHOTS / f"desk-call-{size}.png"), full_page=True)

    card.locator("a.case-link").click()
    expect(page).to_have_url(re.compile(f"/incidents/{incident_id}$"))
    expect(page.locator("#case-history")).to_contain_text("ご家族へお知らせ")
    expect(page.locator("#case-history")).to_contain_text("不在")
    age = age_on(date(1936, 4, 1), datetime.now(ZoneInfo("Asia/Tokyo")).date())
    expect(page.locator("#case-people")).to_contain_text(f"{age}歳（1936年生）")
    _no_sideways_scroll(page)
    actions = page.locator("#case-actions")
    actions.locator(".note-form select[name=kind]").select_option("visit")
    actions.locator(".note-form textarea[name=text]").fill("15時に訪問、玄関で会話")
    actions.locator(".note-form button").click()
    expect(page.locator("#saved-notice")).to_have_text("メモを保存しました。")
    # The saved note's draft is gone: the form is empty again.
    expect(actions.locator(".note-form textarea[name=text]")).to_have_value("")
    page.locator(".resolve-form select[name=outcome]").select_option("safe")
    page.locator(".resolve-form button").click()
    expect(page.locator("#saved-notice")).to_contain_text("対応完了として記録しました")
    expect(page.locator(".closed-by")).to_contain_text("佐藤 一郎")
    expect(page.locator("#case-history")).to_contain_text("15時に訪問、玄関で会話")
    page.screenshot(path=str(SCREENSHOTS / f"case-{size}.png"), full_page=True)

    # The household page keeps it on the timeline, and edits people in place.
    page.goto(f"{world.server.base_url}/households/{household}")
    expect(page.locator("body")).to_contain_text("15時に訪問、玄関で会話")
    _no_sideways_scroll(page)
    page.locator("#add-contact summary").click()
    form = page.locator("#add-contact form")
    form.locator("input[name=name]").fill("中央クリニック")
    form.locator("input[name=phone1]").fill("03-5555-0000")
    form.locator("input[name=roles][value=family]").uncheck()
    form.locator("input[name=roles][value=doctor]").check()
    form.locator("input[name=notify_alerts]").uncheck()
    form.locator("button[type=submit]").click()
    expect(page.locator("#household-notice")).to_have_text("連絡先を保存しました。")
    expect(page.locator("#contacts")).to_contain_text("かかりつけ医")
    page.locator("#add-pause summary").click()
    page.locator("#add-pause input[name=reason]").fill("入院")
    page.locator("#add-pause button[type=submit]").click()
    expect(page.locator("#household-notice")).to_contain_text("休止期間を登録しました")
    expect(page.locator(".pauses")).to_contain_text("休止中")
    # The answer shows the household page's own address: a reload reads it, never adds the
    # pause again (no "resubmit the form?").
    expect(page).to_have_url(re.compile(rf"/households/{household}$"))
    page.reload()
    expect(page.locator(".pauses li")).to_have_count(1)
    expect(page.locator("#household-notice")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / f"household-edit-{size}.png"), full_page=True)

    page.goto(f"{world.server.base_url}/handover")
    expect(page.locator("#handover-since")).to_contain_text("15時に訪問、玄関で会話")
    _no_sideways_scroll(page)
    page.goto(f"{world.server.base_url}/households/{household}/print")
    expect(page.locator("#visit-sheet")).to_contain_text("鍵の預け先")
    expect(page.locator("#visit-sheet")).to_contain_text("090-1111-2222")
    _no_sideways_scroll(page)
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    page.screenshot(path=str(SCREENSHOTS / f"visit-sheet-{size}.png"), full_page=True)


def test_safety_check_confirmation_and_follow_up_list(world: World, sized_page: Page) -> None:
    page = sized_page
    size = page.viewport_size["width"]
    _seed(world)
    sign_in(page, world, "admin_m1")
    page.goto(f"{world.server.base_url}/safety")
    page.fill("input[name=title]", "台風10号")
    page.select_option("select[name=area]", f"o:{world.offices['A']}")
    page.click("#safety-form button[type=submit]")
    # Nothing is sent before the count of households is confirmed.
    expect(page.locator(".confirm-count")).to_contain_text("4 世帯")
    assert world.sql("SELECT count(*) FROM safety_checks") == [(0,)]
    _no_sideways_scroll(page)
    page.click("#confirm-start")
    expect(page.locator("h1")).to_contain_text("台風10号")
    page.click("#print-follow-up")
    sheet = page.locator("#follow-up")
    expect(sheet.locator("tbody tr")).to_have_count(4)
    expect(sheet.locator("a.tel[href='tel:+81312345678']")).to_be_visible()
    expect(sheet).to_contain_text("山田 太郎（長男）")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / f"safety-follow-up-{size}.png"), full_page=True)
