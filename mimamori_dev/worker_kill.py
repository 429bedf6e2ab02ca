"""kill -9 of one of two `mimamori-cloud worker` processes while alarm mails flow.

Used by bench/worker_kill.py (figures) and tests/cloud/test_worker_kill.py (0 lost, 0
duplicates, bounded takeover). Mails are fed into the real outbox at a steady rate, two real
worker processes send them to a real aiosmtpd sink whose RCPT answer takes `rcpt_delay_s`
(a relay looking the recipient up), and the victim is killed while it holds the lease of a
mail it is sending, so the takeover path is what gets measured.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.models import OutboxMail, WorkerPass
from mimamori_dev.services import SmtpSink, stop_process

CLI = str(Path(sys.executable).parent / "mimamori-cloud")


@dataclass
class KillTrial:
    """Figures of one run; delays are seconds from enqueue to arrival at the SMTP sink."""

    mails: int
    lost: int
    duplicates: int
    in_flight_at_kill: int
    taken_over: int  # "mail.lease_taken_over" lines in the survivor's log
    delays_before: list[float] = field(default_factory=list)  # delivered before the kill
    delays_after: list[float] = field(default_factory=list)  # not yet delivered at the kill
    in_flight_delays: list[float] = field(default_factory=list)  # held by the killed worker
    # The server was still answering the victim's RCPT when the kill landed: no DATA yet.
    killed_before_data: bool = False


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _worker_env(url: str, sink: SmtpSink, lease_s: float) -> dict[str, str]:
    return {
        **os.environ,
        "MIMAMORI_DATABASE_URL": url,
        "MIMAMORI_SECRET_KEY": secrets.token_urlsafe(48),
        "MIMAMORI_SMTP_HOST": sink.host,
        "MIMAMORI_SMTP_PORT": str(sink.port),
        "MIMAMORI_MAIL_LEASE_S": str(lease_s),
        "PYTHONUNBUFFERED": "1",
    }


def _start_workers(
    url: str, sink: SmtpSink, lease_s: float, logdir: Path, count: int
) -> list[subprocess.Popen]:
    env = _worker_env(url, sink, lease_s)
    procs = []
    for n in range(count):
        with open(logdir / f"worker{n}.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [CLI, "worker", "--interval", "0.2"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def _enqueue(sessions, index: int) -> str:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        mail = OutboxMail(
            to_addr=f"family{index}@example.jp",
            subject=f"【見守り】助けを求める連絡がありました（試験 {index}様）",
            text_body="助けを求める連絡がありました。お電話でご確認ください。",
            html_body=None,
            headers={"X-Mimamori-Bench": "worker-kill"},
            kind="alert",
            status="pending",
            attempts=0,
            next_attempt_at=datetime.now(UTC),
        )
        session.add(mail)
        session.flush()
        return mail.id


def _mail_loops_running(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).where(WorkerPass.loop == "mail")) or 0


def _leased_by(sessions, pid: int, rcpt: set[str] | None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Mails whose lease the worker `pid` holds (and, given `rcpt`, whose RCPT is running)."""
    with sessions() as session:
        rows = session.execute(
            select(OutboxMail.id, OutboxMail.to_addr).where(
                OutboxMail.status == "pending", OutboxMail.lease_owner.like(f"%:{pid}:%")
            )
        ).all()
    return {row.id: row.to_addr for row in rows if rcpt is None or row.to_addr in set(rcpt)}


def run_kill_trial(
    url: str,
    sink: SmtpSink,
    logdir: Path,
    *,
    mails: int = 200,
    rate_per_s: float = 10.0,
    lease_s: float = 10.0,
    settle_s: float = 60.0,
    kill_before_data: bool = False,
) -> KillTrial:
    """Feed `mails` at `rate_per_s` to two workers, kill -9 one mid-send after a third.

    kill_before_data: kill only while the server is still answering the victim's RCPT, so
    no message was accepted yet and a duplicate would be our fault alone (the tests). Else
    anywhere in the lease, including the residual window after DATA (the benchmark)."""
    logdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    procs = _start_workers(url, sink, lease_s, logdir, 2)
    victim = procs[0]
    enqueued: dict[str, float] = {}
    in_flight: dict[str, str] = {}  # mail id -> address, leased by the victim at the kill
    killed_at = float("inf")
    before_data = False
    try:
        # Both workers up and passing before the flow starts.
        _wait(lambda: _mail_loops_running(sessions) >= 2, 60, "workers did not start")
        start = time.monotonic()

        def feed() -> None:
            for i in range(mails):
                time.sleep(max(0.0, start + i / rate_per_s - time.monotonic()))
                enqueued[_enqueue(sessions, i)] = time.time()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        _wait(lambda: len(enqueued) >= mails // 3, 60, "feed stalled")

        def victim_sending() -> bool:
            rcpt = sink.rcpt_just_started() if kill_before_data else None  # type: ignore[attr-defined]
            in_flight.clear()
            in_flight.update(_leased_by(sessions, victim.pid, rcpt))
            return bool(in_flight)

        _wait(victim_sending, 30, "the victim never held a lease")
        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        before_data = any(a in sink.rcpt_pending for a in in_flight.values())  # type: ignore[attr-defined]
        victim.wait(timeout=10)
        feeder.join()
        _wait(lambda: _delivered_ids(sink) >= set(enqueued), settle_s, "mails still missing")
    except TimeoutError:
        pass  # figures below count what is missing as lost
    finally:
        for proc in procs:
            stop_process(proc)
        engine.dispose()
    trial = _figures(sink, enqueued, killed_at, list(in_flight), logdir / "worker1.log")
    trial.killed_before_data = before_data
    return trial


def _message_ids(sink: SmtpSink) -> list[str]:
    return [str(m["Message-ID"]).strip("<>").split("@")[0] for m in list(sink.messages)]


def _delivered_ids(sink: SmtpSink) -> set[str]:
    return set(_message_ids(sink))


def _figures(
    sink: SmtpSink,
    enqueued: dict[str, float],
    killed_at: float,
    in_flight: list[str],
    survivor_log: Path,
) -> KillTrial:
    ids = _message_ids(sink)
    counts = Counter(i for i in ids if i in enqueued)
    first_arrival: dict[str, float] = {}
    for mail_id, at in zip(ids, list(sink.arrived_at), strict=False):
        first_arrival.setdefault(mail_id, at)
    trial = KillTrial(
        mails=len(enqueued),
        lost=len(set(enqueued) - set(counts)),
        duplicates=sum(n - 1 for n in counts.values()),
        in_flight_at_kill=len(set(in_flight)),
        taken_over=_count_events(survivor_log, "mail.lease_taken_over"),
    )
    for mail_id, queued in enqueued.items():
        if mail_id not in first_arrival:
            continue
        delay = first_arrival[mail_id] - queued
        (trial.delays_before if first_arrival[mail_id] < killed_at else trial.delays_after).append(
            delay
        )
        if mail_id in in_flight:
            trial.in_flight_delays.append(delay)
    return trial


def _count_events(log: Path, event: str) -> int:
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            count += json.loads(line).get("event") == event
        except (json.JSONDecodeError, AttributeError):
            continue
    return count
