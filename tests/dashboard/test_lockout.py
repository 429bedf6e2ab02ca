"""Sign-in throttling cannot be turned against a staff member (issue 13, finding 8): the
lock is per account and client address with backoff, and a real account answers exactly
like an unknown one (status, page, and the work done: one argon2 verification)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cloud.auth import ratelimit, users
from cloud.auth.settings import AuthSettings
from cloud.auth.users import authenticate, create_user
from cloud.db import make_engine
from cloud.models import Base
from mimamori_dev.services import CloudServer
from tests.dashboard.conftest import PASSWORD, login_token, utc

SETTINGS = AuthSettings(login_max_failures=5, login_backoff_s=30, lockout_s=900)
NOW = utc(2026, 11, 27, 1, 0)
REAL, UNKNOWN = "real@example.jp", "nobody@example.jp"
HOME, ELSEWHERE = "10.0.0.1", "203.0.113.66"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/auth.db"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        create_user(
            session, email=REAL, password=PASSWORD, name="r", role="system_admin", settings=SETTINGS
        )
        yield session
    engine.dispose()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every argon2 verification the sign-in does (the expensive step, hence the timing)."""
    seen: list[str | None] = []
    real = users.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        seen.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(users, "verify_password", counting)
    return seen


def _attempts(db: Session, email: str, ip: str, count: int, at=NOW) -> list[str | None]:  # type: ignore[no-untyped-def]
    return [authenticate(db, email, "wrong-password", ip, at, SETTINGS).error for _ in range(count)]


def test_a_stranger_cannot_lock_the_staff_member_out(db: Session) -> None:
    assert _attempts(db, REAL, ELSEWHERE, 8) == ["bad_credentials"] * 4 + ["locked"] * 4
    at_the_desk = authenticate(db, REAL, PASSWORD, HOME, NOW, SETTINGS)
    assert at_the_desk.user is not None and at_the_desk.user.email == REAL
    # The stranger stays locked out, even with the right password.
    assert authenticate(db, REAL, PASSWORD, ELSEWHERE, NOW, SETTINGS).error == "locked"


def test_known_and_unknown_accounts_answer_alike(
    db: Session, verifications: list[str | None]
) -> None:
    real = _attempts(db, REAL, HOME, 7)
    real_work = len(verifications)
    verifications.clear()
    unknown = _attempts(db, UNKNOWN, HOME, 7)
    assert real == unknown == ["bad_credentials"] * 4 + ["locked"] * 3
    # One argon2 verification per attempt until the lock, none while locked, for both.
    assert real_work == len(verifications) == 5
    assert verifications[0] is None  # the unknown account was checked against the dummy hash


def test_backoff_doubles_and_a_success_clears_it(db: Session) -> None:
    assert _attempts(db, REAL, HOME, 5)[-1] == "locked"
    later = NOW + timedelta(seconds=29)
    assert authenticate(db, REAL, PASSWORD, HOME, later, SETTINGS).error == "locked"
    # After 30 s one more try is allowed; failing it locks for 60 s.
    first = NOW + timedelta(seconds=30)
    assert _attempts(db, REAL, HOME, 1, at=first) == ["locked"]
    assert _attempts(db, REAL, HOME, 1, at=first + timedelta(seconds=59)) == ["locked"]
    retry = first + timedelta(seconds=60)
    assert authenticate(db, REAL, PASSWORD, HOME, retry, SETTINGS).user is not None
    # Success starts the count again.
    assert _attempts(db, REAL, HOME, 1, at=retry)[0] == "bad_credentials"


@given(st.integers(min_value=0, max_value=10_000))
def test_backoff_is_monotonic_and_bounded(failures: int) -> None:
    wait = ratelimit.backoff_s(failures, SETTINGS)
    assert 0 <= wait <= SETTINGS.lockout_s
    assert (wait == 0) == (failures < SETTINGS.login_max_failures)
    assert ratelimit.backoff_s(failures + 1, SETTINGS) >= wait


# --- over HTTP, against `mimamori-cloud serve` on both databases ---------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, start_cloud: Callable[..., CloudServer]) -> CloudServer:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    server = start_cloud(database_url=url)
    engine = make_engine(server.database_url)
    with Session(engine) as session, session.begin():
        create_user(
            session,
            email=REAL,
            password=PASSWORD,
            name="r",
            role="system_admin",
            settings=AuthSettings(),
        )
    engine.dispose()
    return server


def _post_login(base_url: str, email: str) -> httpx.Response:
    with httpx.Client(base_url=base_url) as client:
        return client.post(
            "/login",
            data={"email": email, "password": "wrong-password", "csrf_token": login_token(client)},
        )


def _normalised(response: httpx.Response, email: str) -> tuple[int, str]:
    page = response.text.replace(email, "EMAIL")
    page = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value="T"', page)
    page = re.sub(r'name="csrf-token" content="[^"]+"', 'name="csrf-token" content="T"', page)
    return response.status_code, page


def test_http_answers_do_not_tell_a_staff_address_from_an_unknown_one(
    server: CloudServer,
) -> None:
    limit = AuthSettings().login_max_failures
    real = [_normalised(_post_login(server.base_url, REAL), REAL) for _ in range(limit + 1)]
    unknown = [
        _normalised(_post_login(server.base_url, UNKNOWN), UNKNOWN) for _ in range(limit + 1)
    ]
    assert real == unknown
    statuses = [status for status, _ in real]
    assert statuses == [401] * (limit - 1) + [429, 429]
    assert "この端末からのログインを一時的にロック" in real[-1][1]


def _sign_in_via_proxy(base_url: str, forwarded_for: str, password: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        data = {"email": REAL, "password": password, "csrf_token": login_token(client)}
        return client.post("/login", data=data).status_code


@pytest.mark.parametrize("proxy_trusted", [True, False])
def test_the_lock_follows_the_client_address_the_proxy_reports(
    start_cloud: Callable[..., CloudServer], proxy_trusted: bool
) -> None:
    """Behind a trusted proxy (serve --forwarded-allow-ips) the stranger's address is locked,
    not the desk's; from an untrusted peer a forged X-Forwarded-For changes nothing."""
    env = {} if proxy_trusted else {"FORWARDED_ALLOW_IPS": "10.255.255.1"}
    server = start_cloud(env=env)
    engine = make_engine(server.database_url)
    with Session(engine) as session, session.begin():
        create_user(
            session,
            email=REAL,
            password=PASSWORD,
            name="r",
            role="system_admin",
            settings=AuthSettings(),
        )
    engine.dispose()
    limit = AuthSettings().login_max_failures
    stranger = [
        _sign_in_via_proxy(server.base_url, ELSEWHERE, "wrong-password") for _ in range(limit)
    ]
    assert stranger == [401] * (limit - 1) + [429]
    desk = _sign_in_via_proxy(server.base_url, HOME, PASSWORD)
    assert desk == (303 if proxy_trusted else 429)
