"""The pages under the Content-Security-Policy in real Chromium: the handlers that used to be
inline (office filter, print button) still work, the family page keeps its style, and
Chromium reports no CSP violation (the `page` fixture of test_browser fails on any)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import World
from tests.dashboard.test_browser import browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_moved_handlers_work_under_the_policy(world: World, page: Page) -> None:  # noqa: F811
    page.add_init_script("window.print = function () { window.__printed = true; };")
    sign_in(page, world, "admin_m1")
    page.goto(f"{world.server.base_url}/board")
    page.select_option("select[data-autosubmit]", world.offices["B"])
    expect(page).to_have_url(re.compile(rf"office={world.offices['B']}"))
    page.goto(f"{world.server.base_url}/reports?print=1")
    page.click("button[data-print]")
    assert page.evaluate("window.__printed") is True


def test_family_page_keeps_its_style(world: World, page: Page) -> None:  # noqa: F811
    page.goto(f"{world.server.base_url}/family/ack/not-a-valid-link")
    expect(page.locator("h1")).to_be_visible()
    size = page.evaluate("getComputedStyle(document.body).fontSize")
    assert size == "18px"  # from /static/family.css, not an inline <style>
