"""Bad input: Japanese errors in place, never a 500; and the monthly report's figures."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll

JUNK_VALUES = [
    "",
    " ",
    "x" * 5000,
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "\u0000",
    "🙂" * 50,
    "2026-13-45T99:99",
    "-1",
]


@pytest.fixture(scope="module")
def incident(shared_world: World) -> str:
    household = shared_world.households["A"][0]
    gateway = enroll(shared_world.server, household)
    gateway.post(v1.EventKind.HELP_REQUESTED, {"source": "voice"})
    return shared_world.sql("SELECT id FROM incidents WHERE household_id = ?", (household,))[0][0]


def test_note_errors_are_japanese_and_in_place(
    clients: dict[str, httpx.Client], incident: str
) -> None:
    staff = clients["staff_a"]
    token = csrf_of(staff)
    empty = staff.post(
        f"/incidents/{incident}/note", data={"csrf_token": token, "kind": "call", "text": "  "}
    )
    assert empty.status_code == 422
    assert "入力してください。" in empty.text
    assert f'id="incident-{incident}"' in empty.text  # the desk, with the card
    long = staff.post(
        f"/incidents/{incident}/note",
        data={"csrf_token": token, "kind": "call", "text": "あ" * 2001},
    )
    assert long.status_code == 422 and "文字数が多すぎます" in long.text
    assert "あ" * 2001 in long.text  # what was typed comes back, not lost
    kind = staff.post(
        f"/incidents/{incident}/note", data={"csrf_token": token, "kind": "fax", "text": "メモ"}
    )
    assert kind.status_code == 422 and "メモの種類を選んでください" in kind.text


def test_announcement_and_safety_form_errors(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    admin = clients["admin_m1"]
    token = csrf_of(admin)
    area = f"o:{shared_world.offices['A']}"
    past = admin.post(
        "/announcements",
        data={"csrf_token": token, "text": "お知らせ", "area": area, "when": "2020-01-01T09:00"},
    )
    assert past.status_code == 422 and "過去の日時は指定できません" in past.text
    bad = admin.post(
        "/announcements",
        data={"csrf_token": token, "text": "お知らせ", "area": area, "when": "明日の朝"},
    )
    assert bad.status_code == 422 and "日時の形式が正しくありません" in bad.text
    none = admin.post(
        "/announcements",
        data={"csrf_token": token, "text": "お知らせ", "area": area, "target": "households"},
    )
    assert none.status_code == 422 and "対象の世帯を選んでください" in none.text
    foreign = admin.post(
        "/announcements",
        data={"csrf_token": token, "text": "お知らせ", "area": f"o:{shared_world.offices['C']}"},
    )
    assert foreign.status_code == 422 and "配信先を選んでください" in foreign.text
    untitled = admin.post(
        "/safety", data={"csrf_token": token, "title": "", "area": area, "question": "ご無事ですか"}
    )
    assert untitled.status_code == 422 and "入力してください" in untitled.text
    assert shared_world.sql("SELECT count(*) FROM announcements")[0][0] == 0
    assert shared_world.sql("SELECT count(*) FROM safety_checks")[0][0] == 0


def test_chosen_households_limit_an_announcement(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    manager = clients["manager_a"]
    chosen = shared_world.households["A"][:2]
    foreign = shared_world.households["B"][0]  # not the manager's: silently not targeted
    response = manager.post(
        "/announcements",
        data={
            "csrf_token": csrf_of(manager),
            "text": "防災訓練のお知らせです。",
            "area": f"o:{shared_world.offices['A']}",
            "target": "households",
            "households": [*chosen, foreign],
        },
    )
    assert response.status_code == 303
    targeted = {
        r[0]
        for r in shared_world.sql("SELECT household_id FROM commands WHERE kind = 'announcement'")
    }
    assert targeted == set(chosen)


def test_junk_never_causes_a_server_error(
    shared_world: World, clients: dict[str, httpx.Client], incident: str
) -> None:
    admin = clients["sysadmin"]
    token = csrf_of(admin)
    household = shared_world.households["A"][0]
    posts = [
        "/announcements",
        "/safety",
        "/users",
        "/password",
        f"/incidents/{incident}/note",
        f"/incidents/{incident}/resolve",
        f"/households/{household}/codes",
    ]
    fields = [
        "text",
        "area",
        "when",
        "target",
        "households",
        "title",
        "question",
        "role",
        "office",
        "email",
        "password",
        "name",
        "kind",
        "outcome",
        "note",
        "current",
        "new",
        "confirm",
    ]
    for path in posts:
        for value in JUNK_VALUES:
            data = {"csrf_token": token, **{f: value for f in fields}}
            response = admin.post(path, data=data)
            assert response.status_code < 500, (path, value[:20], response.status_code)
    for path in [
        "/households/nope",
        "/incidents/nope/ack",
        "/safety/nope",
        "/announcements/x",
        "/safety/nope/export.csv",
        "/reports?month=2026-13",
        "/reports?month=abc",
    ]:
        method = "POST" if path.endswith("/ack") else "GET"
        response = admin.request(method, path, data={"csrf_token": token})
        assert response.status_code in (404, 422), (path, response.status_code)
    bad_month = admin.get("/reports?month=2026-13")
    assert "YYYY-MM" in bad_month.text


def test_monthly_report_figures(shared_world: World, clients: dict[str, httpx.Client]) -> None:
    household = shared_world.households["B"][0]
    gateway = enroll(shared_world.server, household)
    gateway.post(
        v1.EventKind.CHECKIN_ANSWERED,
        {"slot": "07:00", "intent": "fine", "confidence": 0.9, "attempts": 1},
    )
    gateway.post(v1.EventKind.CHECKIN_NO_RESPONSE, {"slot": "19:00", "attempts": 3})
    gateway.post(v1.EventKind.REQUEST_CALLBACK, {})
    staff = clients["staff_b"]
    (incident_id,) = shared_world.sql(
        "SELECT id FROM incidents WHERE household_id = ?", (household,)
    )[0]
    staff.post(f"/incidents/{incident_id}/ack", data={"csrf_token": csrf_of(staff)})
    month = shared_world.sql("SELECT strftime('%Y-%m', 'now', '+9 hours')")[0][0]
    response = clients["admin_m1"].get(f"/reports/monthly.csv?month={month}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[:3] == ["郵便局", "世帯数", "応答率"]
    assert set(body) == {"みどり中央郵便局", "みどり港郵便局"}  # M1 only, never M2's office
    port = body["みどり港郵便局"]
    assert port["世帯数"] == "1"
    assert port["応答率"] == "0.500"
    assert port["折り返し電話の依頼"] == "1"
    assert float(port["対応開始までの中央値（分）"]) >= 0
    printable = clients["admin_m1"].get(f"/reports?month={month}&print=1")
    assert "printable" in printable.text and "50.0%" in printable.text
