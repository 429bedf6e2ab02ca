"""The worker process: detection, escalation and mail sending, pass after pass."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from cloud.core import metrics
from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.core.logging import configure as configure_logging
from cloud.core.logging import log_event
from cloud.db import (
    PING_IDLE_AFTER_S,
    make_engine,
    make_sessionmaker,
    transaction,
    with_fresh_connection,
)
from cloud.detection.runner import detect_due
from cloud.escalation.runner import escalate_due
from cloud.escalation.steps import Notifier
from cloud.mail.sender import SendSummary, send_due, worker_identity
from cloud.models.workers import WATCH_LOOPS
from cloud.notify.base import LINE
from cloud.notify.fallback import fall_back_to_mail
from cloud.notify.line import LineChannel
from cloud.notify.outbox import token_lookup
from cloud.services import watch
from cloud.services.deadman import DeadmanSwitch
from cloud.services.retention import RetentionCounts, RetentionPolicy, RetentionPruner

log = logging.getLogger("mimamori.worker")


@dataclass
class PassSummary:
    deadlines: int
    steps: int
    mail: SendSummary
    retention: RetentionCounts = field(default_factory=RetentionCounts)

    def describe(self) -> str:
        return (
            f"deadlines={self.deadlines} steps={self.steps} mail_sent={self.mail.sent} "
            f"mail_retried={self.mail.retried} mail_failed={self.mail.failed} {self.retention}"
        )


def worker_engine(url: str) -> Engine:
    """The worker's engine: like the API's, a pooled PostgreSQL connection is pinged only
    after sitting idle (a pass every second keeps them in use: pinging each checkout was one
    more round trip per transaction), and a pass that met a dead one is run again (_loop)."""
    return make_engine(url, pool_size=2, ping_idle_after_s=PING_IDLE_AFTER_S)


class Worker:
    def __init__(self, settings: Settings, clock: Clock, worker_id: str | None = None) -> None:
        self.settings = settings
        self.clock = clock
        # Names this process in worker_passes and as the owner of mail leases.
        self.worker_id = worker_id or worker_identity()
        self.deadman = DeadmanSwitch(settings)
        self.engine = worker_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine, clock)
        self.notifier = Notifier.from_settings(settings)
        self.channels = {
            LINE: LineChannel(
                settings.line_api_base, token_lookup(self.sessions), settings.line_timeout_s
            )
        }
        self.pruner = RetentionPruner(
            RetentionPolicy.from_settings(settings),
            every=timedelta(seconds=settings.retention_every_s),
        )

    def prune(self) -> RetentionCounts:
        return self.pruner.run(self.sessions, self.clock())

    def detect(self) -> int:
        stale = timedelta(seconds=self.settings.heartbeat_stale_s)
        return detect_due(self.sessions, self.notifier.signer, self.clock, stale)

    def escalate(self) -> int:
        return escalate_due(self.sessions, self.notifier, self.clock)

    def send_mail(self) -> SendSummary:
        """Every channel's due deliveries (e-mail, LINE), then e-mail for failed LINE alerts
        (sent in the next pass, within the same escalation step)."""
        summary = send_due(
            self.sessions, self.settings, self.clock, owner=self.worker_id, channels=self.channels
        )
        fall_back_to_mail(self.sessions, self.notifier, self.clock)
        return summary

    def completed(self, loop: str) -> None:
        """Record a completed pass (readiness, desk banner, /metrics) and feed the dead-man."""
        with transaction(self.sessions) as session:
            watch.record_pass(session, self.worker_id, loop, self.clock())
        metrics.WATCH_PASSES.labels(loop).inc()
        self.deadman.pass_completed(loop)

    def run_pass(self) -> PassSummary:
        deadlines = self.detect()
        self.completed("detect")
        steps = self.escalate()
        self.completed("escalate")
        mail = self.send_mail()
        self.completed("mail")
        return PassSummary(deadlines, steps, mail, self.prune())

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.engine.dispose()

    def run_until(self, stop: threading.Event, interval: float) -> None:
        """Detection, escalation, mail and retention each in their own loop (thread), so a slow SMTP
        server or a burst of escalation steps never delays noticing a missed deadline."""
        with transaction(self.sessions) as session:
            watch.forget_silent_workers(session, self.clock())
        log_event(log, "worker.started", worker_id=self.worker_id, interval_s=interval)
        loops: dict[str, Callable[[], object]] = {
            "detect": self.detect,
            "escalate": self.escalate,
            "mail": self.send_mail,
            # Housekeeping in its own loop: a long prune never delays detection or mail.
            "retention": self.prune,
        }
        threads = [
            threading.Thread(
                target=_loop,
                args=(name, work, stop, interval, self._after(name)),
                name=name,
            )
            for name, work in loops.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _after(self, loop: str) -> Callable[[], None] | None:
        return (lambda: self.completed(loop)) if loop in WATCH_LOOPS else None


def _loop(
    name: str,
    work: Callable[[], object],
    stop: threading.Event,
    interval: float,
    after: Callable[[], None] | None = None,
) -> None:
    while not stop.is_set():
        try:
            # A connection the database dropped (restart, failover) fails a pass once, on
            # its first statement; the pass runs again on a fresh one. Repeating is safe:
            # every claim in a pass is a compare-and-set.
            done = with_fresh_connection(work)
            if done:
                log_event(log, "worker.pass", loop=name, result=str(done))
            if after is not None:
                with_fresh_connection(after)  # only a pass that ran to the end counts
        except Exception:
            # A failing pass (database restart, bad row) must not end the watch; readiness
            # turns red if it keeps failing.
            log_event(log, "worker.pass_failed", logging.ERROR, exc_info=True, loop=name)
        stop.wait(interval)


def run_once(settings: Settings, clock: Clock) -> PassSummary:
    worker = Worker(settings, clock)
    try:
        return worker.run_pass()
    finally:
        worker.close()


def run_forever(settings: Settings, clock: Clock, interval: float) -> None:
    configure_logging()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(settings, clock)
    try:
        worker.run_until(stop, interval)
    finally:
        worker.close()
