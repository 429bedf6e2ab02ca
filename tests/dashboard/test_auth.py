"""Sign-in, sessions, CSRF and lockout against the real server."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.app import create_app
from cloud.auth import sessions
from cloud.auth.settings import AuthSettings
from cloud.auth.users import authenticate, create_user
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.models import Base
from mimamori_wire import v1
from tests.dashboard.conftest import PASSWORD, World, csrf_of, enroll, login, login_token, utc


@pytest.fixture(scope="module")
def incident(shared_world: World) -> str:
    household = shared_world.households["A"][1]
    enroll(shared_world.server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "voice"})
    return shared_world.sql("SELECT id FROM incidents WHERE household_id = ?", (household,))[0][0]


def _state(world: World, incident_id: str) -> str:
    return world.sql("SELECT state FROM incidents WHERE id = ?", (incident_id,))[0][0]


def test_csrf_rejects_missing_wrong_and_foreign_tokens(
    shared_world: World, clients: dict[str, httpx.Client], incident: str
) -> None:
    staff = clients["staff_a"]
    url = f"/incidents/{incident}/ack"
    foreign = csrf_of(clients["manager_a"])  # a real token, but of another session
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
        response = staff.post(url, data=data)
        assert response.status_code == 403
        assert "不正な送信" in response.text
    assert staff.post(url, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert _state(shared_world, incident) == "open"
    # The same request with the session's own token (as a header, as fetch() sends it) works.
    ok = staff.post(url, headers={"X-CSRF-Token": csrf_of(staff)})
    assert ok.status_code == 303
    assert _state(shared_world, incident) == "acknowledged"


def test_login_form_needs_its_signed_token(shared_world: World) -> None:
    base = shared_world.server.base_url
    with httpx.Client(base_url=base) as client:
        no_cookie = client.post(
            "/login", data={"email": shared_world.users["staff_a"], "password": PASSWORD}
        )
        assert no_cookie.status_code == 403
        token = login_token(client)
        client.cookies.set("mimamori_prelogin", "another-nonce")
        mismatched = client.post(
            "/login",
            data={
                "email": shared_world.users["staff_a"],
                "password": PASSWORD,
                "csrf_token": token,
            },
        )
        assert mismatched.status_code == 403
        assert "mimamori_session" not in client.cookies


def test_lockout_after_repeated_failures(shared_world: World) -> None:
    base = shared_world.server.base_url
    email = shared_world.users["staff_b"]
    with httpx.Client(base_url=base) as client:
        for _ in range(AuthSettings().login_max_failures - 1):
            bad = client.post(
                "/login",
                data={
                    "email": email,
                    "password": "wrong-password",
                    "csrf_token": login_token(client),
                },
            )
            assert bad.status_code == 401
            assert "正しくありません" in bad.text
        locked = client.post(
            "/login",
            data={"email": email, "password": "wrong-password", "csrf_token": login_token(client)},
        )
        assert locked.status_code == 429 and "ロック" in locked.text
        # Even the right password is refused while the lock lasts.
        right = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": login_token(client)}
        )
        assert right.status_code == 429
    failed = shared_world.sql("SELECT count(*) FROM audit_log WHERE action = 'login.failed'")
    assert failed[0][0] >= AuthSettings().login_max_failures


def test_logout_ends_the_session_server_side(shared_world: World) -> None:
    client = login(shared_world.server.base_url, shared_world.users["admin_m2"])
    cookie = client.cookies["mimamori_session"]
    out = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert out.status_code == 303
    with httpx.Client(base_url=shared_world.server.base_url) as replay:
        replay.cookies.set("mimamori_session", cookie)
        response = replay.get("/board")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=%2Fboard&expired=1")


def test_password_change_ends_other_sessions(shared_world: World) -> None:
    base = shared_world.server.base_url
    email = shared_world.users["sysadmin"]
    first, second = login(base, email), login(base, email)
    short = first.post(
        "/password",
        data={
            "csrf_token": csrf_of(first),
            "current": PASSWORD,
            "new": "short",
            "confirm": "short",
        },
    )
    assert short.status_code == 422 and "10文字以上" in short.text
    new = "a much longer new password"
    done = first.post(
        "/password",
        data={"csrf_token": csrf_of(first), "current": PASSWORD, "new": new, "confirm": new},
    )
    assert done.status_code == 200 and "変更しました" in done.text
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 303
    login(base, email, new)


def test_no_open_redirect_after_login(shared_world: World) -> None:
    with httpx.Client(base_url=shared_world.server.base_url) as client:
        response = client.post(
            "/login",
            data={
                "email": shared_world.users["manager_a"],
                "password": PASSWORD,
                "csrf_token": login_token(client),
                "next": "//evil.example/steal",
            },
        )
        assert response.status_code == 303 and response.headers["location"] == "/"


def test_cookies_are_secure_and_httponly_behind_https(shared_world: World) -> None:
    """The same app and database, configured for its public https address (in-process:
    starting a second server only to change one setting costs seconds)."""
    settings = Settings(
        database_url=shared_world.server.database_url,
        base_url="https://desk.example.jp",
        secret_key="another-secret",
    )
    with TestClient(create_app(settings), base_url="https://desk.example.jp") as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        response = client.post(
            "/login",
            data={
                "email": shared_world.users["admin_m1"],
                "password": PASSWORD,
                "csrf_token": login_token(client),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        session_cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("mimamori_session=")
        )
        flags = {part.strip().lower() for part in session_cookie.split(";")}
        assert {"secure", "httponly", "samesite=lax"} <= flags
        assert client.get("/board").status_code == 200  # and the browser sends it back


def test_idle_and_absolute_session_expiry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/auth.db")
    Base.metadata.create_all(engine)
    settings = AuthSettings(session_idle_s=600, session_max_s=3600)
    factory = make_sessionmaker(engine)
    start = utc(2026, 11, 27, 0, 0)
    with transaction(factory) as db:
        user = create_user(
            db,
            email="x@example.jp",
            password=PASSWORD,
            name="x",
            role="system_admin",
            settings=settings,
        )
        token = sessions.start(db, user, start, settings)

    def alive(at_minutes: float) -> bool:
        with transaction(factory) as db:
            return (
                sessions.lookup(db, token, start + timedelta(minutes=at_minutes), settings)
                is not None
            )

    assert alive(9)  # active use keeps it going...
    assert alive(18)
    assert alive(27)
    assert not alive(59.9 + 10)  # ...idle for over ten minutes ends it
    with transaction(factory) as db:
        token = sessions.start(db, user, start, settings)
    for minute in range(5, 60, 5):
        assert alive(minute)
    assert not alive(60)  # the absolute limit, however active
    engine.dispose()


def test_authenticate_gives_same_answer_for_unknown_email(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/auth.db")
    Base.metadata.create_all(engine)
    settings = AuthSettings()
    with Session(engine) as db, db.begin():
        result = authenticate(
            db, "nobody@example.jp", "whatever-password", "1.2.3.4", utc(2026, 11, 27), settings
        )
        assert result.user is None and result.error == "bad_credentials"
    engine.dispose()


def test_cli_creates_first_admin_and_staff(shared_world: World) -> None:
    server = shared_world.server
    admin_id = server.cli_id(
        "create-admin",
        "--email",
        "First@Example.jp",
        "--password",
        PASSWORD,
        "--name",
        "初代 管理者",
    )
    staff_id = server.cli_id(
        "create-staff",
        "--email",
        "clerk@example.jp",
        "--password",
        PASSWORD,
        "--office",
        shared_world.offices["C"],
        "--name",
        "窓口 係",
    )
    rows = dict(
        shared_world.sql(
            "SELECT id, role FROM staff_users WHERE id IN (?, ?)", (admin_id, staff_id)
        )
    )
    assert rows == {admin_id: "system_admin", staff_id: "staff"}
    login(server.base_url, "first@example.jp")  # e-mail is case-insensitive
    clerk = login(server.base_url, "clerk@example.jp")
    assert "井上 茂" in clerk.get("/board").text
    bad = server.cli(
        "create-staff",
        "--email",
        "x@example.jp",
        "--password",
        "short",
        "--office",
        shared_world.offices["C"],
        "--name",
        "x",
        check=False,
    )
    assert bad == ""  # refused: nothing printed on stdout, the error goes to stderr


def test_admin_creates_staff_in_own_municipality_only(
    shared_world: World, clients: dict[str, httpx.Client]
) -> None:
    admin = clients["admin_m1"]
    token = csrf_of(admin)
    made = admin.post(
        "/users",
        data={
            "csrf_token": token,
            "name": "新人 職員",
            "email": "newbie@example.jp",
            "password": PASSWORD,
            "role": "staff",
            "office": shared_world.offices["B"],
        },
    )
    assert made.status_code == 303
    audit = shared_world.sql(
        "SELECT user_email, detail FROM audit_log WHERE action = 'admin.create_user'"
    )
    assert audit and audit[-1][0] == "admin_m1@example.jp" and "newbie@example.jp" in audit[-1][1]
    assert (
        "松本 ハル" in login(shared_world.server.base_url, "newbie@example.jp").get("/board").text
    )
    foreign = admin.post(
        "/users",
        data={
            "csrf_token": token,
            "name": "越境",
            "email": "cross@example.jp",
            "password": PASSWORD,
            "role": "staff",
            "office": shared_world.offices["C"],
        },
    )
    assert foreign.status_code == 422 and "所属の郵便局を選んでください" in foreign.text
    escalate = admin.post(
        "/users",
        data={
            "csrf_token": token,
            "name": "昇格",
            "email": "root2@example.jp",
            "password": PASSWORD,
            "role": "system_admin",
        },
    )
    assert escalate.status_code == 422 and "権限を選んでください" in escalate.text
    assert not shared_world.sql(
        "SELECT 1 FROM staff_users WHERE email IN ('cross@example.jp', 'root2@example.jp')"
    )


def test_address_ceiling_stops_password_spraying(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/auth.db")
    Base.metadata.create_all(engine)
    settings = AuthSettings(login_max_per_ip=3)
    now = utc(2026, 11, 27, 1, 0)
    with Session(engine) as db, db.begin():
        create_user(
            db,
            email="real@example.jp",
            password=PASSWORD,
            name="r",
            role="system_admin",
            settings=settings,
        )
        for n in range(3):  # three different accounts, one address
            result = authenticate(db, f"guess{n}@example.jp", "x" * 12, "10.0.0.9", now, settings)
            assert result.error == "bad_credentials"
        blocked = authenticate(db, "real@example.jp", PASSWORD, "10.0.0.9", now, settings)
        assert blocked.user is None and blocked.error == "too_many_attempts"
        other = authenticate(db, "real@example.jp", PASSWORD, "10.0.0.10", now, settings)
        assert other.user is not None
        later = now + timedelta(seconds=settings.login_window_s + 1)
        assert authenticate(db, "real@example.jp", PASSWORD, "10.0.0.9", later, settings).user
    engine.dispose()
