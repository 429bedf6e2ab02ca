"""Access control, table-driven: every dashboard route x every role, across two offices of
one municipality and an office of another municipality, against the real server."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from cloud.auth.roles import Capability, Role, can
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.services import contacts
from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll

# Which office each user works for, and which offices each user may see.
HOME = {
    "staff_a": "A",
    "manager_a": "A",
    "staff_b": "B",
    "admin_m1": "M1",
    "admin_m2": "M2",
    "sysadmin": "*",
}
ROLE = {
    "staff_a": Role.STAFF,
    "manager_a": Role.OFFICE_MANAGER,
    "staff_b": Role.STAFF,
    "admin_m1": Role.MUNICIPALITY_ADMIN,
    "admin_m2": Role.MUNICIPALITY_ADMIN,
    "sysadmin": Role.SYSTEM_ADMIN,
}
MUNICIPALITY_OF = {"A": "M1", "B": "M1", "C": "M2"}


def sees(user: str, office: str) -> bool:
    home = HOME[user]
    return home == "*" or home == office or home == MUNICIPALITY_OF[office]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {hh_X}, {inc_X}, {check}, {ann} are filled from the seeded world
    capability: Capability
    office: str | None = None  # the office the object belongs to; None: no object
    ok: int = 200
    hidden: int = 404  # what a user who cannot see the object gets
    data: tuple[tuple[str, str], ...] = ()


ROUTES = [
    Route("GET", "/", Capability.DESK),
    Route("GET", "/desk/feed", Capability.DESK),
    Route("GET", "/board", Capability.DESK),
    Route("GET", "/password", Capability.DESK),
    Route("POST", "/password", Capability.DESK, ok=422, data=(("current", "wrong-password"),)),
    *[
        r
        for office in ("A", "B", "C")
        for r in (
            Route("GET", f"/households/{{hh_{office}}}", Capability.DESK, office),
            Route("POST", f"/households/{{hh_{office}}}/codes", Capability.DESK, office),
            Route("POST", f"/households/{{hh_{office}}}/codes/revoke", Capability.DESK, office),
            Route("POST", f"/incidents/{{inc_{office}}}/ack", Capability.DESK, office, ok=303),
            Route(
                "POST",
                f"/incidents/{{inc_{office}}}/note",
                Capability.DESK,
                office,
                ok=303,
                data=(("kind", "call"), ("text", "電話しました")),
            ),
            # An invalid outcome keeps the incident open for the next role: 422 proves access.
            Route(
                "POST",
                f"/incidents/{{inc_{office}}}/resolve",
                Capability.DESK,
                office,
                ok=422,
                data=(("outcome", "bogus"),),
            ),
            # The care desk (issue 14): case page, calls, editing, print.
            Route("GET", f"/incidents/{{inc_{office}}}", Capability.DESK, office),
            Route(
                "POST",
                f"/incidents/{{inc_{office}}}/call",
                Capability.DESK,
                office,
                ok=303,
                data=(("target", "ご本人|"), ("call_result", "no_answer")),
            ),
            Route("GET", f"/households/{{hh_{office}}}/print", Capability.DESK, office),
            Route(
                "POST",
                f"/households/{{hh_{office}}}/details",
                Capability.DESK,
                office,
                data=(("visitor_notes", "耳が遠い"),),
            ),
            Route(
                "POST",
                f"/households/{{hh_{office}}}/contacts",
                Capability.DESK,
                office,
                data=(("name", "隣の 佐々木"), ("phone1", "03-1234-5678"), ("roles", "key_holder")),
            ),
            Route(
                "POST",
                f"/households/{{hh_{office}}}/contacts/{{con_{office}}}",
                Capability.DESK,
                office,
                data=(("name", "山田 一郎"), ("phone1", "090-1234-5678"), ("roles", "family")),
            ),
            # Families on LINE (issue 17): no office here runs a LINE channel, so a code is
            # refused in place (409), which proves access; other offices get 404.
            Route(
                "POST",
                f"/households/{{hh_{office}}}/contacts/{{con_{office}}}/line-code",
                Capability.DESK,
                office,
                ok=409,
            ),
            Route(
                "POST",
                f"/households/{{hh_{office}}}/contacts/{{con_{office}}}/move",
                Capability.DESK,
                office,
                data=(("direction", "down"),),
            ),
            Route(
                "POST",
                f"/households/{{hh_{office}}}/pauses",
                Capability.DESK,
                office,
                ok=422,  # no reason: refused in place, which proves access
                data=(("reason", ""),),
            ),
            Route(
                "POST",
                f"/households/{{hh_{office}}}/holidays",
                Capability.DESK,
                office,
                ok=422,
                data=(("day", ""),),
            ),
        )
    ],
    Route("GET", "/announcements", Capability.ANNOUNCE),
    Route("GET", "/announcements/{ann}", Capability.ANNOUNCE, "A"),
    Route("GET", "/announcements/{ann}/tally", Capability.ANNOUNCE, "A"),
    Route(
        "POST",
        "/announcements",
        Capability.ANNOUNCE,
        "A",
        ok=303,
        hidden=422,
        data=(("text", "本日は断水します。"), ("area", "o:{office_A}"), ("target", "area")),
    ),
    Route("GET", "/safety", Capability.SAFETY_VIEW),
    Route("GET", "/safety/{check}", Capability.SAFETY_VIEW, "A"),
    Route("GET", "/safety/{check}/tally", Capability.SAFETY_VIEW, "A"),
    Route("GET", "/safety/{check}/export.csv", Capability.SAFETY_VIEW, "A"),
    Route("GET", "/safety/{check}/print", Capability.SAFETY_VIEW, "A"),
    # The first POST only asks to confirm (with the number of households); then it starts.
    Route(
        "POST",
        "/safety",
        Capability.SAFETY_START,
        "A",
        ok=200,
        hidden=422,
        data=(("title", "訓練"), ("question", "ご無事ですか"), ("area", "o:{office_A}")),
    ),
    Route(
        "POST",
        "/safety",
        Capability.SAFETY_START,
        "A",
        ok=303,
        hidden=422,
        data=(
            ("title", "訓練"),
            ("question", "ご無事ですか"),
            ("area", "o:{office_A}"),
            ("confirmed", "1"),
        ),
    ),
    Route("GET", "/handover", Capability.DESK),
    Route("GET", "/deliveries/failed", Capability.DESK),
    Route("GET", "/deliveries/failed?channel=line", Capability.DESK),
    Route("GET", "/handover?since=2026-11-30T08:00", Capability.DESK),
    Route("GET", "/reports", Capability.REPORTS),
    Route("GET", "/reports/monthly.csv", Capability.REPORTS),
    Route("GET", "/audit", Capability.AUDIT),
    Route("GET", "/users", Capability.USERS),
    Route("POST", "/users", Capability.USERS, ok=422, data=(("role", "staff"),)),
]


def add_contact(world: World, household_id: str) -> str:
    engine = make_engine(world.server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            data = contacts.ContactInput(
                name="山田 一郎", email="ichiro@example.jp", phones=["090-1234-5678"]
            )
            return contacts.add_contact(session, household_id, data).id
    finally:
        engine.dispose()


def expected(user: str, route: Route) -> int:
    if not can(ROLE[user], route.capability):
        return 403
    if route.office is not None and not sees(user, route.office):
        return route.hidden
    return route.ok


@pytest.fixture(scope="module")
def seeded(shared_world: World, clients: dict[str, httpx.Client]) -> dict[str, str]:
    values = {f"office_{k}": v for k, v in shared_world.offices.items()}
    for office in ("A", "B", "C"):
        household = shared_world.households[office][0]
        values[f"hh_{office}"] = household
        gateway = enroll(shared_world.server, household)
        gateway.post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
        (incident_id,) = shared_world.sql(
            "SELECT id FROM incidents WHERE household_id = ? AND state = 'open'", (household,)
        )[0]
        values[f"inc_{office}"] = incident_id
        values[f"con_{office}"] = add_contact(shared_world, household)
    admin = clients["admin_m1"]
    token = csrf_of(admin)
    made = admin.post(
        "/safety",
        data={
            "csrf_token": token,
            "title": "台風",
            "area": f"o:{shared_world.offices['A']}",
            "question": "ご無事ですか",
            "confirmed": "1",
        },
    )
    assert made.status_code == 303, made.text
    values["check"] = made.headers["location"].rsplit("/", 1)[-1]
    made = admin.post(
        "/announcements",
        data={
            "csrf_token": token,
            "text": "お知らせです",
            "area": f"o:{shared_world.offices['A']}",
            "target": "area",
        },
    )
    assert made.status_code == 303, made.text
    values["ann"] = made.headers["location"].split("?")[0].rsplit("/", 1)[-1]
    return values


def test_every_route_for_every_role(
    shared_world: World, clients: dict[str, httpx.Client], seeded: dict[str, str]
) -> None:
    tokens = {user: csrf_of(client) for user, client in clients.items()}
    failures = []
    cells = 0
    for route in ROUTES:
        path = route.path.format(**seeded)
        for user, client in clients.items():
            if route.method == "GET":
                response = client.get(path)
            else:
                data = {k: v.format(**seeded) for k, v in route.data}
                response = client.post(path, data={"csrf_token": tokens[user], **data})
            cells += 1
            want = expected(user, route)
            if response.status_code != want:
                failures.append(
                    f"{user:10} {route.method} {route.path}: {response.status_code} != {want}"
                )
            assert response.status_code < 500, (route, user, response.text)
    assert not failures, "\n".join(failures)
    assert cells == len(ROUTES) * len(clients)


def test_hidden_households_never_leak_into_lists(
    shared_world: World, clients: dict[str, httpx.Client], seeded: dict[str, str]
) -> None:
    """Desk, board and feed of office A's staff mention nothing of offices B and C."""
    other_names = ["松本 ハル", "井上 茂"]
    for path in ("/", "/board", "/desk/feed"):
        body = clients["staff_a"].get(path).text
        assert "山田 花子" in body
        for name in other_names:
            assert name not in body, (path, name)
    body = clients["admin_m2"].get("/board").text
    assert "井上 茂" in body and "山田 花子" not in body


def test_anonymous_gets_login_redirect_everywhere(
    shared_world: World, seeded: dict[str, str]
) -> None:
    with httpx.Client(base_url=shared_world.server.base_url, follow_redirects=False) as anon:
        for route in ROUTES:
            path = route.path.format(**seeded)
            response = anon.request(route.method, path, data=dict(route.data) or None)
            assert response.status_code == 303, (route.path, response.status_code)
            assert response.headers["location"].startswith("/login?next=")
        feed = anon.get("/desk/feed", headers={"Accept": "application/json"})
        assert feed.status_code == 401 and feed.json()["error"] == "login_required"


def test_household_views_and_actions_are_audited(
    shared_world: World, clients: dict[str, httpx.Client], seeded: dict[str, str]
) -> None:
    staff = clients["staff_a"]
    staff.get(f"/households/{seeded['hh_A']}")
    token = csrf_of(staff)
    staff.post(f"/incidents/{seeded['inc_A']}/ack", data={"csrf_token": token})
    staff.post(
        f"/incidents/{seeded['inc_A']}/resolve",
        data={"csrf_token": token, "outcome": "safe", "note": "無事でした"},
    )
    clients["admin_m1"].get("/reports/monthly.csv")
    rows = shared_world.sql("SELECT user_email, action, target_id, municipality_id FROM audit_log")
    mine = {(r[1], r[2]) for r in rows if r[0] == "staff_a@example.jp"}
    assert ("household.view", seeded["hh_A"]) in mine
    assert ("incident.acknowledge", seeded["inc_A"]) in mine
    assert ("incident.resolve", seeded["inc_A"]) in mine
    assert any(r[1] == "export.monthly_report" for r in rows)
    # The log page shows M1's entries to M1's admin and none to M2's admin.
    m1 = clients["admin_m1"].get("/audit?action=household.view").text
    m2 = clients["admin_m2"].get("/audit?action=household.view").text
    assert seeded["hh_A"] in m1
    assert seeded["hh_A"] not in m2
