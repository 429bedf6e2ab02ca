"""Dead-man's switch: ping an outside monitor after completed passes; silence pages someone.

Only when every watch loop (detect, escalate, mail) has completed a pass since the last ping,
and at most every settings.deadman_every_s. The ping runs on its own thread with a short
timeout: a slow or failing monitor is logged and counted, never delays or stops the watch.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from cloud.core import metrics
from cloud.core.config import Settings
from cloud.core.logging import log_event
from cloud.models.workers import WATCH_LOOPS

log = logging.getLogger("mimamori.deadman")


class DeadmanSwitch:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.deadman_url
        self.every = settings.deadman_every_s
        self.timeout = settings.deadman_timeout_s
        self._lock = threading.Lock()
        self._done: set[str] = set()
        self._last_ping = float("-inf")

    def pass_completed(self, loop: str) -> threading.Thread | None:
        """Note a completed pass; returns the ping thread when this pass triggers a ping."""
        if not self.url:
            return None
        with self._lock:
            self._done.add(loop)
            now = time.monotonic()
            if not self._done.issuperset(WATCH_LOOPS) or now - self._last_ping < self.every:
                return None
            self._done.clear()
            self._last_ping = now
        thread = threading.Thread(target=self.ping, name="deadman", daemon=True)
        thread.start()
        return thread

    def ping(self) -> bool:
        assert self.url
        try:
            response = httpx.get(self.url, timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            metrics.DEADMAN_PINGS.labels("error").inc()
            log_event(log, "deadman.ping_failed", logging.WARNING, error=str(exc)[:300])
            return False
        metrics.DEADMAN_PINGS.labels("ok").inc()
        return True
