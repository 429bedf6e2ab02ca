"""Dashboard forms refuse control characters in one-line fields with a Japanese message next
to the form, on SQLite and PostgreSQL (issue 13: validated where text enters)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mimamori_dev.services import CloudServer
from mimamori_wire import v1
from tests.dashboard.conftest import build_world, csrf_of, enroll, login

MESSAGE = "使えない文字（改行・制御文字）が含まれています。"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, start_cloud: Callable[..., CloudServer]) -> CloudServer:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return start_cloud(database_url=url)


def test_forms_answer_control_characters_with_a_japanese_error(server: CloudServer) -> None:
    world = build_world(server)
    admin = login(server.base_url, world.users["admin_m1"])
    token = csrf_of(admin)
    user = admin.post(
        "/users",
        data={
            "csrf_token": token,
            "email": "new@example.jp",
            "password": "long-enough-password",
            "name": "佐藤\r\nBcc: x@evil.example",
            "role": "staff",
            "office": world.offices["A"],
        },
    )
    assert user.status_code == 422 and MESSAGE in user.text
    safety = admin.post(
        "/safety",
        data={
            "csrf_token": token,
            "title": "地震\x00",
            "question": "ご無事ですか",
            "area": f"o:{world.offices['A']}",
        },
    )
    assert safety.status_code == 422 and MESSAGE in safety.text
    # A textarea keeps its line breaks (browsers send CRLF).
    started = admin.post(
        "/safety",
        data={
            "csrf_token": token,
            "title": "地震",
            "question": "ご無事ですか\r\nお返事ください",
            "area": f"o:{world.offices['A']}",
            "confirmed": "1",
        },
    )
    assert started.status_code == 303
    gateway = enroll(server, world.households["A"][0])
    gateway.post(v1.EventKind.HELP_REQUESTED, {"source": "button"})
    staff = login(server.base_url, world.users["staff_a"])
    incident_id = staff.get("/").text.split('data-id="')[1].split('"')[0]
    resolved = staff.post(
        f"/incidents/{incident_id}/resolve",
        data={"csrf_token": csrf_of(staff), "outcome": "safe", "note": "無事\x00"},
    )
    assert resolved.status_code == 422 and MESSAGE in resolved.text
    resolved = staff.post(
        f"/incidents/{incident_id}/resolve",
        data={"csrf_token": csrf_of(staff), "outcome": "safe", "note": "訪問済み\r\n無事"},
    )
    assert resolved.status_code == 303
