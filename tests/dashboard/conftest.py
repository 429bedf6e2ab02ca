"""Dashboard fixtures: a seeded cloud (two municipalities, three offices, staff of every role)
and simulated gateways that talk to the real gateway API over HTTP."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.core.clock import system_clock
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.services import tenancy
from mimamori_dev.services import CloudServer
from mimamori_dev.simgateway import OneShotClient, SimGateway
from mimamori_wire import v1

PASSWORD = "correct horse battery staple"


class DashboardGateway(SimGateway):
    """A simulated gateway whose `post` sends one event now and insists on a 200."""

    def post(self, kind: v1.EventKind, payload: BaseModel | Mapping[str, Any]) -> v1.BatchResult:
        return self.send(self.event(kind, payload))


def issue_code(server: CloudServer, household_id: str) -> str:
    """The same service `mimamori-cloud issue-code` calls, in-process (a CLI run costs ~1 s)."""
    engine = make_engine(server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return tenancy.issue_enrollment_code(
                session, household_id, system_clock(), timedelta(days=7)
            )[1]
    finally:
        engine.dispose()


def enroll(server: CloudServer, household_id: str, *, via_cli: bool = False) -> DashboardGateway:
    if via_cli:
        code = server.cli("issue-code", "--household", household_id).strip().splitlines()[-1]
    else:
        code = issue_code(server, household_id)
    return DashboardGateway.enroll(
        OneShotClient(server.base_url),
        code,
        hardware_id=f"hw-{household_id[:8]}",
        software_version="test",
    )


@dataclass
class World:
    """Two municipalities: M1 with offices A and B, M2 with office C; one household each
    (A has three), and one user of each role."""

    server: CloudServer
    municipalities: dict[str, str] = field(default_factory=dict)
    offices: dict[str, str] = field(default_factory=dict)
    households: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # key -> email

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        path = self.server.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=30) as conn:
            rows = conn.execute(statement, params).fetchall()
            conn.commit()
        return rows


USER_SPECS = {
    # key: (role, office key or None, municipality key or None, name)
    "staff_a": ("staff", "A", None, "佐藤 一郎"),
    "manager_a": ("office_manager", "A", None, "鈴木 局長"),
    "staff_b": ("staff", "B", None, "高橋 二郎"),
    "admin_m1": ("municipality_admin", None, "M1", "田中 市役所"),
    "admin_m2": ("municipality_admin", None, "M2", "伊藤 町役場"),
    "sysadmin": ("system_admin", None, None, "運用 管理者"),
}

RESIDENTS = {
    "A": [
        ("山田 花子", "中央1-2-3"),
        ("小林 トメ", "中央2-5-1"),
        ("加藤 清", "中央3-1-8"),
        ("渡辺 シズ", "中央4-4-4"),
    ],
    "B": [("松本 ハル", "港町4-4-2")],
    "C": [("井上 茂", "山の手5-9-9")],
}


def build_world(server: CloudServer) -> World:
    world = World(server)
    engine = make_engine(server.database_url)
    now = system_clock()
    settings = AuthSettings()
    try:
        with transaction(make_sessionmaker(engine)) as session:
            m1 = tenancy.create_municipality(session, "みどり市")
            m2 = tenancy.create_municipality(session, "あおば町")
            world.municipalities = {"M1": m1.id, "M2": m2.id}
            a = tenancy.create_office(session, m1.id, "みどり中央郵便局")
            b = tenancy.create_office(session, m1.id, "みどり港郵便局")
            c = tenancy.create_office(session, m2.id, "あおば郵便局")
            world.offices = {"A": a.id, "B": b.id, "C": c.id}
            for key, residents in RESIDENTS.items():
                world.households[key] = [
                    tenancy.create_household(
                        session,
                        world.offices[key],
                        name,
                        now,
                        address=address,
                        slots=[tenancy.SlotInput("07:00"), tenancy.SlotInput("19:00")],
                    ).id
                    for name, address in residents
                ]
            password_hash = None
            for key, (role, office, municipality, name) in USER_SPECS.items():
                email = f"{key}@example.jp"
                user = create_user(
                    session,
                    email=email,
                    password=PASSWORD,
                    name=name,
                    role=role,
                    office_id=world.offices.get(office or ""),
                    municipality_id=world.municipalities.get(municipality or ""),
                    settings=settings,
                    password_hash=password_hash,
                )
                password_hash = user.password_hash  # argon2 is slow on purpose: hash once
                world.users[key] = email
    finally:
        engine.dispose()
    return world


@pytest.fixture
def world(cloud_server: CloudServer) -> World:
    return build_world(cloud_server)


def login(base_url: str, email: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)
    token = login_token(client)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return client


def login_token(client: httpx.Client) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    page = client.get(path)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded server for a whole module of read-mostly tests (starting one costs ~2 s)."""
    workdir = tmp_path_factory.mktemp("dashboard-cloud")
    server = CloudServer(f"sqlite:///{workdir}/cloud.db", workdir / "cloud").start()
    try:
        yield build_world(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def clients(shared_world: World) -> Iterator[dict[str, httpx.Client]]:
    made = {
        k: login(shared_world.server.base_url, email) for k, email in shared_world.users.items()
    }
    yield made
    for client in made.values():
        client.close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
