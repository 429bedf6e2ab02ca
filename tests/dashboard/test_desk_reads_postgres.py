"""The staff pages' reads on PostgreSQL (issue 18): every SELECT of the desk, its poll, a
case page and a household page has an index path to each table that grows with households
or time, and the desk's detail reads are bounded by its page, not by the open incidents.

A few thousand rows are seeded so the planner's choices mean something; a planner may still
scan a small table whole when that is cheaper, so each plan is asked for with
`enable_seqscan = off`: a Seq Scan then, or an index scan with no index condition (a whole
index read, as a hashed subplan does), means no index can serve that read at any size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert, text

from cloud.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.chain import DEFAULT_CHAINS
from cloud.migrations import upgrade_head
from cloud.models import (
    Checkin,
    EventRecord,
    FamilyContact,
    Gateway,
    Household,
    Incident,
    Municipality,
    Notification,
    OutboxMail,
    PostOffice,
    Resident,
    ScheduleSlot,
    new_id,
)
from cloud.models.staff import IncidentNote
from cloud.web.routes import desk as desk_route
from tests.dashboard.conftest import PASSWORD

pytestmark = pytest.mark.postgres

HOMES_PER_OFFICE = 1000
OPEN_IN_OFFICE = 60  # more than a desk page
# A bad morning next door: more open incidents than failed mails, so the failed-mail count
# of the municipality's desk starts from the mails.
OPEN_ELSEWHERE = 600
RESOLVED = 3000
CAUSES = ["help_requested", "unwell", "missed_checkin", "gateway_offline", "callback"]
# Configuration and per-staff tables: a handful of rows whatever the number of households.
SMALL_TABLES = {
    "municipalities",
    "post_offices",
    "staff_users",
    "staff_sessions",
    "worker_passes",
    "line_channels",
    "escalation_chains",
}
# Statements whose IN lists the desk builds from the shown incidents or their households.
DETAIL_TABLES = ("notifications", "incident_notes", "residents", "family_contacts")


@dataclass
class Seeded:
    town: str
    office: str
    homes: list[str]
    open_incident: str


def _rows(now: datetime) -> tuple[dict[type, list[dict[str, Any]]], Seeded, dict[str, str]]:
    """Two offices of households with people, slots, gateways, answers and events; open
    incidents in both, a week of resolved ones, notifications, notes and mails (failed ones,
    one a LINE alert with its e-mail fallback, one without)."""
    town, offices = new_id(), [new_id(), new_id()]
    rows: dict[type, list[dict[str, Any]]] = {
        Municipality: [{"id": town, "name": "計画市", "created_at": now}],
        PostOffice: [
            {"id": o, "municipality_id": town, "name": f"局{n}", "created_at": now}
            for n, o in enumerate(offices)
        ],
    }
    homes = {o: [new_id() for _ in range(HOMES_PER_OFFICE)] for o in offices}
    every = [h for o in offices for h in homes[o]]
    for model in (Household, Resident, FamilyContact, ScheduleSlot, Gateway, Checkin, EventRecord):
        rows[model] = []
    for office, ids in homes.items():
        for h in ids:
            rows[Household].append({"id": h, "office_id": office, "created_at": now})
    for n, h in enumerate(every):
        rows[Resident].append({"household_id": h, "name": "見守 花子"})
        rows[FamilyContact].append(
            {"household_id": h, "name": "家族", "email": f"f{n}@example.jp", "priority": 1}
        )
        rows[ScheduleSlot].append({"household_id": h, "name": "morning", "time": "09:00"})
        rows[Gateway].append(
            {
                "household_id": h,
                "token_hash": f"{n:064d}",
                "hardware_id": f"hw{n}",
                "software_version": "1",
                "enrolled_at": now,
            }
        )
        for days in range(3):
            rows[Checkin].append(
                {
                    "household_id": h,
                    "slot_date": date.today() - timedelta(days=days),
                    "slot": "morning",
                    "status": "answered",
                    "intent": "fine",
                    "occurred_at": now - timedelta(days=days),
                    "event_id": new_id(),
                }
            )
            rows[EventRecord].append(
                {
                    "id": new_id(),
                    "household_id": h,
                    "gateway_id": "g",
                    "kind": "checkin.answered",
                    "occurred_at": now - timedelta(days=days),
                    "recorded_at": now,
                    "received_at": now,
                    "payload": {"slot": "morning"},
                }
            )
    incidents = [
        _incident(homes[offices[0]][n], CAUSES[n % 5], now - timedelta(minutes=n))
        for n in range(OPEN_IN_OFFICE)
    ] + [
        _incident(homes[offices[1]][n], CAUSES[n % 5], now - timedelta(minutes=n))
        for n in range(OPEN_ELSEWHERE)
    ]
    for n in range(RESOLVED):
        at = now - timedelta(minutes=3 * n + 1)
        incidents.append(
            _incident(every[n % len(every)], "missed_checkin", at, state="resolved", resolved_at=at)
        )
    rows[Incident] = incidents
    rows[Notification], rows[IncidentNote], rows[OutboxMail] = [], [], []
    for n, incident in enumerate(incidents):
        for step in (0, 1):
            rows[Notification].append(
                {
                    "incident_id": incident["id"],
                    "step": step,
                    "action": "family",
                    "recipient": f"r{n}-{step}@example.jp",
                    "channel": "email",
                    "created_at": now,
                }
            )
        rows[IncidentNote].append(
            {
                "id": new_id(),
                "incident_id": incident["id"],
                "kind": "call",
                "text": "電話しました",
                "author_name": "職員",
                "created_at": now,
            }
        )
        failed = incident["state"] == "open" and n % 10 == 0
        rows[OutboxMail].append(_mail(incident["id"], now, "failed" if failed else "sent"))
    line_failed = _mail(incidents[1]["id"], now, "failed", channel="line", contact="c1", step=3)
    fallback = _mail(incidents[1]["id"], now, "sent", contact="c1", step=3)
    fallback["kind"] = "alert.family.line_fallback"
    rows[OutboxMail] += [line_failed, fallback]
    rows[OutboxMail].append(
        _mail(incidents[2]["id"], now, "failed", channel="line", contact="c2", step=3)
    )
    ids = {"incident": incidents[0]["id"], "household": incidents[0]["household_id"]}
    return rows, Seeded(town, offices[0], homes[offices[0]], incidents[0]["id"]), ids


def _incident(home: str, cause: str, at: datetime, state: str = "open", **extra: Any) -> dict:
    return {
        "id": new_id(),
        "household_id": home,
        "cause": cause,
        "state": state,
        "opened_at": at,
        "chain": DEFAULT_CHAINS[cause],
        "next_step": 1,
        **extra,
    }


def _mail(incident_id: str, at: datetime, status: str, **extra: Any) -> dict[str, Any]:
    channel, contact, step = extra.get("channel", "email"), extra.get("contact"), extra.get("step")
    return {
        "id": new_id(),
        "to_addr": "f@example.jp",
        "subject": "見守りのお知らせ",
        "text_body": "応答がありません。",
        "headers": {},
        "kind": "alert.family",
        "incident_id": incident_id,
        "status": status,
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "channel": channel,
        "contact_id": contact,
        "step": step if step is not None else 0,
    }


@dataclass
class Pages:
    clients: dict[str, TestClient]  # an office's staff, the municipality's admin
    engine: Engine
    seeded: Seeded
    ids: dict[str, str]


@pytest.fixture(scope="module")
def pages(postgres_cluster: Any) -> Iterator[Pages]:
    url = postgres_cluster.create_database()
    upgrade_head(url)
    now = datetime.now(UTC)
    rows, seeded, ids = _rows(now)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as s:
        for model, values in rows.items():
            for lo in range(0, len(values), 5000):
                s.execute(insert(model), values[lo : lo + 5000])
        create_user(
            s,
            email="reads@example.jp",
            password=PASSWORD,
            name="窓口",
            role="staff",
            office_id=seeded.office,
            settings=AuthSettings(),
        )
        create_user(
            s,
            email="city@example.jp",
            password=PASSWORD,
            name="市",
            role="municipality_admin",
            municipality_id=seeded.town,
            settings=AuthSettings(),
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    app = create_app(Settings(database_url=url, secret_key="test-desk-reads"))
    clients = {
        "staff": _signed_in(app, "reads@example.jp"),
        "city": _signed_in(app, "city@example.jp"),
    }
    yield Pages(clients, app.state.mimamori.engine, seeded, ids)
    for client in clients.values():
        client.close()


def _signed_in(app: Any, email: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    signed = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return client


def _selects(pages: Pages, path: str, who: str = "staff") -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def log(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(pages.engine, "before_cursor_execute", log)
    try:
        response = pages.clients[who].get(path)
    finally:
        event.remove(pages.engine, "before_cursor_execute", log)
    assert response.status_code == 200, (path, response.status_code)
    return seen


def _unindexed_reads(node: dict[str, Any], out: list[str]) -> list[str]:
    """Plan nodes reading a growing table whole though sequential scans are disabled: no
    index can serve that read."""
    table = node.get("Relation Name")
    if table and table not in SMALL_TABLES and node["Node Type"] == "Seq Scan":
        out.append(f"Seq Scan on {table}")
    for child in node.get("Plans", []):
        _unindexed_reads(child, out)
    return out


def _plan(engine: Engine, statement: str, parameters: Any, seqscan: bool) -> dict[str, Any]:
    with engine.connect() as conn:
        if not seqscan:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).all()
        conn.rollback()
    return rows[0][0][0]["Plan"]


def _hashed_subplans(node: dict[str, Any], out: list[str]) -> list[str]:
    """A hashed subplan reads its whole input on every execution of the statement."""
    out += re.findall(r"hashed SubPlan \d+", str(node.get("Filter", "")))
    for child in node.get("Plans", []):
        _hashed_subplans(child, out)
    return out


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("staff", "/"),
        ("staff", "/desk/feed"),
        ("staff", "/incidents/{incident}"),
        ("staff", "/households/{household}"),
        ("city", "/"),  # the municipality's desk: the failed-mail count starts from the mails
    ],
)
def test_every_read_of_a_staff_page_has_an_index_path(pages: Pages, who: str, path: str) -> None:
    statements = _selects(pages, path.format(**pages.ids), who)
    assert statements
    for statement, parameters in statements:
        bad = _unindexed_reads(_plan(pages.engine, statement, parameters, seqscan=False), [])
        bad += _hashed_subplans(_plan(pages.engine, statement, parameters, seqscan=True), [])
        assert not bad, (bad, " ".join(statement.split())[:300])


def test_the_desk_reads_details_for_its_page_only_in_a_fixed_number_of_statements(
    pages: Pages,
) -> None:
    """60 open in the office: the cards' people, notes and notifications are read for the 50
    shown and the resolved list, in IN lists no longer than both; 40 more open incidents
    add no statement (no query per card)."""
    bound = desk_route.DESK_PAGE_SIZE + desk_route.RECENT_RESOLVED
    before = _selects(pages, "/")
    for statement, parameters in before:
        table = re.search(r"\bFROM (\w+)", statement)
        if table and table.group(1) in DETAIL_TABLES:
            assert len(parameters) <= bound, (table.group(1), len(parameters))
    page = pages.clients["staff"].get("/").text
    assert page.count('class="incident ') == desk_route.DESK_PAGE_SIZE
    now = datetime.now(UTC)
    more = [
        _incident(h, "callback", now - timedelta(hours=2))
        for h in pages.seeded.homes[OPEN_IN_OFFICE : OPEN_IN_OFFICE + 40]
    ]
    with pages.engine.begin() as conn:
        conn.execute(insert(Incident), more)
    try:
        assert len(_selects(pages, "/")) == len(before)
        assert len(_selects(pages, "/?page=2")) == len(before)
    finally:
        with pages.engine.begin() as conn:
            conn.execute(
                Incident.__table__.delete().where(Incident.id.in_([m["id"] for m in more]))
            )
