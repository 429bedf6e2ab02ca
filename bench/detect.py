"""Detection benchmark on PostgreSQL: one detection pass when 1,000 households are due (1% of
100,000), with 100,000 and with 1,000,000 households in the table (--quick: 50,000 and
100,000), against a naive full scan
of all households in the same run; and detection lag (deadline -> incident) p99 with the
worker running at its default 1 s interval.

Last line: {"bench": "detect", "households": ..., "pass_ms": ..., "full_scan_ms": ...,
            "lag_p99_s": ..., "pass_ms_1m": ...}
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import delete, func, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloud.core.clock import system_clock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.detection.runner import detect_due
from cloud.escalation.steps import Notifier
from cloud.migrations import upgrade_head
from cloud.models import Checkin, Household, Incident, Notification
from cloud.schedule import SlotSpec, slot_deadline
from cloud.services import tenancy
from cloud.worker import Worker
from mimamori_dev.services import PostgresCluster

DUE = 1000
STALE = timedelta(minutes=10)
TOKYO = ZoneInfo("Asia/Tokyo")


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def seed(dsn: str, office_id: str, start: int, count: int, now: datetime) -> None:
    """Households with one 08:00 slot whose next deadline is tomorrow (none due), each with
    its gateway."""
    tomorrow = (now + timedelta(days=1)).astimezone(TOKYO).date()
    deadline = slot_deadline(SlotSpec("morning", "08:00"), tomorrow, TOKYO).deadline
    ids = [str(uuid.UUID(int=i + 1)) for i in range(start, start + count)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        _copy(
            conn,
            "households",
            [
                "id",
                "office_id",
                "timezone",
                "language",
                "active",
                "config_version",
                "next_deadline",
                "next_slot_name",
                "next_slot_date",
                "last_heartbeat_at",
                "created_at",
            ],
            (
                (i, office_id, "Asia/Tokyo", "ja", True, 1, deadline, "morning", tomorrow, now, now)
                for i in ids
            ),
        )
        _copy(
            conn,
            "schedule_slots",
            ["id", "household_id", "name", "time", "window_min", "grace_min"],
            ((str(uuid.uuid4()), i, "morning", "08:00", 30, 5) for i in ids),
        )
        # Each household has its enrolled gateway: one without is not watched (未設置).
        _copy(
            conn,
            "gateways",
            ["id", "household_id", "token_hash", "hardware_id", "software_version", "enrolled_at"],
            ((str(uuid.uuid4()), i, uuid.uuid4().hex * 2, "bench", "bench", now) for i in ids),
        )
        conn.execute("VACUUM ANALYZE households")
        conn.execute("VACUUM ANALYZE schedule_slots")
        conn.execute("VACUUM ANALYZE gateways")


def make_due(
    sessions,
    now: datetime,
    count: int,
    offset: int = 0,  # type: ignore[no-untyped-def]
    spread_s: float = 0.0,
) -> list[str]:
    """Move `count` households' deadlines to now (or spread over the next spread_s seconds);
    half of them answered."""
    ids = [str(uuid.UUID(int=i + 1)) for i in range(offset, offset + count)]
    today = now.astimezone(TOKYO).date()
    with transaction(sessions) as session:
        session.execute(delete(Notification))
        session.execute(delete(Incident))
        session.execute(delete(Checkin))
        for n, hid in enumerate(ids):
            at = (
                now - timedelta(seconds=1)
                if not spread_s
                else now + timedelta(seconds=spread_s * n / count)
            )
            session.execute(
                update(Household)
                .where(Household.id == hid)
                .values(
                    next_deadline=at,
                    next_slot_name="morning",
                    next_slot_date=today,
                    last_heartbeat_at=at - timedelta(minutes=1),
                )
            )
        if not spread_s:
            session.add_all(
                Checkin(
                    household_id=hid,
                    slot_date=today,
                    slot="morning",
                    status="answered",
                    intent="fine",
                    occurred_at=now,
                    event_id=str(uuid.uuid4()),
                )
                for hid in ids[::2]
            )
    return ids


def timed_pass(sessions, notifier) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    handled = detect_due(sessions, notifier.signer, system_clock, STALE)
    return (time.perf_counter() - start) * 1000, handled


def full_scan(sessions, now: datetime) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """The naive detector: read every household's schedule and today's answers, compute."""
    start = time.perf_counter()
    today = now.astimezone(TOKYO).date()
    with sessions() as session:
        answered = {
            (r.household_id, r.slot)
            for r in session.execute(
                select(Checkin.household_id, Checkin.slot).where(Checkin.slot_date == today)
            )
        }
        due = 0
        rows = session.execute(
            text(
                "SELECT h.id, h.timezone, s.name, s.time, s.window_min, s.grace_min "
                "FROM households h JOIN schedule_slots s ON s.household_id = h.id WHERE h.active"
            )
        ).yield_per(20000)
        zones: dict[str, ZoneInfo] = {}
        for hid, zone, name, hhmm, window, grace in rows:
            tz = zones.setdefault(zone, ZoneInfo(zone))
            d = slot_deadline(SlotSpec(name, hhmm, window, grace), today, tz)
            if d.deadline <= now and (hid, name) not in answered:
                due += 1
    return (time.perf_counter() - start) * 1000, due


def measure_passes(sessions, notifier, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        make_due(sessions, datetime.now(UTC), DUE)
        ms, handled = timed_pass(sessions, notifier)
        assert handled == DUE, handled
        times.append(ms)
    return statistics.median(times)


def measure_lag(settings: Settings, sessions, count: int, spread_s: float) -> float:  # type: ignore[no-untyped-def]
    make_due(sessions, datetime.now(UTC) + timedelta(seconds=1), count, spread_s=spread_s)
    worker = Worker(settings, system_clock)
    stop = threading.Event()
    # The worker as `mimamori-cloud worker` runs it, at its default 1 s interval.
    thread = threading.Thread(target=worker.run_until, args=(stop, 1.0))
    thread.start()
    time.sleep(spread_s + 1)
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        with sessions() as session:
            if session.scalar(select(func.count()).select_from(Incident)) >= count:
                break
        time.sleep(0.5)
    stop.set()
    thread.join()
    worker.close()
    with sessions() as session:
        lags = [
            (i.opened_at - i.deadline_at).total_seconds() for i in session.scalars(select(Incident))
        ]
    assert len(lags) == count, (len(lags), count)
    return statistics.quantiles(lags, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50k and 100k households (< 1 min)")
    args = parser.parse_args()
    small, large = (50_000, 100_000) if args.quick else (100_000, 1_000_000)
    repeats = 3 if args.quick else 5
    pg_dir = Path(tempfile.mkdtemp(prefix="mimamori-bench-pg-"))
    cluster = PostgresCluster(pg_dir).start()
    try:
        url = cluster.create_database("detect")
        upgrade_head(url)
        settings = Settings(database_url=url, secret_key="bench", smtp_port=9)
        notifier = Notifier.from_settings(settings)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        with transaction(sessions) as session:
            muni = tenancy.create_municipality(session, "ベンチ市")
            office_id = tenancy.create_office(session, muni.id, "ベンチ局").id
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        seed(dsn, office_id, 0, small, now)
        pass_ms = measure_passes(sessions, notifier, repeats)
        scan_ms, _ = full_scan(sessions, datetime.now(UTC))
        lag_p99 = measure_lag(
            settings, sessions, 200 if args.quick else 1000, spread_s=5 if args.quick else 20
        )
        seed(dsn, office_id, small, large - small, now)
        pass_ms_large = measure_passes(sessions, notifier, repeats)
        scan_ms_large, _ = full_scan(sessions, datetime.now(UTC))
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
    print(
        f"{small} households: pass {pass_ms:.0f} ms, full scan {scan_ms:.0f} ms; "
        f"{large}: pass {pass_ms_large:.0f} ms, full scan {scan_ms_large:.0f} ms",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "detect",
                "households": small,
                "due": DUE,
                "pass_ms": round(pass_ms, 1),
                "full_scan_ms": round(scan_ms, 1),
                "scan_over_pass": round(scan_ms / pass_ms, 1),
                "lag_p99_s": round(lag_p99, 2),
                "pass_ms_1m": round(pass_ms_large, 1),
                "full_scan_ms_1m": round(scan_ms_large, 1),
                "households_large": large,
                "pass_ratio_large_vs_small": round(pass_ms_large / pass_ms, 2),
            }
        )
    )


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = 1 << 16
    main()
