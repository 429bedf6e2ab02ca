"""Health: the status file, the systemd watchdog, the kernel clock check and the heartbeat body.

Status must never take the daemon down: a failed write (disk full) is counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway import __version__
from gateway.clock_watch import ClockWatch
from gateway.device_intake import DeviceIntake
from gateway.outbox import Outbox
from gateway.ports import Bridge, Home
from gateway.scheduler import Scheduler
from gateway.sdnotify import notify, watchdog_interval_s
from gateway.status import write_status
from gateway.uplink import Uploader
from gateway.voice_arbiter import VoiceArbiter
from mimamori_wire.v1 import Heartbeat

log = logging.getLogger(__name__)

STATUS_EVERY_S = 10.0
KERNEL_CLOCK_CHECK_S = 600.0


class Health:
    def __init__(
        self,
        home: Home,
        *,
        arbiter: VoiceArbiter,
        devices: DeviceIntake,
        clock: ClockWatch,
        scheduler: Scheduler,
        bridge: Bridge | None,
        outbox: Callable[[], Outbox],
        uploader: Callable[[], Uploader | None],
        extra: Callable[[], dict[str, Any]],
    ) -> None:
        self.home = home
        self.arbiter = arbiter
        self.devices = devices
        self.clock = clock
        self.scheduler = scheduler
        self.bridge = bridge
        self.outbox = outbox
        self.uploader = uploader
        self.extra = extra
        self.started_mono = time.monotonic()

    def bridge_status(self) -> dict[str, Any]:
        if self.bridge is None:
            return {"ble": "disabled", "mqtt": "disabled"}
        try:
            return dict(self.bridge.status())
        except Exception as exc:
            self.home.counters["bad_bridge_status"] += 1
            log.warning("bridge status unusable: %s", exc)
            return {}

    def heartbeat_body(self) -> Heartbeat:
        stats = self.outbox().stats
        bridge = self.bridge_status()
        return Heartbeat(
            software_version=__version__,
            uptime_s=round(time.monotonic() - self.started_mono, 1),
            outbox_depth=stats.depth,
            devices=self.devices.health()[:200],
            bytes_written_per_event=stats.bytes_per_event,
            clock_synchronized=self.clock.kernel_synced,
            gateway_time=self.home.now(),
            audio_status=self.arbiter.audio_status(),
            model_status=self.arbiter.model_status(),
            ble_status=bridge.get("ble"),
            mqtt_status=bridge.get("mqtt"),
            outbox_alarm=stats.alarm,
            outbox_write_errors=stats.write_errors,
            quarantined_events=stats.quarantined,
            counters=dict(self.home.counters),
        )

    def status(self) -> dict[str, Any]:
        now, cfg, settings = self.home.now(), self.home.cloud_config, self.home.settings
        uploader = self.uploader()
        return {
            "gateway_id": settings.gateway_id,
            "household_id": settings.household_id,
            "software_version": __version__,
            "pid": os.getpid(),
            "written_at": now.isoformat(),
            "config_version": cfg.config_version,
            "timezone": cfg.timezone,
            "next_slots": [
                {"slot": o.slot.name, "at": o.at.isoformat()} for o in self.scheduler.upcoming(now)
            ],
            "quiet_hours": cfg.quiet_hours.model_dump(),
            "paused": any(p.ends_at is None or p.ends_at > now for p in cfg.pauses),
            "outbox": self.outbox().stats.as_dict(),
            "uplink": {
                k: str(v) if isinstance(v, datetime) else v
                for k, v in (uploader.stats.__dict__ if uploader else {}).items()
            },
            "devices": [d.model_dump(mode="json") for d in self.devices.health()[:200]],
            "audio": self.arbiter.audio_status(),
            "model": self.arbiter.model_status(),
            "bridge": self.bridge_status(),
            "clock_synchronized": self.clock.kernel_synced,
            "counters": dict(self.home.counters),
            **self.extra(),
        }

    def serve_metrics(self, status: Callable[[], dict[str, Any]]) -> Any:
        """Prometheus /metrics on loopback, if a port is set; None if off or not started."""
        port = self.home.settings.metrics_port
        if port is None:
            return None
        from gateway.metrics import serve_metrics

        try:
            return serve_metrics(status, port)
        except OSError as exc:  # port taken: monitoring is nice to have, check-ins are not
            self.home.counters["metrics_start_failed"] += 1
            log.error("metrics endpoint on 127.0.0.1:%d not started: %s", port, exc)
            return None

    def write(self) -> None:
        try:
            write_status(self.home.settings.data_dir, self.status())
        except Exception as exc:  # status must never take the daemon down (e.g. disk full)
            self.home.counters["status_write_errors"] += 1
            log.warning("status not written: %s", exc)

    async def loop(self) -> None:
        watchdog = watchdog_interval_s()
        step = min(STATUS_EVERY_S, watchdog) if watchdog else STATUS_EVERY_S
        last_kernel = time.monotonic()
        while True:
            if watchdog:
                notify("WATCHDOG=1")
            self.write()
            if time.monotonic() - last_kernel >= KERNEL_CLOCK_CHECK_S:
                last_kernel = time.monotonic()
                await self.clock.check_kernel()
            await asyncio.sleep(step)
