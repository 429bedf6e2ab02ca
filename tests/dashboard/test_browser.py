"""The dashboard in the real Debian Chromium (playwright), against the real server, with
simulated gateways posting over the real gateway API. Takes the README's screenshots: into
a temporary folder, or into docs/screenshots with MIMAMORI_SCREENSHOTS=docs/screenshots (so
an ordinary test run never rewrites tracked files)."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from cloud.schedule import SlotSpec, slot_deadline
from mimamori_rules.schedule import is_late
from mimamori_wire import v1
from tests.dashboard.conftest import PASSWORD, DashboardGateway, World, enroll

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKYO = ZoneInfo("Asia/Tokyo")
SCREENSHOTS = Path(
    os.environ.get("MIMAMORI_SCREENSHOTS") or Path(tempfile.gettempdir()) / "mimamori-screenshots"
)
LAPTOP = {"width": 1280, "height": 860}
TABLET = {"width": 820, "height": 1180}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium missing: run scripts/bootstrap.sh (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def csp_watched_page(context: BrowserContext) -> Iterator[Page]:
    """A page of `context`, closed after; fails if Chromium blocked anything under the
    Content-Security-Policy (every page runs under it and Chromium reports what it blocks)."""
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    context.close()
    assert not violations, f"blocked by the Content-Security-Policy: {violations}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP, locale="ja-JP", timezone_id="Asia/Tokyo")
    with csp_watched_page(context) as page:
        yield page


def sign_in(page: Page, world: World, user: str) -> None:
    page.goto(f"{world.server.base_url}/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=email]", world.users[user])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")


def gateways_for(world: World, office: str, count: int) -> list[DashboardGateway]:
    return [enroll(world.server, h) for h in world.households[office][:count]]


def test_desk_acknowledge_note_resolve_with_live_alert_and_expired_session(
    world: World, page: Page
) -> None:
    g_help = enroll(world.server, world.households["A"][0], via_cli=True)
    g_unwell, g_fine = [enroll(world.server, h) for h in world.households["A"][1:3]]
    world.server.cli(
        "add-contact",
        "--household",
        g_help.household_id,
        "--name",
        "山田 太郎",
        "--email",
        "taro@example.jp",
        "--relationship",
        "長男",
    )
    g_unwell.post(
        v1.EventKind.CHECKIN_ANSWERED,
        {"slot": "07:00", "intent": "unwell", "confidence": 0.9, "attempts": 1},
    )
    g_fine.post(
        v1.EventKind.CHECKIN_ANSWERED,
        {"slot": "07:00", "intent": "fine", "confidence": 0.95, "attempts": 1},
    )
    sign_in(page, world, "staff_a")
    expect(page.locator("h1")).to_contain_text("対応が必要な案件")
    expect(page.locator("article.incident")).to_have_count(1)
    expect(page.locator("#urgent-banner")).to_be_hidden()

    # A help request arrives while the page is open: it appears on top, with an alert.
    g_help.post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    expect(page.locator("#urgent-banner")).to_be_visible(timeout=20_000)
    # One worker pass escalates it (family e-mail + staff): the desk shows who was told.
    world.server.cli("worker", "--once")
    cards = page.locator("article.incident")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("助けの要請")
    expect(cards.nth(0)).to_contain_text("山田 花子")
    expect(cards.nth(1)).to_contain_text("体調不良の応答")
    page.reload()
    expect(cards.nth(0)).to_contain_text("ご家族へお知らせ: 山田 太郎（メール）")
    page.screenshot(path=str(SCREENSHOTS / "desk.png"), full_page=True)
    help_id = cards.nth(0).get_attribute("data-id")
    card = page.locator(f"#incident-{help_id}")

    card.locator("button.ack").click()
    expect(card.locator(".state")).to_have_text("対応中")
    expect(card.locator(".ack-by")).to_contain_text("佐藤 一郎")  # a name, not an account

    # Resolving without an outcome: a Japanese error in place, nothing lost, no 500.
    card.locator(".resolve-form button").click()
    expect(card.locator(".resolve-form .error")).to_have_text("対応結果を選んでください。")

    # A half-written note survives an expired session and the login in between.
    draft = "13時に電話、応答なし。14時に訪問予定。"
    card.locator("textarea[name=text]").fill(draft)
    world.sql("DELETE FROM staff_sessions")
    # The next poll notices and says so, without touching the text being typed.
    expect(page.locator("#session-banner")).to_be_visible(timeout=20_000)
    expect(card.locator("textarea[name=text]")).to_have_value(draft)
    card.locator(".note-form button").click()
    expect(page).to_have_url(re.compile(r"/login\?next=.*expired=1"))
    expect(page.locator(".notice")).to_contain_text("セッションの有効期限が切れました")
    page.fill("input[name=email]", world.users["staff_a"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    card = page.locator(f"#incident-{help_id}")
    expect(card.locator("textarea[name=text]")).to_have_value(draft)
    card.locator("select[name=kind]").select_option("visit")
    card.locator(".note-form button").click()
    card = page.locator(f"#incident-{help_id}")
    expect(card.locator(".notes")).to_contain_text(draft)
    expect(card.locator(".notes")).to_contain_text("訪問")
    assert page.evaluate(f"localStorage.getItem('mimamori-draft:note-{help_id}')") is None

    card.locator("select[name=outcome]").select_option("safe")
    card.locator("input[name=note]").fill("訪問し無事を確認")
    card.locator(".resolve-form button").click()
    expect(page.locator(f"#incident-{help_id}")).to_have_count(0)
    expect(page.locator(f"#resolved-{help_id}")).to_contain_text("無事を確認")
    state, outcome, note = world.sql(
        "SELECT state, outcome, note FROM incidents WHERE id = ?", (help_id,)
    )[0]
    assert (state, outcome, note) == ("resolved", "safe", "訪問し無事を確認")
    actions = [
        r[0]
        for r in world.sql(
            "SELECT action FROM audit_log WHERE target_id = ? ORDER BY id", (help_id,)
        )
    ]
    assert actions == ["incident.acknowledge", "incident.note", "incident.resolve"]

    # Tablet width: the same desk, still usable.
    page.set_viewport_size(TABLET)
    page.goto(f"{world.server.base_url}/")
    expect(page.locator("article.incident")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "desk-tablet.png"))


def test_today_board_and_household_page(world: World, page: Page) -> None:
    g0, g1, g2 = gateways_for(world, "A", 3)
    g0.heartbeat([{"device": "玄関ドア", "role": "door", "battery_pct": 80}])
    # Both of today's slots answered: the row is healthy whatever the time of day.
    for slot in ("07:00", "19:00"):
        g0.post(
            v1.EventKind.CHECKIN_ANSWERED,
            {"slot": slot, "intent": "fine", "confidence": 0.95, "attempts": 1},
        )
    g1.heartbeat(
        [
            {"device": "居間センサー", "role": "motion", "battery_pct": 9},
            {"device": "寝室センサー", "role": "motion", "silent": True},
        ]
    )
    g1.post(
        v1.EventKind.CHECKIN_ANSWERED,
        {"slot": "07:00", "intent": "usual", "confidence": 0.9, "attempts": 2},
    )
    g2.heartbeat()
    g2.post(v1.EventKind.CHECKIN_NO_RESPONSE, {"slot": "07:00", "attempts": 3})
    sign_in(page, world, "staff_a")
    page.click("nav >> text=本日の状況")
    board = page.locator("#board")
    expect(board.locator("tbody tr")).to_have_count(4)
    row0 = board.locator(f"tr[data-household='{g0.household_id}']")
    expect(row0).to_contain_text("元気")
    expect(row0.locator(".gw")).to_contain_text("正常")
    row1 = board.locator(f"tr[data-household='{g1.household_id}']")
    expect(row1).to_contain_text("いつも通り")
    expect(row1).to_contain_text("電池残量低下: 居間センサー")
    expect(row1).to_contain_text("反応のないセンサー: 寝室センサー")
    # The gateway gave up on 07:00; the board calls it late from the slot's deadline on, the
    # moment the desk gets the case (rules.is_late), whatever the time of day of the run.
    today = datetime.now(TOKYO).date()
    deadline = slot_deadline(SlotSpec("morning", "07:00", 30, 5), today, TOKYO).deadline
    late = "missed" if is_late(deadline, datetime.now(UTC)) else "waiting"
    missed = board.locator(f"tr[data-household='{g2.household_id}'] .slot-{late}")
    expect(missed.filter(has_text="07:00")).to_have_count(1)
    no_gateway = board.locator(f"tr[data-household='{world.households['A'][3]}']")
    expect(no_gateway).to_contain_text("未設置")
    page.screenshot(path=str(SCREENSHOTS / "today-board.png"), full_page=True)

    page.locator("#only-problems").check()
    expect(row0).to_be_hidden()
    expect(row1).to_be_visible()

    row1.locator("a").click()
    expect(page.locator("h1")).to_contain_text("小林 トメ")
    expect(page.locator(".trend")).to_contain_text("いつも通り")
    expect(page.locator("#timeline")).to_contain_text("呼びかけに応答")
    expect(page.locator("body")).to_contain_text("電池 9%")
    page.screenshot(path=str(SCREENSHOTS / "household.png"), full_page=True)
    page.click("text=登録コードを発行")
    code = page.locator("#new-code b").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{10}", code)
    page.click("text=未使用のコードを無効化")
    expect(page.locator(".notice")).to_contain_text("無効にしました")
    views = world.sql(
        "SELECT count(*) FROM audit_log WHERE action = 'household.view' AND target_id = ?",
        (g1.household_id,),
    )
    assert views[0][0] == 1


def test_announcement_send_and_delivery(world: World, page: Page) -> None:
    gateways = gateways_for(world, "A", 3)
    sign_in(page, world, "manager_a")
    page.click("nav >> text=お知らせ配信")
    page.click("#announce-form button[type=submit]")
    expect(page.locator("#announce-form .error")).to_have_text("入力してください。")
    text = "明日10時から12時まで、水道工事のため断水します。"
    page.fill("textarea[name=text]", text)
    page.click("#announce-form button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("お知らせを登録しました")
    expect(page.locator("#deliveries tbody tr")).to_have_count(4)
    announcement_id = page.url.split("/announcements/")[1].split("?")[0]

    for gateway in gateways[:2]:
        commands = gateway.heartbeat().commands
        (command,) = [c for c in commands if c.kind == v1.CommandKind.ANNOUNCEMENT]
        assert command.payload.text == text
        assert command.payload.announcement_id == announcement_id
        gateway.post(
            v1.EventKind.ANNOUNCEMENT_PLAYED,
            {"announcement_id": announcement_id, "command_id": command.id},
        )
    gateways[0].post(v1.EventKind.ANNOUNCEMENT_HEARD, {"announcement_id": announcement_id})
    # No reload: the page polls its tally, as the safety-check page does.
    expect(page.locator("#n-played")).to_have_text("2", timeout=10_000)
    expect(page.locator("#n-heard")).to_have_text("1")
    expect(page.locator("#n-total")).to_have_text("4")
    played = page.locator(f"#deliveries tr[data-household='{gateways[0].household_id}']")
    expect(played.locator(".played")).not_to_have_text("—")
    row = page.locator(f"#deliveries tr[data-household='{gateways[2].household_id}']")
    expect(row.locator(".played")).to_have_text("—")

    # The English switch works on every page and comes back.
    page.click("a.lang")
    expect(page.locator("h1")).to_have_text("Delivery")
    expect(page.locator("#deliveries thead")).to_contain_text("Played")
    page.click("a.lang")
    expect(page.locator("h1")).to_have_text("配信状況")


def test_safety_check_live_tally_and_csv(world: World, page: Page) -> None:
    safe, needs_help, silent = gateways_for(world, "A", 3)
    for gateway in (safe, needs_help, silent):
        gateway.heartbeat()
    sign_in(page, world, "admin_m1")
    page.click("nav >> text=安否確認")
    page.fill("input[name=title]", "台風10号")
    page.select_option("select[name=area]", f"o:{world.offices['A']}")
    page.click("#safety-form button[type=submit]")
    # A confirmation with the number of households comes first.
    expect(page.locator(".confirm-count")).to_contain_text("4 世帯")
    page.click("#confirm-start")
    expect(page.locator("h1")).to_contain_text("台風10号")
    expect(page.locator("#n-waiting")).to_have_text("3")
    # The household whose gateway was never enrolled is 「未設置」, as on the board.
    expect(page.locator("#n-not_installed")).to_have_text("1")
    expect(page.locator("#n-gateway_offline")).to_have_text("0")
    check_id = page.url.rsplit("/", 1)[1]

    for gateway, status in ((safe, "safe"), (needs_help, "needs_help")):
        (command,) = [
            c for c in gateway.heartbeat().commands if c.kind == v1.CommandKind.SAFETY_CHECK
        ]
        assert command.payload.check_id == check_id
        gateway.post(
            v1.EventKind.SAFETY_CHECK_ANSWERED,
            {"check_id": check_id, "status": status, "command_id": command.id},
        )
    # The open page updates itself: no reload.
    expect(page.locator("#n-safe")).to_have_text("1", timeout=20_000)
    expect(page.locator("#n-needs_help")).to_have_text("1")
    expect(page.locator("#n-waiting")).to_have_text("1")
    expect(page.locator("#safety-rows tr").first).to_contain_text("助けが必要")
    page.screenshot(path=str(SCREENSHOTS / "safety-check.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("#export-csv")
    content = Path(download_info.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    statuses = sorted(r[3] for r in rows[1:])
    assert statuses == sorted(["無事", "助けが必要", "確認中", "未設置"])
    exports = world.sql("SELECT count(*) FROM audit_log WHERE action = 'export.safety_check'")
    assert exports[0][0] == 1

    # "Needs help" reaches the desk as well, as a link to the check.
    page.click("nav >> text=対応デスク")
    expect(page.locator(".safety-help")).to_contain_text("助けが必要")
    expect(page.locator(".safety-help")).to_contain_text(": 1")
