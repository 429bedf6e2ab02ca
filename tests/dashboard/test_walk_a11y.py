"""Every page, as each role, in Debian Chromium at 1366 px and 390 px: no English word or raw
code in the visible Japanese text, no sideways scroll on a phone, header items on one line, body
text at least 16 px, and axe-core (WCAG 2.1 AA) with no serious or critical violation (issue 14:
one vocabulary, accessibility). Failures are collected over the whole walk and reported together."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import axe_core_python
import httpx
import pytest
from playwright.sync_api import Browser, Page

from cloud.mail.links import LinkSigner
from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll, login
from tests.dashboard.test_browser import browser, sign_in  # noqa: F401
from tests.dashboard.test_browser_care import DESKTOP, PHONE, _seed

pytestmark = pytest.mark.browser

AXE_SOURCE = (Path(axe_core_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
  });
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
}"""
# Words a Japanese page may show: product and format names, and the language switch.
ALLOWED_WORDS = {"LINE", "CSV", "PDF", "English", "IP"}
# Not words: e-mail addresses, URLs, phone numbers, case numbers (7KQ2-M9XD), IP addresses.
NOT_WORDS = re.compile(
    r"[\w.+-]+@[\w-]+(\.[\w-]+)+|https?://\S+|\b[0-9A-Z]{4}-[0-9A-Z]{4}\b|\b\d[\d.:-]*\b"
)
ASCII_WORD = re.compile(r"[A-Za-z]{3,}")
SECRET = "test-secret-key-not-for-production"  # mimamori_dev/services.py test default
# Body text is at least 16 px; chips and counters (short labels in a coloured pill) 14 px.
SMALL_TEXT = """() => {
  const found = new Set();
  const body = 'main p, main td, main th, main li, main label, main input, main a, '
    + 'header.top .who *';
  for (const e of document.querySelectorAll(body)) {
    if (!e.getClientRects().length || !(e.innerText || e.value || '').trim()) continue;
    const size = parseFloat(getComputedStyle(e).fontSize);
    const least = e.closest('.chip, .state, .slot, .count') ? 14 : 16;
    if (size < least - 0.01) {
      found.add(e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + size);
    }
  }
  return [...found].slice(0, 8);
}"""


def english_words(text: str) -> list[str]:
    return sorted(
        {w for w in ASCII_WORD.findall(NOT_WORDS.sub(" ", text)) if w not in ALLOWED_WORDS}
    )


def check_page(page: Page, failures: list[str], phone: bool) -> None:
    where = page.url.split("/", 3)[-1] or "desk"
    # Edit forms fold into <details>: open them so their labels and inputs are checked too.
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    words = english_words(page.evaluate("document.body.innerText"))
    if words:
        failures.append(f"/{where}: English or code words {words}")
    if phone:
        # Against the phone's width, not window.innerWidth: a mobile browser zooms out to
        # show a page wider than the screen, so innerWidth grows with what overflows.
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            failures.append(f"/{where}: {width}px wide at 390px")
    wrapped = page.evaluate(
        """() => [...document.querySelectorAll('header.top nav a, header.top button')]
        .filter(e => e.getClientRects().length > 1
          || e.getBoundingClientRect().height > 2.2 * parseFloat(getComputedStyle(e).fontSize))
        .map(e => e.innerText)"""
    )
    if wrapped:
        failures.append(f"/{where}: header items broken over lines {wrapped}")
    small = page.evaluate(SMALL_TEXT)
    if small:
        failures.append(f"/{where}: text under 16px (chips 14px) {small}")
    # page.evaluate is not subject to the page's Content-Security-Policy.
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    failures.extend(f"/{where}: axe {v}" for v in page.evaluate(AXE_RUN))


def _safety_check(world: World) -> str:
    admin = login(world.server.base_url, world.users["admin_m1"])
    try:
        started = admin.post(
            "/safety",
            data={
                "csrf_token": csrf_of(admin, "/safety"),
                "title": "台風10号",
                "question": "ご無事ですか。",
                "area": f"o:{world.offices['A']}",
                "confirmed": "1",
            },
        )
    finally:
        admin.close()
    assert started.status_code == 303, started.text
    return started.headers["location"].rsplit("/", 1)[-1]


def _ack_and_unsubscribe_urls(world: World, household: str, incident: str) -> list[str]:
    ((contact,),) = world.sql(
        "SELECT id FROM family_contacts WHERE household_id = ? AND email IS NOT NULL "
        "ORDER BY priority LIMIT 1",
        (household,),
    )
    signer = LinkSigner(SECRET, world.server.base_url, 3600)
    return [signer.ack_url(incident, contact), signer.unsubscribe_url(contact)]


def _neighbour_with_many_roles(world: World, household: str) -> None:
    """A contact whose call-form choice is long (as in the demo): on a phone the desk card's
    call form must wrap it, not push the page sideways."""
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        staff.post(
            f"/households/{household}/contacts",
            data={
                "csrf_token": csrf_of(staff),
                "name": "民生委員 森田 ひろみ さん",
                "phone1": "03-1234-1004",
                "roles": ["key_holder", "welfare_volunteer", "care_manager"],
            },
        ).raise_for_status()
    finally:
        staff.close()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1366", "390"])
def walk_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:  # noqa: F811
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


def test_every_page_is_japanese_fits_a_phone_and_passes_axe(world: World, walk_page: Page) -> None:
    page = walk_page
    phone = page.viewport_size["width"] == PHONE["width"]
    base = world.server.base_url
    household, incident = _seed(world)
    _neighbour_with_many_roles(world, household)
    # A sensor with a code name and role: the household page must show its Japanese name.
    enroll(world.server, world.households["A"][1]).post(
        v1.EventKind.DEVICE_BATTERY_LOW,
        {"device": "motion-1", "role": "help_button", "battery_pct": 10},
    )
    check_id = _safety_check(world)
    family_urls = _ack_and_unsubscribe_urls(world, household, incident)
    failures: list[str] = []

    page.goto(f"{base}/login")
    check_page(page, failures, phone)
    for url in family_urls:
        assert httpx.get(url).status_code == 200
        page.goto(url)
        check_page(page, failures, phone)

    walks = {
        "staff_a": [
            "/",
            "/board",
            f"/incidents/{incident}",
            f"/households/{household}",
            f"/households/{world.households['A'][1]}",
            "/handover",
            "/deliveries/failed",
            f"/households/{household}/print",
            "/announcements",
            "/password",
        ],
        "admin_m1": [
            "/safety",
            f"/safety/{check_id}",
            f"/safety/{check_id}/print",
            "/reports",
            "/deliveries/failed?channel=line",
            "/audit",
            "/users",
        ],
        "manager_a": ["/", "/board", "/reports"],
        "sysadmin": ["/users", "/audit", "/safety"],
    }
    for user, paths in walks.items():
        page.context.clear_cookies()
        sign_in(page, world, user)
        for path in paths:
            page.goto(f"{base}{path}")
            check_page(page, failures, phone)
    assert not failures, "\n".join(failures)
