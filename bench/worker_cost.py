"""What the worker spends per due household deadline on PostgreSQL (issue 18), by outcome:

- answered: the resident answered in time; the worker only moves the deadline on.
- silent: no answer (2 % of a morning): incident, re-prompt, family mail, staff mail.
- unwell: answered "unwell" (2 %): the API opened the incident; the worker runs its chain
  (family and staff at once).

Each group of `--due` households is made due at the same deadline and handled by the real
passes (detect_due, escalate_due at the deadline and at +5 and +15 min of a settable clock,
send_due to an aiosmtpd sink). Figures per household: CPU ms of this process (the worker's
Python) plus the PostgreSQL cluster (from /proc), and SQL statements (cursor executes,
SAVEPOINTs included). Then mail throughput: `--mails` queued alert mails sent by one and by
two worker processes (mails/s, wall clock from the first mail at the sink to the last; CPU
of the sending loops and of PostgreSQL per mail).

Baseline in the same run: mail claimed one at a time (`claim_batch` 1, as before 2026-11-30
session 6) against the sender's CLAIM_BATCH: a silent group each (`silent_claim_1`,
`silent`) and each mail-rate run twice (`..._claim_1` beside it); `*_ratio` = batched /
one at a time.

The engine is the worker's own (cloud.worker.worker_engine). `--baseline <checkout>` first
runs that checkout's copy of this file (PYTHONPATH=<checkout>; make it before a change with
`git worktree add --detach /tmp/wt-worker HEAD`) with the same sizes, in the same run, then
this one: `baseline` holds its figures and `vs_baseline` the ratios after / before.

Last line: {"bench": "worker_cost", "answered": {...}, "silent": {...}, "unwell": {...},
            "silent_claim_1": {...}, "mails_per_s_1": ..., "mails_per_s_1_claim_1": ...,
            "worker_cpu_ms_per_mail_1": ..., "db_cpu_ms_per_mail_1": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_sessionmaker, transaction
from cloud.detection.runner import detect_due
from cloud.escalation.runner import escalate_due
from cloud.escalation.steps import Notifier
from cloud.mail.sender import CLAIM_BATCH, send_due
from cloud.migrations import upgrade_head
from cloud.models import (
    Checkin,
    FamilyContact,
    Gateway,
    Household,
    OutboxMail,
    Resident,
    ScheduleSlot,
)
from cloud.services import incidents, tenancy
from cloud.worker import worker_engine
from mimamori_dev.services import PostgresCluster, SmtpSink

TOKYO = ZoneInfo("Asia/Tokyo")
STALE = timedelta(minutes=10)
# 09:35 in Tokyo on 2026-11-30: the 09:00 slot's deadline (window 30 + grace 5).
DEADLINE = datetime(2026, 11, 30, 0, 35, tzinfo=UTC)
DAY = date(2026, 11, 30)


def pg_cpu_s(cluster: PostgresCluster) -> float:
    """CPU seconds of the cluster's processes (postmaster and its children) from /proc."""
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(entry) == postmaster or int(fields[1]) == postmaster:
            total += sum(int(v) for v in fields[11:15]) / tick
    return total


def sink_cpu_s(sink: SmtpSink) -> float:
    """CPU seconds of the sink's thread (it runs in this process, and is not the worker)."""
    thread = sink._controller._thread  # type: ignore[union-attr]
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


class Meter:
    """CPU (this process without the SMTP sink, + PostgreSQL) and statements over a block."""

    def __init__(self, engine, cluster: PostgresCluster, sink: SmtpSink) -> None:  # type: ignore[no-untyped-def]
        self.cluster, self.sink = cluster, sink
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args: object) -> None:
        self.statements += 1

    def measure(self, work: Callable[[], object]) -> dict[str, float]:
        s0, c0, p0 = self.statements, time.process_time(), pg_cpu_s(self.cluster)
        k0 = sink_cpu_s(self.sink)
        work()
        sink = sink_cpu_s(self.sink) - k0
        return {
            "statements": self.statements - s0,
            "cpu_s": time.process_time() - c0 - sink,
            "db_cpu_s": pg_cpu_s(self.cluster) - p0,
            "sink_cpu_s": sink,
        }


def seed(sessions, office_id: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` households like the morning's: a resident, a family contact with e-mail, one
    09:00 slot, an enrolled gateway; next deadline tomorrow (none due)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    later = DEADLINE + timedelta(days=1)
    with transaction(sessions) as session:
        rows = {
            Household: [
                {
                    "id": hid,
                    "office_id": office_id,
                    "address": f"朝日町{n}",
                    "next_deadline": later,
                    "next_slot_name": "morning",
                    "next_slot_date": DAY + timedelta(days=1),
                    "last_heartbeat_at": DEADLINE,
                    "created_at": DEADLINE,
                }
                for n, hid in enumerate(ids)
            ],
            Resident: [{"household_id": h, "name": f"見守り 花子{n}"} for n, h in enumerate(ids)],
            FamilyContact: [
                {"household_id": h, "name": f"家族{n}", "email": f"f{n}@example.jp", "priority": 1}
                for n, h in enumerate(ids)
            ],
            ScheduleSlot: [{"household_id": h, "name": "morning", "time": "09:00"} for h in ids],
            Gateway: [
                {
                    "id": str(uuid.uuid4()),
                    "household_id": h,
                    "token_hash": uuid.uuid4().hex * 2,
                    "hardware_id": "bench",
                    "software_version": "bench",
                    "enrolled_at": DEADLINE,
                }
                for h in ids
            ],
        }
        for model, values in rows.items():
            session.execute(insert(model), values)
    return ids


def make_due(sessions, ids: list[str], outcome: str, clock: SettableClock) -> None:  # type: ignore[no-untyped-def]
    """The group's deadline is DEADLINE; answers (and the API's unwell incident) as the API
    would have stored them before it."""
    with transaction(sessions) as session:
        session.execute(
            update(Household)
            .where(Household.id.in_(ids))
            .values(next_deadline=DEADLINE, next_slot_name="morning", next_slot_date=DAY)
        )
        if outcome == "silent":
            return
        intent = "unwell" if outcome == "unwell" else "fine"
        session.execute(
            insert(Checkin),
            [
                {
                    "household_id": h,
                    "slot_date": DAY,
                    "slot": "morning",
                    "status": "answered",
                    "intent": intent,
                    "occurred_at": DEADLINE - timedelta(minutes=20),
                    "event_id": str(uuid.uuid4()),
                }
                for h in ids
            ],
        )
        if outcome == "unwell":
            for household in session.scalars(select(Household).where(Household.id.in_(ids))):
                incidents.open_incident(
                    session, household, "unwell", DEADLINE - timedelta(minutes=20)
                )


def run_group(
    outcome: str,
    ids: list[str],
    sessions,  # type: ignore[no-untyped-def]
    meter: Meter,
    settings: Settings,
    clock: SettableClock,
    claim_batch: int = CLAIM_BATCH,
) -> dict:
    notifier = Notifier.from_settings(settings)
    make_due(sessions, ids, outcome, clock)

    def worker_passes() -> None:
        # The deadline pass, then the chain's steps due by +15 min, mail sent after each.
        for minutes in (0, 5, 15):
            clock.set(DEADLINE + timedelta(minutes=minutes, seconds=1))
            detect_due(sessions, notifier.signer, clock, STALE)
            escalate_due(sessions, notifier, clock)
            while send_due(sessions, settings, clock, owner="bench", claim_batch=claim_batch):
                pass

    with sessions() as session:
        mails_before = session.scalar(select(func.count()).select_from(OutboxMail))
    used = meter.measure(worker_passes)
    with sessions() as session:
        mails = session.scalar(select(func.count()).select_from(OutboxMail)) - mails_before
        pending = session.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "pending")
        )
        left = session.scalar(
            select(func.count()).select_from(Household).where(Household.next_deadline <= DEADLINE)
        )
    assert pending == 0 and left == 0, (pending, left)
    n = len(ids)
    return {
        "households": n,
        "cpu_ms_per_household": round(1000 * (used["cpu_s"] + used["db_cpu_s"]) / n, 3),
        "worker_cpu_ms_per_household": round(1000 * used["cpu_s"] / n, 3),
        "db_cpu_ms_per_household": round(1000 * used["db_cpu_s"] / n, 3),
        "statements_per_household": round(used["statements"] / n, 2),
        "mails_per_household": round(mails / n, 2),
        "sink_cpu_ms_per_household": round(1000 * used["sink_cpu_s"] / n, 3),
    }


def _send_until_empty(
    url: str, smtp_port: int, owner: str, now: datetime, cpu_s, batch: int
) -> None:  # type: ignore[no-untyped-def]
    """A sending worker: passes until nothing is due; its CPU seconds of sending (start-up
    and imports not counted) into `cpu_s`."""
    settings = Settings(database_url=url, secret_key="bench", smtp_port=smtp_port)
    engine = worker_engine(url)
    sessions = make_sessionmaker(engine)
    clock = SettableClock(now)
    start = time.process_time()
    while send_due(sessions, settings, clock, owner=owner, claim_batch=batch):
        pass
    cpu_s.value = time.process_time() - start
    engine.dispose()


def mail_rate(  # type: ignore[no-untyped-def]
    url: str,
    sessions,
    sink: SmtpSink,
    cluster: PostgresCluster,
    count: int,
    workers: int,
    batch: int,
) -> dict:
    """`count` queued alert mails (copies of a real rendered one) sent by `workers` processes
    claiming `batch` at a time."""
    with transaction(sessions) as session:
        model = session.scalars(select(OutboxMail).where(OutboxMail.kind == "alert.family")).first()
        assert model is not None
        rows = [
            {
                "id": str(uuid.uuid4()),
                "to_addr": f"rate{n}@example.jp",
                "subject": model.subject,
                "text_body": model.text_body,
                "html_body": model.html_body,
                "headers": model.headers,
                "kind": "alert.family",
                "status": "pending",
                "next_attempt_at": DEADLINE,
                "created_at": DEADLINE,
                "priority": 0,
            }
            for n in range(count)
        ]
        session.execute(insert(OutboxMail), rows)
    before = len(sink.messages)
    now = DEADLINE + timedelta(hours=1)
    ctx = multiprocessing.get_context("spawn")
    used = [ctx.Value("d", 0.0) for _ in range(workers)]
    procs = [
        ctx.Process(
            target=_send_until_empty, args=(url, sink.port, f"rate-{w}", now, used[w], batch)
        )
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    sink.wait_for(before + 1, timeout=120)  # timed from the first mail: start-ups excluded
    start, first, db0 = time.monotonic(), len(sink.messages), pg_cpu_s(cluster)
    sink.wait_for(before + count, timeout=600)
    elapsed, db = time.monotonic() - start, pg_cpu_s(cluster) - db0
    for proc in procs:
        proc.join()
    sent = count - (first - before)  # the database CPU is timed over these
    return {
        "mails": count,
        "workers": workers,
        "mails_per_s": round(sent / elapsed, 1),
        "worker_cpu_ms_per_mail": round(1000 * sum(v.value for v in used) / count, 2),
        "db_cpu_ms_per_mail": round(1000 * db / max(sent, 1), 2),
    }


def _ratio(new: dict, old: dict, key: str, old_key: str | None = None) -> float | None:
    before = old[old_key or key]
    return round(new[key] / before, 3) if before else None


# The figures compared with the baseline: per household of each outcome, per mail.
_COMPARED = (
    *(
        f"{outcome}.{figure}"
        for outcome in ("answered", "silent", "unwell")
        for figure in (
            "cpu_ms_per_household",
            "worker_cpu_ms_per_household",
            "db_cpu_ms_per_household",
            "statements_per_household",
        )
    ),
    *(
        f"{figure}_{workers}"
        for workers in (1, 2)
        for figure in ("mails_per_s", "worker_cpu_ms_per_mail", "db_cpu_ms_per_mail")
    ),
)


def run_baseline(checkout: Path, due: int, mails: int) -> dict:
    """The baseline checkout's own bench with the same sizes; its JSON line."""
    script = checkout / "bench" / "worker_cost.py"
    done = subprocess.run(
        [sys.executable, str(script), "--due", str(due), "--mails", str(mails)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"bench"')]
    return json.loads(lines[-1])


_IDLE_WORKER = """
import sys, threading, time
from cloud.core.clock import system_clock
from cloud.core.config import Settings
from cloud.worker import Worker
worker = Worker(Settings(database_url=sys.argv[1], secret_key="b" * 32, smtp_port=9), system_clock)
stop = threading.Event()
loops = threading.Thread(target=worker.run_until, args=(stop, 1.0))
start = time.process_time()
loops.start()
time.sleep(float(sys.argv[2]))
stop.set()
loops.join()
print(time.process_time() - start)
worker.close()
"""


def idle_worker(cluster: PostgresCluster, seconds: float, code: Path | None) -> dict:
    """One worker process (this checkout's, or `code`'s) on a new empty database, passes
    every second as `mimamori-cloud worker --interval 1` runs them: its CPU and PostgreSQL's,
    per day (start-up and imports not counted)."""
    url = cluster.create_database(f"idle_{uuid.uuid4().hex[:8]}")
    upgrade_head(url)
    env = {**os.environ, "PYTHONPATH": str(code)} if code is not None else None
    db0 = pg_cpu_s(cluster)
    done = subprocess.run(
        [sys.executable, "-c", _IDLE_WORKER, url, str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    db = pg_cpu_s(cluster) - db0
    worker = float(done.stdout.strip().splitlines()[-1])
    return {
        "worker_cpu_s_per_day": round(worker / seconds * 86400),
        "db_cpu_s_per_day": round(db / seconds * 86400),
    }


def _figure(out: dict, key: str) -> float | None:
    outcome, _, figure = key.rpartition(".")
    return (out[outcome] if outcome else out).get(figure)


def vs_baseline(after: dict, before: dict) -> dict[str, float | None]:
    ratios = {}
    for key in _COMPARED:
        new, old = _figure(after, key), _figure(before, key)
        ratios[key] = round(new / old, 3) if new is not None and old else None
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 due per group, 200 mails")
    parser.add_argument("--due", type=int, default=1000, help="households per group")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument(
        "--baseline", type=Path, help="a checkout of the code to measure first, in the same run"
    )
    args = parser.parse_args()
    due = 100 if args.quick else args.due
    mails = 200 if args.quick else args.mails
    before = run_baseline(args.baseline, due, mails) if args.baseline is not None else None
    if before is not None:
        print(json.dumps({"baseline": before}), file=sys.stderr)  # kept should this run fail
    pg_dir = Path(tempfile.mkdtemp(prefix="mimamori-bench-pg-"))
    cluster = PostgresCluster(pg_dir).start()
    sink = SmtpSink().start()
    try:
        url = cluster.create_database("cost")
        upgrade_head(url)
        settings = Settings(database_url=url, secret_key="bench", smtp_port=sink.port)
        engine = worker_engine(url)
        clock = SettableClock(DEADLINE - timedelta(hours=1))
        sessions = make_sessionmaker(engine, clock)
        with transaction(sessions) as session:
            muni = tenancy.create_municipality(session, "ベンチ市", email="city@example.jp")
            office_id = tenancy.create_office(
                session, muni.id, "ベンチ局", email="office@example.jp", manager_email="b@ex.jp"
            ).id
        groups = {o: seed(sessions, office_id, due) for o in ("warmup", "answered", "silent")}
        groups["unwell"] = seed(sessions, office_id, due)
        baseline = seed(sessions, office_id, due)
        # Background households: the table is not just the due ones.
        seed(sessions, office_id, 10 * due)
        meter = Meter(engine, cluster, sink)
        out: dict = {"bench": "worker_cost", "due_per_group": due}
        run_group("answered", groups.pop("warmup"), sessions, meter, settings, clock)
        out["claim_batch"] = CLAIM_BATCH
        out["silent_claim_1"] = run_group("silent", baseline, sessions, meter, settings, clock, 1)
        for outcome, ids in groups.items():
            out[outcome] = run_group(outcome, ids, sessions, meter, settings, clock)
        out["silent_cpu_ratio"] = _ratio(
            out["silent"], out["silent_claim_1"], "cpu_ms_per_household"
        )
        for workers in (1, 2):
            for batch, tag in ((1, "_claim_1"), (CLAIM_BATCH, "")):
                rate = mail_rate(url, sessions, sink, cluster, mails, workers, batch)
                for figure in ("mails_per_s", "worker_cpu_ms_per_mail", "db_cpu_ms_per_mail"):
                    out[f"{figure}_{workers}{tag}"] = rate[figure]
            for figure in ("mails_per_s", "worker_cpu_ms_per_mail", "db_cpu_ms_per_mail"):
                out[f"{figure}_{workers}_ratio"] = _ratio(
                    out, out, f"{figure}_{workers}", f"{figure}_{workers}_claim_1"
                )
        idle_s = 15.0 if args.quick else 60.0
        if args.baseline is not None:
            out["idle_baseline"] = idle_worker(cluster, idle_s, args.baseline)
        out["idle"] = idle_worker(cluster, idle_s, None)
        out["load_avg_1m"] = round(os.getloadavg()[0], 1)
        if before is not None:
            out["baseline"] = {"checkout": str(args.baseline), **before}
            out["vs_baseline"] = vs_baseline(out, before)
        engine.dispose()
    finally:
        sink.stop()
        cluster.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
