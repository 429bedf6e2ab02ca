"""Families on LINE in Debian Chromium at 1366 px (desktop) and 375 px (phone): staff issue a
link code on the household page and see the QR code and the code, the family sends it through
the signed webhook, and the case page shows the LINE delivery and the e-mail fallback of a
member who blocked the account; all under the Content-Security-Policy, no sideways scroll."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from mimamori_dev.line_standin import LineStandin
from mimamori_dev.services import CloudServer, SmtpSink
from tests.dashboard.conftest import login
from tests.dashboard.test_browser import (  # noqa: F401
    SCREENSHOTS,
    browser,
    csp_watched_page,
    sign_in,
)
from tests.dashboard.test_line_desk import (
    HANAE_USER,
    TARO_USER,
    help_press_delivered,
    issue_code,
    make_line_desk,
    send_code,
)
from tests.dashboard.test_walk_a11y import check_page

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1366", "375"])
def sized_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:  # noqa: F811
    phone = request.param is PHONE
    context = browser.new_context(
        viewport=request.param,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        is_mobile=phone,
        has_touch=phone,
    )
    with csp_watched_page(context) as page:
        yield page


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport + 1, f"{page.url}: {width}px wide in a {viewport}px window"


def test_link_a_family_member_then_see_line_and_mail_fallback(
    sized_page: Page,
    start_cloud: Callable[..., CloudServer],
    line_standin: LineStandin,
    smtp_sink: SmtpSink,
) -> None:
    page = sized_page
    size = page.viewport_size["width"]
    desk = make_line_desk(start_cloud, line_standin, smtp_sink)
    # 花江 linked earlier (over HTTP) and has since blocked the account on her phone.
    staff = login(desk.server.base_url, desk.world.users["staff_a"])
    try:
        send_code(desk, HANAE_USER, issue_code(staff, desk, "山田 花江")[0])
    finally:
        staff.close()
    line_standin.blocked.add(HANAE_USER)

    sign_in(page, desk.world, "staff_a")
    page.goto(f"{desk.server.base_url}/households/{desk.household}")
    taro = page.locator(f"#contact-{desk.contact['山田 太郎']}")
    expect(taro.locator(".chip.line-unlinked")).to_have_text("未連携")
    expect(page.locator(f"#contact-{desk.contact['山田 花江']} .chip.line-linked")).to_have_text(
        "連携済み"
    )
    taro.get_by_role("button", name="LINE連携コードを発行: 山田 太郎").click()

    panel = page.locator("#line-link")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("山田 太郎さんのLINE連携")
    expect(panel).to_contain_text("LINEで友だち追加し、このコードを送ってください。")
    expect(panel).to_contain_text("有効期限：")
    qr = panel.get_by_role("img", name="郵便局のLINE公式アカウントを友だち追加するQRコード")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 140 and box["x"] + box["width"] <= size
    code = page.locator("#line-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code), code
    # The panel is on screen after the form's #line-link jump, even on a phone.
    assert (
        page.evaluate("document.getElementById('line-link').getBoundingClientRect().top")
        < (page.viewport_size["height"])
    )
    _fits(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOTS / f"line-link-{size}.png"))
    page.screenshot(path=str(SCREENSHOTS / f"line-household-{size}.png"), full_page=True)
    # Japanese only, 16 px text, axe-core WCAG 2.1 AA: the walk's checks, with the code shown.
    failures: list[str] = []
    check_page(page, failures, phone=size == PHONE["width"])

    send_code(desk, TARO_USER, code)
    incident = help_press_delivered(desk)

    page.goto(f"{desk.server.base_url}/incidents/{incident}")
    table = page.locator("#case-deliveries-table")
    taro_row = table.locator("tr.ch-line", has_text="山田 太郎（長男）")
    expect(taro_row).to_contain_text("送信済み")
    expect(table.locator("tr.ch-line", has_text="山田 花江（長女）")).to_contain_text(
        "メールに切替"
    )
    fallback = table.locator("tr.ch-email", has_text="山田 花江（長女）")
    expect(fallback).to_contain_text("LINEに届かなかったため、メールで送りました。")
    expect(fallback).to_be_visible()
    _fits(page)
    page.locator("#case-deliveries").screenshot(path=str(SCREENSHOTS / f"line-case-{size}.png"))
    check_page(page, failures, phone=size == PHONE["width"])

    page.goto(f"{desk.server.base_url}/households/{desk.household}")
    expect(page.locator(f"#contact-{desk.contact['山田 太郎']} .chip.line-linked")).to_be_visible()
    expect(page.locator("#household-deliveries")).to_contain_text("メールに切替")
    page.locator("#household-deliveries-card").screenshot(
        path=str(SCREENSHOTS / f"line-household-deliveries-{size}.png")
    )
    # How alerts reach him: edited in his contact form, one choice of three.
    taro = page.locator(f"#contact-{desk.contact['山田 太郎']}")
    taro.locator("details.edit > summary").click()
    taro.get_by_label("メールのみ").check()
    taro.locator("button.primary").click()
    expect(page.locator("#household-notice")).to_be_visible()
    expect(page.locator(f"#contact-{desk.contact['山田 太郎']} .chip.pref")).to_have_text(
        "メールのみ"
    )
    _fits(page)
    page.locator(f"#contact-{desk.contact['山田 太郎']}").screenshot(
        path=str(SCREENSHOTS / f"line-contact-{size}.png")
    )

    page.goto(f"{desk.server.base_url}/deliveries/failed?channel=line")
    expect(page.locator("#failed-deliveries tr.ch-line")).to_have_count(1)
    _fits(page)
    page.screenshot(path=str(SCREENSHOTS / f"line-failed-{size}.png"), full_page=True)
    check_page(page, failures, phone=size == PHONE["width"])
    assert not failures, "\n".join(failures)
