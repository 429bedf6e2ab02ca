"""The worker process: detection, escalation and mail sending, pass after pass."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from cloud.app import make_notifier
from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker
from cloud.escalation.worker import detect_due, escalate_due
from cloud.mail.sender import SendSummary, send_due
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


class Worker:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url, pool_size=2)
        self.sessions = make_sessionmaker(self.engine, clock)
        self.notifier = make_notifier(settings)
        self.pruner = RetentionPruner(
            RetentionPolicy.from_settings(settings),
            every=timedelta(seconds=settings.retention_every_s),
        )

    def prune(self) -> RetentionCounts:
        return self.pruner.run(self.sessions, self.clock())

    def run_pass(self) -> PassSummary:
        stale = timedelta(seconds=self.settings.heartbeat_stale_s)
        deadlines = detect_due(self.sessions, self.notifier, self.clock, stale)
        steps = escalate_due(self.sessions, self.notifier, self.clock)
        mail = send_due(self.sessions, self.settings, self.clock)
        return PassSummary(deadlines, steps, mail, self.prune())

    def close(self) -> None:
        self.engine.dispose()

    def run_until(self, stop: threading.Event, interval: float) -> None:
        """Detection, escalation, mail and retention each in their own loop (thread), so a slow SMTP
        server or a burst of escalation steps never delays noticing a missed deadline."""
        stale = timedelta(seconds=self.settings.heartbeat_stale_s)
        loops = {
            "detect": lambda: detect_due(self.sessions, self.notifier, self.clock, stale),
            "escalate": lambda: escalate_due(self.sessions, self.notifier, self.clock),
            "mail": lambda: send_due(self.sessions, self.settings, self.clock),
            # Housekeeping in its own loop: a long prune never delays detection or mail.
            "retention": self.prune,
        }
        threads = [
            threading.Thread(target=_loop, args=(name, work, stop, interval), name=name)
            for name, work in loops.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _loop(name: str, work: Callable[[], object], stop: threading.Event, interval: float) -> None:
    while not stop.is_set():
        try:
            done = work()
            if done:
                log.info("%s: %s", name, done)
        except Exception:
            # A failing pass (database restart, bad row) must not end the watch.
            log.exception("%s pass failed; retrying after %.1f s", name, interval)
        stop.wait(interval)


def run_once(settings: Settings, clock: Clock) -> PassSummary:
    worker = Worker(settings, clock)
    try:
        return worker.run_pass()
    finally:
        worker.close()


def run_forever(settings: Settings, clock: Clock, interval: float) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(settings, clock)
    try:
        worker.run_until(stop, interval)
    finally:
        worker.close()
