"""A prefecture's morning: the whole cloud through the 09:00 peak (issue 18).

Scenario a: the default small-town install, `mimamori-cloud serve --with-worker` on SQLite.
Scenario b: PostgreSQL (a throwaway cluster), `serve --workers 2` and two
`mimamori-cloud worker` processes, households spread over offices of 2,000.

Households are seeded with the cloud's own models in bulk (a sample of gateways enrolls for
real: staff-made codes through the admin API, then POST /gateway/enroll); the load generator
(mimamori_dev/loadgen.py) then plays every gateway over HTTP: heartbeats at the configured
interval, life-sign summaries, sensor events, the slot's answers (re-asks, unwell, help)
and a share that never answers or is offline. Time is compressed where it must be: the
slots' asks are spread over `--peak-s` seconds (09:00-09:10 is 600 s) and each deadline is
`--window-s` after its ask (30 + 5 min in life), set on the households' `next_deadline` the
way the worker stores it; the municipality's missed check-in chain mails the family at the
deadline instead of 5 minutes later. Detection, escalation and mail are the real paths: real
worker processes, a real SMTP sink (aiosmtpd).

Figures are from responses, database rows and mails, never from the plan: see
docs/benchmarks.md ("morning") for definitions, docs/scaling.md for the cost model.
Last line: {"bench": "morning", "a": {...}, "b": {...}}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, bindparam, create_engine, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.chain import DEFAULT_CHAINS
from cloud.migrations import upgrade_head
from cloud.models import FamilyContact, Gateway, Household, Incident, Resident, ScheduleSlot
from cloud.services.tenancy import hash_secret
from mimamori_dev.loadgen import (
    HEARTBEAT_BODY,
    Home,
    LoadGenerator,
    Mix,
    Rates,
    percentile,
    verdict,
)
from mimamori_dev.scenario import Admin
from mimamori_dev.services import VENV_BIN, CloudServer, PostgresCluster, SmtpSink, stop_process
from mimamori_dev.simgateway import GATEWAY_PREFIX, OneShotClient, enroll_gateway

ADMIN_TOKEN = "bench-admin-token"
PASSWORD = "benchmark password 1"
TOKYO = ZoneInfo("Asia/Tokyo")
PER_OFFICE = 2000
CHUNK = 5000
# Tables whose growth is per gateway or per household (the rest is configuration, or per
# worker/staff and independent of the number of households).
NOT_PER_HOUSEHOLD = {"worker_passes", "login_attempts", "staff_sessions", "audit_log"}
# Days each table's rows are kept (cloud/core/config.py defaults); tables not pruned count
# for the longest span, 400 days (an estimate: they are small).
RETENTION_DAYS = {"heartbeats": 30, "mail_outbox": 90}
DEFAULT_RETENTION_DAYS = 400


@dataclass(frozen=True)
class Sizes:
    households: int
    enrolled: int  # gateways enrolled for real; the rest seeded with a token hash
    steady_s: float  # heartbeats and sensors only, before the first ask
    peak_s: float  # asks spread over this span (09:00-09:10 compressed)
    window_s: float  # ask -> deadline
    tail_s: float = 5.0  # traffic goes on after the last deadline
    drain_s: float = 120.0  # at most this long for incidents and mails after the traffic
    # Requests in flight at most. A real fleet sends each request on time whatever the cloud
    # is doing (one connection per gateway): a small cap made a slow cloud hold every
    # connection and the generator send answers after their deadlines (2026-11-30, 20,000
    # households, cap 64: 188 s waiting for a connection, 724 answers sent late).
    concurrency: int = 1000
    idle_s: float = 10.0  # no traffic: the deployment's own CPU


# --- seeding -------------------------------------------------------------------------------


def seed_area(admin: Admin, offices: int) -> list[str]:
    """Municipality and offices through the admin API; the family mail at the deadline."""
    muni = admin.call(
        "POST", "/municipalities", json={"name": "朝の市", "email": "city@example.jp"}
    )
    chain = json.loads(json.dumps(DEFAULT_CHAINS["missed_checkin"]))
    for step in chain["steps"]:
        if step["action"] == "family":
            step["after_min"] = 0  # time compression: family at the deadline, not +5 min
    admin.call(
        "PUT", f"/municipalities/{muni['id']}/escalation-chains", json={"missed_checkin": chain}
    )
    return [
        admin.call(
            "POST",
            "/offices",
            json={
                "municipality_id": muni["id"],
                "name": f"朝日{n}郵便局",
                "email": f"office{n}@example.jp",
                "manager_email": f"boss{n}@example.jp",
            },
        )["id"]
        for n in range(offices)
    ]


def family_email(index: int) -> str:
    return f"family-{index}@example.jp"


def seed_households(url: str, office_ids: list[str], count: int, enrolled: int) -> list[tuple]:
    """Households, residents, contacts, slots and (past the first `enrolled`) gateways, in
    bulk with the cloud's models. -> (household id, gateway id or None, token or None)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    out: list[tuple] = []
    try:
        for lo in range(0, count, CHUNK):
            rows: dict[type, list[dict]] = {
                Household: [],
                Resident: [],
                FamilyContact: [],
                ScheduleSlot: [],
                Gateway: [],
            }
            for i in range(lo, min(count, lo + CHUNK)):
                hid = str(uuid.uuid4())
                rows[Household].append(
                    {
                        "id": hid,
                        "office_id": office_ids[i // PER_OFFICE],
                        "address": f"朝日町{i}",
                        "created_at": now,
                    }
                )
                rows[Resident].append({"household_id": hid, "name": f"見守り 花子{i}"})
                rows[FamilyContact].append(
                    {
                        "household_id": hid,
                        "name": f"家族{i}",
                        "email": family_email(i),
                        "priority": 1,
                    }
                )
                slot_time = f"09:{i % 11:02d}"
                rows[ScheduleSlot].append(
                    {"household_id": hid, "name": "morning", "time": slot_time}
                )
                if i < enrolled:
                    out.append((hid, None, None))
                    continue
                token = secrets.token_urlsafe(32)
                gid = str(uuid.uuid4())
                rows[Gateway].append(
                    {
                        "id": gid,
                        "household_id": hid,
                        "token_hash": hash_secret(token),
                        "hardware_id": f"seed-{i}",
                        "software_version": "loadgen",
                        "enrolled_at": now,
                    }
                )
                out.append((hid, gid, token))
            with transaction(sessions) as session:
                for model, values in rows.items():
                    if values:
                        session.execute(insert(model), values)
        with transaction(sessions) as session:
            create_user(
                session,
                email="staff@bench.jp",
                password=PASSWORD,
                name="朝の職員",
                role="staff",
                office_id=office_ids[0],
                settings=AuthSettings(),
            )
    finally:
        engine.dispose()
    return out


def enroll_sample(server: CloudServer, admin: Admin, seeded: list[tuple]) -> list[tuple]:
    """Staff-made codes (admin API) redeemed over HTTP for the households seeded without one."""
    http = OneShotClient(server.base_url)
    out = []
    for n, (hid, gid, token) in enumerate(seeded):
        if gid is None:
            code = admin.call("POST", f"/households/{hid}/enrollment-codes")["code"]
            body = enroll_gateway(http, code, hardware_id=f"real-{n}", software_version="loadgen")
            gid, token = body.gateway_id, body.token
        out.append((hid, gid, token))
    return out


def told_interval(server: CloudServer, token: str) -> float:
    """The heartbeat interval the cloud puts in a gateway's config (what real gateways use)."""
    response = httpx.get(
        f"{server.base_url}{GATEWAY_PREFIX}/config",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return float(response.json()["heartbeat_interval_s"])


def plan_homes(ids: list[tuple], sizes: Sizes, peak_start: float, mix: Mix) -> list[Home]:
    rng = random.Random(5)
    behaviours = mix.behaviours(len(ids))
    slot_date = datetime.fromtimestamp(peak_start, TOKYO).date().isoformat()
    homes = []
    for i, ((hid, gid, token), behaviour) in enumerate(zip(ids, behaviours, strict=True)):
        ask = peak_start + rng.uniform(0, sizes.peak_s)
        homes.append(
            Home(i, hid, gid, token, "morning", slot_date, ask, ask + sizes.window_s, behaviour)
        )
    return homes


def set_deadlines(url: str, homes: list[Home], start: float) -> None:
    """Each household's next deadline is its compressed one; offline gateways last beat an
    hour ago, the rest just now (the beat the generator's first heartbeat continues)."""
    now = datetime.fromtimestamp(start, UTC)
    day = datetime.fromisoformat(homes[0].slot_date).date()
    rows = [
        {
            "hid": h.household_id,
            "deadline": datetime.fromtimestamp(h.deadline, UTC),
            "beat": now - timedelta(hours=1) if h.behaviour == "offline" else now,
            "day": day,
        }
        for h in homes
    ]
    table = Household.__table__
    # Core executemany with the columns' own types (UTC datetimes stored as the cloud does).
    stmt = (
        table.update()
        .where(table.c.id == bindparam("hid"))
        .values(
            next_deadline=bindparam("deadline"),
            next_slot_name="morning",
            next_slot_date=bindparam("day"),
            last_heartbeat_at=bindparam("beat"),
        )
    )
    gateways = Gateway.__table__
    # Gateways were beating before the run (steady state): the heartbeat history rule sees a
    # previous heartbeat, as it would all day.
    beating = (
        gateways.update()
        .where(gateways.c.household_id == bindparam("hid"))
        .values(last_heartbeat_at=bindparam("beat"), last_heartbeat=json.loads(HEARTBEAT_BODY))
    )
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            for lo in range(0, len(rows), CHUNK):
                session.connection().execute(stmt, rows[lo : lo + CHUNK])
                session.connection().execute(beating, rows[lo : lo + CHUNK])
    finally:
        engine.dispose()


# --- what the machine spent -------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and its reaped children), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[1] = ppid; [11..14] = utime, stime, cutime, cstime (proc(5), from field 3 on)
        table[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]) / tick)
    return table


def tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds of the process trees under `roots` (children's reaped time included once:
    a dead child's time is in its parent's cutime/cstime, a live child counts itself)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        total += table[pid][1]
        todo += children.get(pid, [])
    return total


def table_rows(sessions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        names = [
            n
            for n in session.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    if session.get_bind().dialect.name == "postgresql"
                    else "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            ).scalars()
            if n != "alembic_version" and not n.startswith("sqlite_")
        ]
        return {n: session.scalar(text(f'SELECT count(*) FROM "{n}"')) for n in names}


def table_bytes(sessions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Bytes of each table with its indexes (and TOAST on PostgreSQL)."""
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            rows = session.execute(
                text("SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables")
            )
        else:
            rows = session.execute(
                text(
                    "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                    "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
                )
            )
        return {name: int(size) for name, size in rows}


def sequential_reads(sessions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """PostgreSQL: rows read by sequential scans per table, the three largest (a missing
    index shows here first); empty on SQLite."""
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return {}
        rows = session.execute(
            text(
                "SELECT relname, seq_tup_read FROM pg_stat_user_tables "
                "ORDER BY seq_tup_read DESC LIMIT 3"
            )
        )
        return {name: int(n) for name, n in rows}


@dataclass(frozen=True)
class Snapshot:
    at: float
    cpu_s: float
    rows: dict[str, int]
    db_cpu_s: float = 0.0  # of which the database server (PostgreSQL; 0 on SQLite)


@dataclass(frozen=True)
class CpuCost:
    idle_s_per_day: float  # the deployment with no traffic (worker passes), per day
    steady_s_per_household_day: float  # heartbeats, summaries, sensor alerts
    cycle_s_per_household: float  # the morning's check-in: answer, deadline, incident, mail

    @property
    def per_household_day(self) -> float:
        return self.steady_s_per_household_day + self.cycle_s_per_household


def per_household_day(
    snaps: dict[str, Snapshot], traffic_end: float, households: int
) -> tuple[CpuCost, dict[str, float]]:
    """Marginal CPU and rows per household-day: the steady rate (heartbeats, summaries,
    sensor alerts) over the idle rate (worker passes with no traffic), times a day; plus the
    morning's check-in cycle on top (everything else from start to drained, idle time after
    the traffic taken off)."""
    idle, s0, peak, end = snaps["idle"], snaps["start"], snaps["peak"], snaps["end"]
    idle_cpu_rate = (s0.cpu_s - idle.cpu_s) / (s0.at - idle.at)

    def parts(before: float, at_peak: float, after: float, idle_rate: float) -> tuple:
        rate = (at_peak - before) / (peak.at - s0.at)
        cycle = after - before - rate * (traffic_end - s0.at)
        cycle -= idle_rate * max(0.0, end.at - traffic_end)
        return (rate - idle_rate) * 86400 / households, max(0.0, cycle) / households

    rows = {
        t: sum(parts(s0.rows[t], peak.rows[t], end.rows[t], 0.0))
        for t in end.rows
        if t not in NOT_PER_HOUSEHOLD and end.rows[t] > s0.rows.get(t, 0)
    }
    steady, cycle = parts(s0.cpu_s, peak.cpu_s, end.cpu_s, idle_cpu_rate)
    return CpuCost(idle_cpu_rate * 86400, steady, cycle), rows


def bytes_per_household(rows_day: dict[str, float], sizes: dict[str, int], rows: dict[str, int]):  # type: ignore[no-untyped-def]
    """(bytes per household-day, bytes per household once retention has settled, by table)."""
    per_row = {t: sizes.get(t, 0) / rows[t] for t in rows_day if rows.get(t)}
    daily = {t: per_row[t] * n for t, n in rows_day.items() if t in per_row}
    kept = {t: b * RETENTION_DAYS.get(t, DEFAULT_RETENTION_DAYS) for t, b in daily.items()}
    return sum(daily.values()), sum(kept.values()), daily


# --- the desk while the peak runs -------------------------------------------------------------


def staff_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = client.post(
        "/login",
        data={"email": "staff@bench.jp", "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 303, (response.status_code, response.text[:200])
    desk = client.get("/")
    assert desk.status_code == 200 and "csrf_token" not in desk.text[:0], desk.status_code
    return client


def sample_desk(client: httpx.Client, start: float, stop: float, out: list[float]) -> None:
    """GET the desk about once a second from `start` until `stop` (epoch seconds)."""
    time.sleep(max(0.0, start - time.time()))
    while time.time() < stop:
        began = time.perf_counter()
        try:
            ok = client.get("/").status_code == 200
        except httpx.HTTPError:
            ok = False  # a timeout is a failed render, counted with the errors
        out.append((time.perf_counter() - began) * 1000 if ok else float("nan"))
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))


# --- after the traffic: incidents and mails -----------------------------------------------------


def reader_engine(url: str) -> Engine:
    """The benchmark's own reads. On SQLite a plain deferred transaction (WAL readers never
    wait): the cloud's engine begins every transaction IMMEDIATE, which would make the
    benchmark queue for the write lock with the cloud's writers."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 60})
    return make_engine(url)


def wait_for(condition, until: float, every: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    while time.time() < until:
        if condition():
            return True
        time.sleep(every)
    return condition()


def deadline_incidents(sessions) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Household id -> detection lag (deadline -> incident opened) of each deadline incident."""
    with sessions() as session:
        rows = session.execute(
            select(Incident.household_id, Incident.opened_at, Incident.deadline_at).where(
                Incident.cause.in_(("missed_checkin", "gateway_offline"))
            )
        )
        return {hid: (opened - deadline).total_seconds() for hid, opened, deadline in rows}


class FirstMails:
    """Recipient -> epoch seconds the first mail to it arrived at the SMTP sink, read on from
    where the last call stopped (a drain checks twice a second over tens of thousands of
    mails: re-reading them all took a core from the cloud while it was still sending)."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        self.read = 0
        self.first: dict[str, float] = {}

    def __call__(self) -> dict[str, float]:
        # The sink appends the message, then its time: read only pairs both lists hold.
        upto = min(len(self.sink.messages), len(self.sink.arrived_at))
        for n in range(self.read, upto):
            for rcpt in str(self.sink.messages[n]["To"]).split(","):
                self.first.setdefault(rcpt.strip(), self.sink.arrived_at[n])
        self.read = upto
        return self.first


# --- one scenario ----------------------------------------------------------------------------


def run_scenario(
    name: str,
    url: str,
    sizes: Sizes,
    rates: Rates | None,
    mix: Mix,
    workdir: Path,
    roots: list[int],
) -> dict:
    """`rates` None: heartbeats at the interval the cloud tells its gateways."""
    sink = SmtpSink().start()
    env = {
        "MIMAMORI_ADMIN_TOKEN": ADMIN_TOKEN,
        "MIMAMORI_SMTP_HOST": sink.host,
        "MIMAMORI_SMTP_PORT": str(sink.port),
    }
    pg = name == "b"
    server = CloudServer(url, workdir / f"cloud-{name}", env=env, workers=2 if pg else 1)
    workers: list[subprocess.Popen] = []
    logs = []
    engine = reader_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        upgrade_head(url)
        if not pg:
            server = _embedded(server)
        else:
            server.start()
        # Workers start before the seeding: their start-up (imports, first passes) must not
        # fall into the idle sample, which made the steady CPU figures negative.
        if pg:
            for n in range(2):
                log = open(workdir / f"worker-{n}.log", "wb")  # noqa: SIM115 (lives with it)
                logs.append(log)
                workers.append(
                    subprocess.Popen(
                        [str(VENV_BIN / "mimamori-cloud"), "worker", "--interval", "1"],
                        env=server.full_env(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        admin = Admin(httpx.Client(base_url=server.base_url, timeout=60), ADMIN_TOKEN)
        offices = seed_area(admin, -(-sizes.households // PER_OFFICE))
        t_seed = time.perf_counter()
        seeded = seed_households(url, offices, sizes.households, sizes.enrolled)
        ids = enroll_sample(server, admin, seeded)
        seed_s = time.perf_counter() - t_seed
        rates = rates or Rates(heartbeat_s=told_interval(server, ids[0][2]))
        desk = staff_client(server.base_url)
        start = time.time() + 2 + sizes.idle_s
        peak_start = start + sizes.steady_s
        homes = plan_homes(ids, sizes, peak_start, mix)
        set_deadlines(url, homes, start)
        traffic_end = max(h.deadline for h in homes) + sizes.tail_s
        pids = [server.proc.pid, *(w.pid for w in workers), *roots]  # type: ignore[union-attr]
        desk_ms: list[float] = []
        desk_thread = threading.Thread(
            target=sample_desk, args=(desk, peak_start, traffic_end, desk_ms), daemon=True
        )
        desk_thread.start()
        snaps: dict[str, Snapshot] = {}
        snap_thread = threading.Thread(
            target=_snap_at, args=(snaps, "peak", peak_start, pids, roots, sessions), daemon=True
        )
        # The deployment with no traffic at all: its worker passes are a fixed cost.
        snaps["idle"] = snapshot(pids, roots, sessions, rows=False)
        time.sleep(max(0.0, start - time.time() - 0.5))
        snaps["start"] = snapshot(pids, roots, sessions)
        snap_thread.start()
        gen = LoadGenerator(server.base_url, homes, rates, concurrency=sizes.concurrency)
        bench_cpu = time.process_time()  # the generator's thread and the samplers beside it
        stats = gen.run(start, traffic_end)
        bench_cpu = time.process_time() - bench_cpu
        desk_thread.join(timeout=60)
        snap_thread.join(timeout=60)
        silent = [h for h in homes if h.behaviour == "silent"]
        drain_until = time.time() + sizes.drain_s
        missing = {h.household_id for h in homes if h.behaviour in ("silent", "offline")}
        detected = wait_for(lambda: missing <= deadline_incidents(sessions).keys(), drain_until)
        silent_families = {family_email(h.index) for h in silent}
        first_mail_at = FirstMails(sink)
        mailed = wait_for(lambda: silent_families <= first_mail_at().keys(), drain_until)
        snaps["end"] = snapshot(pids, roots, sessions)
        mails = first_mail_at()
        by_household = deadline_incidents(sessions)
        lags = list(by_household.values())
        to_mail = [
            mails[family_email(h.index)] - h.deadline
            for h in silent
            if family_email(h.index) in mails
        ]
        helps = [h for h in homes if h.behaviour == "help"]
        help_to_mail = [
            mails[family_email(h.index)] - stats.sent_at[(h.index, "help")]
            for h in helps
            if family_email(h.index) in mails and (h.index, "help") in stats.sent_at
        ]
        cpu, rows_day = per_household_day(snaps, traffic_end, sizes.households)
        steady_requests = sum(1 for t in stats.starts if t < peak_start)
        steady_cpu = snaps["peak"].cpu_s - snaps["start"].cpu_s
        steady_cpu -= cpu.idle_s_per_day / 86400 * (snaps["peak"].at - snaps["start"].at)
        day_bytes, kept_bytes, by_table = bytes_per_household(
            rows_day, table_bytes(sessions), snaps["end"].rows
        )
        summary = stats.summary()
        good_desk = [ms for ms in desk_ms if ms == ms]
        false_missed = by_household.keys() - missing
        sent_late = answered_late(homes, stats.sent_at, false_missed)
        figures = {
            "households": sizes.households,
            "enrolled_for_real": sizes.enrolled,
            "ingest_p50_ms": summary["p50_ms"],
            "ingest_p99_ms": summary["p99_ms"],
            "requests": summary["requests"],
            "errors": summary["errors"] + (len(desk_ms) - len(good_desk)),
            "error_kinds": dict(stats.errors),
            # How late the generator started requests (planned -> sent), and the answers it
            # sent after their deadline: those make false alarms that are its own.
            "behind_p50_s": summary["behind_p50_s"],
            "behind_p99_s": summary["behind_p99_s"],
            "behind_max_s": summary["behind_max_s"],
            "answers_sent_after_deadline": summary["answers_sent_after_deadline"],
            "connection_wait_s": summary["connection_wait_s"],
            "heartbeat_p99_ms": summary.get("heartbeat_p99_ms", 0.0),
            "checkin_p99_ms": summary.get("checkin_p99_ms", 0.0),
            "commands_done": stats.commands_done,
            "missed_expected": len(missing),
            "missed_detected": len(missing & by_household.keys()),
            # Households that answered, yet their answer came after the deadline: an alarm;
            # of which the generator sent the answer after the deadline (its fault).
            "false_missed": len(false_missed),
            "false_missed_sent_late": sent_late,
            "all_detected": detected,
            "detect_lag_p50_s": percentile(lags, 50),
            "detect_lag_p99_s": percentile(lags, 99),
            "silent": len(silent),
            "silent_mailed": len(to_mail),
            "all_mailed": mailed,
            "deadline_to_mail_p50_s": percentile(to_mail, 50),
            "deadline_to_mail_p99_s": percentile(to_mail, 99),
            "help_to_mail_p99_s": percentile(help_to_mail, 99),
            "mails": len(sink.messages),
            "desk_ms_under_load": percentile(good_desk, 50),
            "desk_p95_ms_under_load": percentile(good_desk, 95),
            "desk_samples": len(desk_ms),
            # Differences of CPU counters: with few requests the idle and steady phases'
            # noise (autovacuum after seeding, other jobs) swamps them: reported as null.
            **cpu_figures(cpu, steady_cpu, steady_requests),
            "steady_requests": steady_requests,
            # Share of the cloud's CPU spent in PostgreSQL during the steady phase.
            "db_cpu_share": round(
                (snaps["peak"].db_cpu_s - snaps["start"].db_cpu_s)
                / max(1e-9, snaps["peak"].cpu_s - snaps["start"].cpu_s),
                2,
            ),
            "idle_cpu_s_per_day": round(cpu.idle_s_per_day),
            "db_bytes_per_household_day": round(day_bytes),
            "db_bytes_per_household_retained": round(kept_bytes),
            "db_bytes_per_household_day_by_table": {t: round(b) for t, b in by_table.items()},
            "rows_per_household_day": {t: round(n, 2) for t, n in rows_day.items()},
            "seq_tup_read_top": sequential_reads(sessions),
            "generator_cpu_s": summary["generator_cpu_s"],
            "generator_cpu_ms_per_request": summary["generator_cpu_ms_per_request"],
            "bench_process_cpu_s": round(bench_cpu, 1),
            "connections_opened": summary["connections_opened"],
            "seed_s": round(seed_s, 1),
            "traffic_s": round(traffic_end - start, 1),
            "heartbeat_s": rates.heartbeat_s,
            "load_avg_1m": round(os.getloadavg()[0], 1),
        }
        return {**verdict(figures), **figures}
    finally:
        engine.dispose()
        for proc in workers:
            stop_process(proc)
        for log in logs:
            log.close()
        server.stop()
        sink.stop()


MIN_STEADY_REQUESTS = 500


def answered_late(homes: list[Home], sent_at: dict[tuple[int, str], float], hids: set) -> int:
    """How many of the households `hids` had their answer sent after their deadline."""
    late = 0
    for home in homes:
        if home.household_id in hids:
            sent = sent_at.get((home.index, "checkin"), sent_at.get((home.index, "no_response")))
            late += sent is not None and sent > home.deadline
    return late


def cpu_figures(cpu: CpuCost, steady_cpu: float, steady_requests: int) -> dict:
    reliable = steady_requests >= MIN_STEADY_REQUESTS
    figures = {
        "cpu_s_per_household_day": round(cpu.per_household_day, 3),
        "cpu_s_steady_per_household_day": round(cpu.steady_s_per_household_day, 3),
        "cpu_ms_checkin_cycle_per_household": round(cpu.cycle_s_per_household * 1000, 1),
        "cpu_ms_per_steady_request": round(steady_cpu / max(1, steady_requests) * 1000, 2),
    }
    return {k: v if reliable else None for k, v in figures.items()}


def _snap_at(snaps: dict, name: str, at: float, pids: list[int], db: list[int], sessions) -> None:  # type: ignore[no-untyped-def]
    time.sleep(max(0.0, at - time.time()))
    snaps[name] = snapshot(pids, db, sessions)


def snapshot(pids: list[int], db: list[int], sessions, rows: bool = True) -> Snapshot:  # type: ignore[no-untyped-def]
    return Snapshot(
        time.time(), tree_cpu_s(pids), table_rows(sessions) if rows else {}, tree_cpu_s(db)
    )


def _embedded(server: CloudServer) -> CloudServer:
    """`serve --with-worker`: the default single-process install (ARCHITECTURE.md section 8)."""
    server.workdir.mkdir(parents=True, exist_ok=True)
    log = open(server.workdir / "cloud.log", "ab")  # noqa: SIM115 (lives with the process)
    server.proc = subprocess.Popen(
        [
            str(VENV_BIN / "mimamori-cloud"),
            "serve",
            "--with-worker",
            "--host",
            server.host,
            "--port",
            str(server.port),
        ],
        env=server.full_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    until = time.monotonic() + 60
    while time.monotonic() < until:
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.proc.poll() is not None:
            raise RuntimeError(f"cloud exited; see {log.name}")
        time.sleep(0.1)
    raise TimeoutError("embedded cloud not healthy after 60 s")


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.datadir / "postmaster.pid").read_text().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, both scenarios < 1 min")
    parser.add_argument("--only", choices=["a", "b"], help="run one scenario")
    parser.add_argument("--households-b", type=int, help="scenario b size (default 100,000)")
    parser.add_argument("--peak-s", type=float, help="asks spread over this many seconds")
    parser.add_argument("--steady-s", type=float, help="heartbeats only, before the asks")
    parser.add_argument(
        "--heartbeat-s",
        type=float,
        help="gateway heartbeat interval (default: the one the cloud tells gateways, 300 s)",
    )
    parser.add_argument("--concurrency", type=int, help="requests in flight at most (1000)")
    args = parser.parse_args()
    if args.quick:  # checks the harness end to end; figures are noisy at this size
        a = Sizes(150, 10, steady_s=2, peak_s=4, window_s=8, tail_s=1, drain_s=20, idle_s=1)
        b = Sizes(400, 10, steady_s=2, peak_s=4, window_s=8, tail_s=1, drain_s=20, idle_s=1)
    else:
        # b: 09:00-09:10 in real time; a small town's asks over 5 minutes. Both scenarios
        # in ~30 min (100,000 households seed in a few minutes).
        a = Sizes(2000, 50, steady_s=120, peak_s=300, window_s=60)
        b = Sizes(100_000, 200, steady_s=120, peak_s=600, window_s=60, drain_s=300)
    if args.households_b:
        b = Sizes(**{**b.__dict__, "households": args.households_b})
    for name in ("peak_s", "steady_s", "concurrency"):
        if getattr(args, name):
            a = Sizes(**{**a.__dict__, name: getattr(args, name)})
            b = Sizes(**{**b.__dict__, name: getattr(args, name)})
    rates = Rates(heartbeat_s=args.heartbeat_s) if args.heartbeat_s else None
    mix = Mix()
    work = Path(tempfile.mkdtemp(prefix="mimamori-bench-morning-"))
    out: dict[str, object] = {"bench": "morning", "quick": args.quick}
    try:
        if args.only in (None, "a"):
            url = f"sqlite:///{work}/morning.db"
            out["a"] = run_scenario("a", url, a, rates, mix, work, [])
            print(f"a: {json.dumps(out['a'])}", file=sys.stderr)
        if args.only in (None, "b"):
            pg_dir = Path(tempfile.mkdtemp(prefix="mimamori-bench-pg-"))
            cluster = PostgresCluster(pg_dir).start()
            try:
                url = cluster.create_database("morning")
                out["b"] = run_scenario("b", url, b, rates, mix, work, [postmaster_pid(cluster)])
            finally:
                cluster.stop()
                shutil.rmtree(pg_dir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
