"""Staff page render time at size, two scenarios in one run.

SQLite (the default install): desk, today-board, case page and handover of one office with
2,000 households (each with a phone and two contacts) and 200 open incidents, against an
empty office in the same run and database.

PostgreSQL (issue 18, `postgres` in the JSON): 100,000 households in 50 offices (throwaway
cluster as in mimamori_dev/services.py), 5,000 open incidents (1,000 in the measured office:
a bad 09:00) and 100,000 resolved in the last week; the desk, its poll, the board, the
handover, a case, a household and /deliveries/failed as a staff member of that office, and
the desk of a municipality admin (all 50 offices). Per page: median and p95 wall ms and
median CPU ms of N renders, and the rows each page's SELECTs read per table (sequential
scans vs index scans), replayed under EXPLAIN ANALYZE.

Runs the real app in-process (FastAPI TestClient), databases migrated by Alembic. Prints one
JSON line: {"bench": "dashboard", "desk_ms": ..., "postgres": {"pages": {...}}, ...}
`--quick`: 400 households on SQLite, 5,000 on PostgreSQL; `--only sqlite|postgres`.
`--baseline DIR` (PostgreSQL): the same seeded database measured first by the checkout in DIR
(e.g. `git worktree add --detach /tmp/wt-desk <commit>`) at its own migration head, then by
this one at head; `baseline` and `ratio` (this / baseline, per page) in the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session

from cloud.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.chain import DEFAULT_CHAINS
from cloud.migrations import upgrade_head
from cloud.models import (
    Checkin,
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
from cloud.models.staff import IncidentNote, StaffUser
from cloud.web.routes.board import BOARD_PAGE_SIZE

try:  # the desk pages its open incidents since 2026-11-30 (issue 18)
    from cloud.web.routes.desk import DESK_PAGE_SIZE
except ImportError:  # an older checkout, measured for a before/after
    DESK_PAGE_SIZE = 1_000_000

PASSWORD = "benchmark password 1"
CAUSES = ["help_requested", "unwell", "missed_checkin", "gateway_offline", "callback"]
SURNAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤"]
GIVEN = ["花子", "トメ", "清", "シズ", "茂", "ハル", "一郎", "キヨ", "正", "フミ"]


def seed(url: str, households: int, incidents: int) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)  # wall clock: seeds what the desk shows now
    today = now.astimezone(ZoneInfo("Asia/Tokyo")).date()
    settings = AuthSettings()
    with transaction(make_sessionmaker(engine)) as s:
        town = Municipality(name="ベンチ市")
        s.add(town)
        s.flush()
        big = PostOffice(municipality_id=town.id, name="大規模郵便局")
        empty = PostOffice(municipality_id=town.id, name="空の郵便局")
        s.add_all([big, empty])
        s.flush()
        homes = []
        for n in range(households):
            home = Household(
                office_id=big.id,
                address=f"本町{n // 100}-{n % 100}",
                phones=[f"03-1234-{n % 10000:04d}"],
            )
            homes.append(home)
        s.add_all(homes)
        s.flush()
        rows: list[object] = []
        for n, home in enumerate(homes):
            rows.append(
                Resident(household_id=home.id, name=f"{SURNAMES[n % 10]} {GIVEN[(n // 10) % 10]}")
            )
            for k, (relation, roles) in enumerate(
                (("長男", ["family", "emergency"]), ("隣人", ["key_holder"]))
            ):
                rows.append(
                    FamilyContact(
                        household_id=home.id,
                        name=f"{SURNAMES[(n + k) % 10]} {GIVEN[k]}",
                        email=f"c{n}-{k}@example.jp" if k == 0 else None,
                        relationship_label=relation,
                        phones=[f"090-1111-{n % 10000:04d}"],
                        roles=roles,
                        priority=k + 1,
                        notify_alerts=k == 0,
                    )
                )
            rows.append(ScheduleSlot(household_id=home.id, name="morning", time="07:00"))
            rows.append(ScheduleSlot(household_id=home.id, name="evening", time="19:00"))
            beat = now - timedelta(minutes=1 if n % 20 else 90)
            devices = [
                {"device": "door", "battery_pct": 50 if n % 15 else 8},
                {"device": "pir", "silent": n % 33 == 0},
            ]
            rows.append(
                Gateway(
                    household_id=home.id,
                    token_hash=f"{n:064d}",
                    hardware_id=f"hw{n}",
                    software_version="1",
                    enrolled_at=now,
                    last_heartbeat_at=beat,
                    last_heartbeat={"devices": devices},
                )
            )
            if n % 3:
                rows.append(
                    Checkin(
                        household_id=home.id,
                        slot_date=today,
                        slot="morning",
                        status="answered",
                        intent=["fine", "usual", "unwell"][n % 3],
                        confidence=0.9,
                        occurred_at=now,
                        event_id=f"e{n}",
                    )
                )
        s.add_all(rows)
        s.flush()
        for n in range(incidents):
            home = homes[n * (households // max(incidents, 1))]
            cause = CAUSES[n % len(CAUSES)]
            incident = Incident(
                household_id=home.id,
                cause=cause,
                state="open" if n % 4 else "acknowledged",
                opened_at=now - timedelta(minutes=n),
                chain=DEFAULT_CHAINS[cause],
                next_step=2,
                acknowledged_by=None if n % 4 else "staff@bench.jp",
            )
            s.add(incident)
            s.flush()
            s.add_all(
                [
                    Notification(
                        incident_id=incident.id,
                        step=0,
                        action="family",
                        recipient=f"family{n}@example.jp",
                        channel="email",
                        created_at=now,
                    ),
                    Notification(
                        incident_id=incident.id,
                        step=1,
                        action="staff",
                        recipient="office@example.jp",
                        channel="email",
                        created_at=now,
                    ),
                    IncidentNote(
                        incident_id=incident.id,
                        kind="call",
                        text="電話しました",
                        author_name="職員",
                        created_at=now,
                    ),
                ]
            )
        _staff_users(s, settings, big.id, empty.id)
    engine.dispose()


def busiest_incident(url: str) -> str:
    """An open incident of the big office: its case page reads steps, notes and contacts."""
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            return s.scalars(select(Incident.id).order_by(Incident.opened_at)).first() or ""
    finally:
        engine.dispose()


def signed_in(app, email: str) -> TestClient:  # type: ignore[no-untyped-def]
    import re

    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def median_ms(client: TestClient, path: str, rounds: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds per request. CPU time (this process, all threads)
    is the steadier figure on a shared, overloaded VM; wall time is what a user waits."""
    client.get(path)  # warm caches and templates
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(wall), statistics.median(cpu)


# --- PostgreSQL at a prefecture's size (issue 18) -------------------------------------------

PG_PAGES = (
    ("desk", "/"),
    ("desk_feed", "/desk/feed"),
    ("board", "/board"),
    ("handover", "/handover"),
    ("case", "/incidents/{incident}"),
    ("household", "/households/{household}"),
    ("failed_deliveries", "/deliveries/failed"),
)


@dataclass(frozen=True)
class Size:
    households: int
    offices: int
    open_in_office: int  # open incidents of the measured office (a bad morning: hundreds)
    open_elsewhere: int  # spread over the other offices
    resolved: int  # history: resolved incidents over the last week, all offices
    rounds: int


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for lo in range(0, len(rows), size):
        yield rows[lo : lo + size]


def seed_bulk(url: str, size: Size) -> None:
    """Households in offices of equal size with residents, contacts, slots, gateways and
    today's answers; open incidents (with notifications, a note and an alert mail, every
    tenth failed) and a week of resolved ones. Bulk Core inserts of the cloud's models."""
    engine = make_engine(url)
    now = datetime.now(UTC)  # wall clock: seeds what the desk shows now
    today = now.astimezone(ZoneInfo("Asia/Tokyo")).date()
    rng = random.Random(18)
    per_office = size.households // size.offices
    with transaction(make_sessionmaker(engine)) as s:
        town = Municipality(name="ベンチ県")
        s.add(town)
        s.flush()
        offices = [
            PostOffice(municipality_id=town.id, name=f"局{n:02d}") for n in range(size.offices)
        ]
        empty = PostOffice(municipality_id=town.id, name="空の郵便局")
        s.add_all([*offices, empty])
        s.flush()
        office_ids = [o.id for o in offices]
        homes = [new_id() for _ in range(size.households)]
        tables: dict[type, list[dict[str, Any]]] = {
            m: [] for m in (Household, Resident, FamilyContact, ScheduleSlot, Gateway, Checkin)
        }
        for n, hid in enumerate(homes):
            tables[Household].append(
                {
                    "id": hid,
                    "office_id": office_ids[min(n // per_office, size.offices - 1)],
                    "address": f"本町{n // 100}-{n % 100}",
                    "phones": [f"03-1234-{n % 10000:04d}"],
                    "created_at": now,
                }
            )
            tables[Resident].append(
                {"household_id": hid, "name": f"{SURNAMES[n % 10]} {GIVEN[(n // 10) % 10]}"}
            )
            for k, relation in enumerate(("長男", "隣人")):
                tables[FamilyContact].append(
                    {
                        "household_id": hid,
                        "name": f"{SURNAMES[(n + k) % 10]} {GIVEN[k]}",
                        "email": f"c{n}-{k}@example.jp" if k == 0 else None,
                        "relationship_label": relation,
                        "phones": [f"090-1111-{n % 10000:04d}"],
                        "roles": ["family"] if k == 0 else ["key_holder"],
                        "priority": k + 1,
                    }
                )
            for name, time_ in (("morning", "09:00"), ("evening", "19:00")):
                tables[ScheduleSlot].append({"household_id": hid, "name": name, "time": time_})
            tables[Gateway].append(
                {
                    "household_id": hid,
                    "token_hash": f"{n:064d}",
                    "hardware_id": f"hw{n}",
                    "software_version": "1",
                    "enrolled_at": now,
                    "last_heartbeat_at": now - timedelta(minutes=1 if n % 20 else 90),
                    "last_heartbeat": {"devices": [{"device": "door", "battery_pct": 50}]},
                }
            )
            if n % 3:
                tables[Checkin].append(
                    {
                        "household_id": hid,
                        "slot_date": today,
                        "slot": "morning",
                        "status": "answered",
                        "intent": "fine",
                        "occurred_at": now,
                        "event_id": f"e{n}",
                    }
                )
        for model, rows in tables.items():
            for chunk in _chunks(rows):
                s.execute(insert(model), chunk)
        open_homes = homes[: size.open_in_office] + rng.sample(
            homes[per_office:], size.open_elsewhere
        )
        incidents, notifications, notes, mails = [], [], [], []
        for n, hid in enumerate(open_homes):
            cause = CAUSES[n % len(CAUSES)]
            iid = new_id()
            incidents.append(
                {
                    "id": iid,
                    "household_id": hid,
                    "cause": cause,
                    "state": "open" if n % 4 else "acknowledged",
                    "opened_at": now - timedelta(minutes=n % 600),
                    "chain": DEFAULT_CHAINS[cause],
                    "next_step": 2,
                    "acknowledged_by": None if n % 4 else "staff@bench.jp",
                }
            )
            for step, action in ((0, "family"), (1, "staff")):
                notifications.append(
                    {
                        "incident_id": iid,
                        "step": step,
                        "action": action,
                        "recipient": f"family{n}@example.jp" if step == 0 else "office@example.jp",
                        "channel": "email",
                        "created_at": now,
                    }
                )
            notes.append(
                {
                    "id": new_id(),
                    "incident_id": iid,
                    "kind": "call",
                    "text": "電話しました",
                    "author_name": "職員",
                    "created_at": now,
                }
            )
            mails.append(_mail(iid, n, now, "failed" if n % 10 == 0 else "sent"))
        for n in range(size.resolved):
            iid = new_id()
            resolved_at = now - timedelta(seconds=rng.uniform(0, 7 * 86400))
            incidents.append(
                {
                    "id": iid,
                    "household_id": homes[rng.randrange(size.households)],
                    "cause": "missed_checkin",
                    "state": "resolved",
                    "opened_at": resolved_at - timedelta(minutes=20),
                    "chain": DEFAULT_CHAINS["missed_checkin"],
                    "next_step": 1,
                    "resolved_at": resolved_at,
                    "outcome": "answered_late",
                    "note": "応答がありました（自動）",
                }
            )
            notifications.append(
                {
                    "incident_id": iid,
                    "step": 0,
                    "action": "family",
                    "recipient": f"r{n}@example.jp",
                    "channel": "email",
                    "created_at": resolved_at,
                }
            )
            mails.append(_mail(iid, n, resolved_at, "sent"))
        for model, rows in (
            (Incident, incidents),
            (Notification, notifications),
            (IncidentNote, notes),
            (OutboxMail, mails),
        ):
            for chunk in _chunks(rows):
                s.execute(insert(model), chunk)
        settings = AuthSettings()
        first = _staff_users(s, settings, office_ids[0], empty.id)
        create_user(
            s,
            email="city@bench.jp",
            password=PASSWORD,
            name="市",
            role="municipality_admin",
            municipality_id=town.id,
            settings=settings,
            password_hash=first.password_hash,
        )
    with engine.connect() as conn:  # planner statistics, as autovacuum would have them
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def _staff_users(
    s: Session, settings: AuthSettings, big_office: str, empty_office: str
) -> StaffUser:
    """The desk's two staff: one on the busy office, one on an empty one (same password hash:
    argon2 once)."""
    first = create_user(
        s,
        email="big@bench.jp",
        password=PASSWORD,
        name="大",
        role="staff",
        office_id=big_office,
        settings=settings,
    )
    create_user(
        s,
        email="empty@bench.jp",
        password=PASSWORD,
        name="空",
        role="staff",
        office_id=empty_office,
        settings=settings,
        password_hash=first.password_hash,
    )
    return first


def _mail(incident_id: str, n: int, at: datetime, status: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "to_addr": f"family{n}@example.jp",
        "subject": "見守りのお知らせ",
        "text_body": "応答がありません。",
        "headers": {},
        "kind": "alert.family",
        "incident_id": incident_id,
        "status": status,
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "sent_at": at if status == "sent" else None,
        "last_error": "smtp_5xx: 550 no such user" if status == "failed" else None,
        "step": 0,
    }


class StatementLog:
    """The SELECTs a request runs (before_cursor_execute on the app's engine), to be replayed
    under EXPLAIN ANALYZE: which tables a page reads, and how (scan kind, rows read)."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if self.on and statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))


def rows_read(url: str, statements: list[tuple[str, Any]]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE) each statement: rows read per table, split into sequential scans
    ('seq') and index scans ('index', rows the index led to, before any filter); 'db_ms':
    the statements' execution times added up, each the best of three (the database's share
    of a render, which the app's CPU ms leave out, parallel workers included)."""
    import psycopg

    totals: dict[str, dict[str, int]] = {}
    slowest: list[tuple[float, str, str]] = []
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    db_ms = 0.0
    with psycopg.connect(dsn) as conn:
        for statement, parameters in statements:
            plan = _best_plan(conn, statement, parameters)
            db_ms += plan["Execution Time"]
            scans: list[str] = []
            _walk(plan["Plan"], totals, scans)
            slowest.append(
                (plan["Execution Time"], " ".join(statement.split())[:160], ",".join(scans))
            )
        conn.rollback()
    slowest.sort(reverse=True)
    return {
        "tables": totals,
        "seq_rows": sum(t.get("seq", 0) for t in totals.values()),
        "index_rows": sum(t.get("index", 0) for t in totals.values()),
        "statements": len(statements),
        "db_ms": round(db_ms, 1),
        "slowest": [
            {"ms": round(ms, 2), "sql": sql, "scans": scans} for ms, sql, scans in slowest[:3]
        ],
    }


def _best_plan(conn: Any, statement: str, parameters: Any, tries: int = 3) -> dict[str, Any]:
    explain = "EXPLAIN (ANALYZE, FORMAT JSON) " + statement
    plans = [conn.execute(explain, parameters).fetchone()[0][0] for _ in range(tries)]
    return min(plans, key=lambda plan: plan["Execution Time"])


def _walk(node: dict[str, Any], totals: dict[str, dict[str, int]], scans: list[str]) -> None:
    relation = node.get("Relation Name")
    if relation:
        kind = "seq" if node["Node Type"] == "Seq Scan" else "index"
        read = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get(
            "Actual Loops", 1
        )
        bucket = totals.setdefault(relation, {})
        bucket[kind] = bucket.get(kind, 0) + int(read)
        scans.append(f"{node['Node Type']}:{relation}:{int(read)}")
    for child in node.get("Plans", []):
        _walk(child, totals, scans)


def timed(client: TestClient, path: str, rounds: int) -> dict[str, float]:
    """Median and p95 wall milliseconds of `rounds` renders (after one warm-up), and the
    median CPU milliseconds of this process (the app runs in-process)."""
    client.get(path)
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    wall.sort()
    return {
        "ms": round(statistics.median(wall), 1),
        "p95_ms": round(wall[min(len(wall) - 1, round(0.95 * (len(wall) - 1)))], 1),
        "cpu_ms": round(statistics.median(cpu), 1),
    }


def measure_checkout(checkout: Path, url: str, rounds: int) -> dict[str, Any]:
    """`bench/dashboard.py --url` of another checkout (its own code, this database), after
    taking the database down to that checkout's migration head."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from cloud.migrations import alembic_config

    head = ScriptDirectory(str(checkout / "cloud" / "migrations")).get_current_head()
    command.downgrade(alembic_config(url), head)
    _analyze(url)
    command_line = [sys.executable, str(checkout / "bench" / "dashboard.py"), "--url", url]
    done = subprocess.run(
        [*command_line, "--rounds", str(rounds)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    upgrade_head(url)
    _analyze(url)
    return {"revision": head, **figures}


def _analyze(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def ratios(after: dict[str, Any], before: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per page: this checkout's median wall and CPU ms over the baseline's."""
    out = {}
    for name, page in after["pages"].items():
        old = before["pages"].get(name)
        if old and old["ms"] and old["cpu_ms"]:
            out[name] = {
                "ms": round(page["ms"] / old["ms"], 2),
                "cpu_ms": round(page["cpu_ms"] / old["cpu_ms"], 2),
            }
    return out


def run_postgres(size: Size, baseline: Path | None = None) -> dict[str, Any]:
    from mimamori_dev.services import PostgresCluster

    # Its own directory (not a TemporaryDirectory, mode 700): start() hands it to the
    # postgres user when we run as root.
    workdir = Path(tempfile.mkdtemp(prefix="mimamori-bench-dashboard-"))
    cluster = PostgresCluster(workdir).start()
    try:
        url = cluster.create_database("dashboard")
        upgrade_head(url)
        started = time.perf_counter()
        seed_bulk(url, size)
        seed_s = time.perf_counter() - started
        before = measure_checkout(baseline, url, size.rounds) if baseline else None
        measured = measure_pages(url, size.rounds)
        if before:
            measured.update(baseline=before, ratio=ratios(measured, before))
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "households": size.households,
        "offices": size.offices,
        "open_incidents": size.open_in_office + size.open_elsewhere,
        "open_in_office": size.open_in_office,
        "resolved_incidents": size.resolved,
        "seed_s": round(seed_s, 1),
        **measured,
    }


def measure_pages(url: str, rounds: int) -> dict[str, Any]:
    """Every staff page of a database seeded by seed_bulk: timed renders, then one more
    render whose SELECTs are replayed under EXPLAIN ANALYZE. `--url` runs only this, so two
    checkouts can be measured against the same database (before/after)."""
    app = create_app(Settings(database_url=url, secret_key="bench"))
    log = StatementLog(app.state.mimamori.engine)
    staff, city = signed_in(app, "big@bench.jp"), signed_in(app, "city@bench.jp")
    empty = signed_in(app, "empty@bench.jp")
    ids = _sample_ids(url)
    pages: dict[str, Any] = {}
    for name, client, template in [
        *((name, staff, template) for name, template in PG_PAGES),
        ("desk_municipality", city, "/"),
        ("empty_desk", empty, "/"),
    ]:
        path = template.format(**ids)
        pages[name] = timed(client, path, rounds)
        log.statements, log.on = [], True
        client.get(path)
        log.on = False
        pages[name]["read"] = rows_read(url, log.statements)
    cards = staff.get("/").text.count('class="incident ')
    app.state.mimamori.engine.dispose()
    return {
        "desk_cards": cards,
        # Against the empty office's desk in the same run and database.
        "desk_ratio": round(pages["desk"]["ms"] / pages["empty_desk"]["ms"], 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "pages": pages,
    }


def _sample_ids(url: str) -> dict[str, str]:
    """An open incident of the measured office and its household."""
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            office = s.scalar(select(PostOffice.id).where(PostOffice.name == "局00"))
            incident, household = s.execute(
                select(Incident.id, Incident.household_id)
                .join(Household, Household.id == Incident.household_id)
                .where(Household.office_id == office, Incident.state != "resolved")
                .order_by(Incident.opened_at)
                .limit(1)
            ).one()
            return {"incident": incident, "household": household}
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--url", help="measure the pages of this seeded PostgreSQL database")
    parser.add_argument("--rounds", type=int, help="renders per page (PostgreSQL)")
    parser.add_argument("--baseline", type=Path, help="checkout measured first (PostgreSQL)")
    args = parser.parse_args()
    if args.url:
        print(json.dumps({"bench": "dashboard", **measure_pages(args.url, args.rounds or 5)}))
        return
    figures: dict[str, Any] = {"bench": "dashboard"}
    if args.only != "postgres":
        figures.update(run_sqlite(args.quick))
    if args.only != "sqlite":
        size = (
            Size(5_000, 5, 150, 350, 5_000, 3)
            if args.quick
            else Size(100_000, 50, 1_000, 4_000, 100_000, 15)
        )
        if args.rounds:
            size = dataclasses.replace(size, rounds=args.rounds)
        figures["postgres"] = run_postgres(size, args.baseline)
    figures["quick"] = args.quick
    print(json.dumps(figures, ensure_ascii=False))


def run_sqlite(quick: bool) -> dict[str, Any]:
    """One office of 2,000 households and 200 open incidents on SQLite (the default
    install), against an empty office in the same database."""
    households, incidents, rounds = (400, 40, 5) if quick else (2000, 200, 15)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade_head(url)
        seed(url, households, incidents)
        app = create_app(Settings(database_url=url, secret_key="bench"))
        big, empty = signed_in(app, "big@bench.jp"), signed_in(app, "empty@bench.jp")
        rows = big.get("/").text.count('class="incident ')
        assert rows == min(incidents, DESK_PAGE_SIZE), rows  # the first page of the desk
        board_rows = sum(
            big.get(f"/board?page={n}").text.count("data-household=")
            for n in range(1, -(-households // BOARD_PAGE_SIZE) + 1)
        )
        assert board_rows == households, board_rows  # every household is on some page
        desk, desk_cpu = median_ms(big, "/", rounds)
        board, board_cpu = median_ms(big, "/board", rounds)
        empty_desk, _ = median_ms(empty, "/", rounds)
        empty_board, _ = median_ms(empty, "/board", rounds)
        case_path = "/incidents/" + busiest_incident(url)
        case, case_cpu = median_ms(big, case_path, rounds)
        handover, _ = median_ms(big, "/handover", rounds)
    return {
        "desk_ms": round(desk, 1),
        "board_ms": round(board, 1),
        "empty_desk_ms": round(empty_desk, 1),
        "empty_board_ms": round(empty_board, 1),
        "desk_cpu_ms": round(desk_cpu, 1),
        "board_cpu_ms": round(board_cpu, 1),
        "case_ms": round(case, 1),
        "case_cpu_ms": round(case_cpu, 1),
        "handover_ms": round(handover, 1),
        "case_ratio": round(case / empty_desk, 1),
        "desk_ratio": round(desk / empty_desk, 1),
        "board_ratio": round(board / empty_board, 1),
        "households": households,
        "open_incidents": incidents,
    }


if __name__ == "__main__":
    main()
