"""「連絡済み」 on the desk names each person reached once per action: the post office alerted on
the dashboard and at its own e-mail address is one entry (it was listed twice, once as its
address), hourly reminders count up instead of repeating, and a family member is named with
the channel, never by a LINE user id. The delivery tables name the office, not its address,
and give a family member's number, and the case history words a mail's state as the delivery
table does. Real escalation on the live server."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloud.models import FamilyContact
from cloud.web import i18n
from cloud.web.people import notified_chips
from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll, login

OFFICE = "みどり中央郵便局"
OFFICE_MAIL = "chuo@post.example.jp"


def _notified_cell(page: str, incident_id: str) -> str:
    card = page.split(f'id="incident-{incident_id}"')[1].split("</article>")[0]
    cell = card.split("連絡済み</dt>")[1].split("</dd>")[0]
    return re.sub(r"<[^>]+>", " ", cell)


def test_the_office_reached_by_dashboard_and_mail_is_listed_once(world: World) -> None:
    world.sql("UPDATE post_offices SET email = ? WHERE id = ?", (OFFICE_MAIL, world.offices["A"]))
    household = world.households["A"][0]
    staff = login(world.server.base_url, world.users["staff_a"])
    staff.post(
        f"/households/{household}/contacts",
        data={
            "csrf_token": csrf_of(staff),
            "name": "山田 太郎",
            "relationship": "長男",
            "phone1": "090-1111-2222",
            "email": "taro@example.jp",
            "roles": ["family"],
            "notify_alerts": "1",
        },
    ).raise_for_status()
    enroll(world.server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    world.server.cli("worker", "--once")
    ((incident_id,),) = world.sql(
        "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household,)
    )
    recipients = {r for (r,) in world.sql("SELECT recipient FROM notifications")}
    assert OFFICE_MAIL in recipients and f"office:{world.offices['A']}" in recipients
    try:
        cell = _notified_cell(staff.get("/").text, incident_id)
        case = staff.get(f"/incidents/{incident_id}").text
        household_page = staff.get(f"/households/{household}").text
    finally:
        staff.close()
    assert cell.count(OFFICE) == 1, cell
    assert OFFICE_MAIL not in cell
    assert "郵便局職員へ通知: みどり中央郵便局（画面・メール）" in cell
    # The case file's and the household's delivery tables name the office, not its address.
    for page in (case, household_page):
        table = page.split('class="list deliveries"')[1].split("</table>")[0]
        sent_to = re.findall(r'class="dlv-to">([^<]*)</td>', table)
        assert OFFICE in sent_to and OFFICE_MAIL not in sent_to, sent_to
        # A family member's row gives their number: a notice that did not arrive means a call.
        family = re.search(r'class="dlv-to">山田 太郎（長男）(.*?)</td>', table)
        assert family and 'href="tel:+819011112222"' in family.group(1), table
    # The case history names a mail's state as the delivery table does (one word per state).
    table = case.split('id="case-deliveries-table"')[1].split("</table>")[0]
    history = case.split('id="case-history"')[1].split("</table>")[0]
    in_table = re.findall(r'class="chip dlv-[a-z]+">([^<]+)</span>', table)
    in_history = re.findall(r'class="chip mail-[a-z]+">([^<]+?)(?: \d\d:\d\d)?</span>', history)
    assert in_table and sorted(in_table) == sorted(in_history), (in_table, in_history)


@dataclass
class Row:
    action: str
    recipient: str
    step: int


def test_each_action_names_each_person_once_with_every_channel() -> None:
    ja = i18n.translator("ja")
    kazuko = FamilyContact(name="鈴木 和子", email="kazuko@example.jp", line_user_id="U" + "0" * 32)
    rows = [
        Row("dashboard", "office:x", 0),
        Row("reprompt", "gateway", 1),
        Row("family", f"line:{kazuko.line_user_id}", 2),
        Row("family", "kazuko@example.jp", 2),
        Row("family", "line:U123", 2),  # a member who has since unlinked: never the id
        Row("staff", "office:x", 3),
        Row("staff", "desk@post.example.jp", 3),
        Row("manager", "boss@city.example.jp", 4),
        *[Row("staff_reminder", r, s) for s in (5, 6, 7) for r in ("office:x", "desk@p.jp")],
    ]
    texts = [c.text(ja) for c in notified_chips(rows, [kazuko], "本局", ja)]
    assert texts == [
        "画面に表示: 本局",
        "見守り機で再度呼びかけ: 見守り機",
        "ご家族へお知らせ: 鈴木 和子（LINE・メール）",
        "ご家族へお知らせ: LINE",
        "郵便局職員へ通知: 本局（画面・メール）",
        "局長・自治体へ通知: boss@city.example.jp（メール）",
        "職員へ再通知: 本局（画面・メール）（3回）",
    ]
    assert not any("U000" in t for t in texts)
