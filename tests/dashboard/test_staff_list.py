"""The staff-account list says where each account belongs, in Japanese: the post office of
office staff and managers, the whole municipality of its administrators. A municipality
admin sees the accounts of their own municipality only and can narrow to one office; office
staff and managers do not get the list at all (least privilege)."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.conftest import World


def _staff_rows(page: str) -> list[tuple[str, str, str]]:
    table = page.split('id="staff-list"')[1].split("</table>")[0]
    header = re.findall(r"<th>(.*?)</th>", table.split("</thead>")[0])
    assert header == ["氏名", "所属", "権限", "メールアドレス"]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_admin_sees_the_office_of_every_account_of_their_municipality(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    rows = _staff_rows(clients["admin_m1"].get("/users").text)
    assert rows == [
        ("田中 市役所", "みどり市（全域）", "自治体管理者"),
        ("鈴木 局長", "みどり中央郵便局", "局長"),
        ("佐藤 一郎", "みどり中央郵便局", "職員"),
        ("高橋 二郎", "みどり港郵便局", "職員"),
    ]


def test_admin_narrows_the_list_to_one_office_of_their_own(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    admin = clients["admin_m1"]
    only_b = _staff_rows(admin.get("/users", params={"office": shared_world.offices["B"]}).text)
    assert only_b == [("高橋 二郎", "みどり港郵便局", "職員")]
    # Another municipality's office is not a filter this admin may use: their own list.
    other = _staff_rows(admin.get("/users", params={"office": shared_world.offices["C"]}).text)
    assert {name for name, _, _ in other} == {"田中 市役所", "鈴木 局長", "佐藤 一郎", "高橋 二郎"}


def test_the_system_admin_sees_every_municipality_and_office_staff_none(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    rows = _staff_rows(clients["sysadmin"].get("/users").text)
    assert rows[0] == ("運用 管理者", "全自治体（システム管理）", "システム管理者")
    assert ("伊藤 町役場", "あおば町（全域）", "自治体管理者") in rows
    assert len(rows) == len(shared_world.users)
    for who in ("staff_a", "manager_a"):
        response = clients[who].get("/users")
        assert response.status_code == 403 and "staff-list" not in response.text
