"""Desk, today-board, case-page and handover render time at size: one office with 2,000
households (each with a phone and two contacts) and 200 open incidents, against an empty
office in the same run and the same database.

Runs the real app in-process (FastAPI TestClient, SQLite file migrated by Alembic), signed
in as a staff member of each office. Prints one JSON line:
{"bench": "dashboard", "desk_ms": ..., "board_ms": ..., "case_ms": ..., "empty_desk_ms": ...}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import select

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
    PostOffice,
    Resident,
    ScheduleSlot,
)
from cloud.models.staff import IncidentNote
from cloud.web.routes.board import BOARD_PAGE_SIZE

PASSWORD = "benchmark password 1"
CAUSES = ["help_requested", "unwell", "missed_checkin", "gateway_offline", "callback"]
SURNAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤"]
GIVEN = ["花子", "トメ", "清", "シズ", "茂", "ハル", "一郎", "キヨ", "正", "フミ"]


def seed(url: str, households: int, incidents: int) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)
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
        first = create_user(
            s,
            email="big@bench.jp",
            password=PASSWORD,
            name="大",
            role="staff",
            office_id=big.id,
            settings=settings,
        )
        create_user(
            s,
            email="empty@bench.jp",
            password=PASSWORD,
            name="空",
            role="staff",
            office_id=empty.id,
            settings=settings,
            password_hash=first.password_hash,
        )
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    households, incidents, rounds = (400, 40, 5) if args.quick else (2000, 200, 15)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade_head(url)
        seed(url, households, incidents)
        app = create_app(Settings(database_url=url, secret_key="bench"))
        big, empty = signed_in(app, "big@bench.jp"), signed_in(app, "empty@bench.jp")
        rows = big.get("/").text.count('class="incident ')
        assert rows == incidents, rows
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
    figures = {
        "bench": "dashboard",
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
        "quick": args.quick,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
