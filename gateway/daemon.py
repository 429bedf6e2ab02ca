"""The home daemon: wires the gateway's services and supervises their loops.

Services (each a module with a typed interface, testable alone): scheduler, dialogue runs,
voice arbitration, help spotting, life signs, device intake, command handling, cloud link
(uplink, heartbeat, config), clock watch and health. Every loop body takes the injected
clock, so tests drive a simulated day tick by tick; `run()` starts the loops under the
supervisor (a crashed loop is restarted with backoff and counted) and handles SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from firmware_bridge.events import DeviceEvent
from gateway import __version__
from gateway.activity import LifeSigns
from gateway.clock import kernel_clock_synchronized
from gateway.clock_watch import ClockWatch
from gateway.cloud_client import CloudClient
from gateway.cloud_link import CloudLink
from gateway.commands import CommandHandler
from gateway.config import GatewaySettings
from gateway.device_intake import DeviceIntake
from gateway.dialogue_runs import DialogueRuns
from gateway.health import Health
from gateway.help_spotter import HelpSpotter
from gateway.logging_setup import log_event
from gateway.outbox import Outbox
from gateway.ports import Bridge, Clock, DialogueFactory, HelpPhrase, Payload
from gateway.recorder import Recorder
from gateway.scheduler import Scheduler
from gateway.sdnotify import notify
from gateway.slot_book import SlotBook
from gateway.state import SmallState
from gateway.supervisor import Supervisor
from gateway.uplink import Uploader
from gateway.voice_arbiter import VoiceArbiter
from mimamori_wire.v1 import (
    Command,
    Event,
    EventKind,
    GatewayConfig,
    GatewayStarted,
    Heartbeat,
    OutboxAlarm,
)
from speech.ports import Voice

log = logging.getLogger(__name__)


class Gateway:
    """The one `Home` (gateway.ports) every service shares, and their supervisor."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        voice: Voice | None = None,
        dialogue_factory: DialogueFactory | None = None,
        help_phrase: HelpPhrase | None = None,
        bridge: Bridge | None = None,
        client: CloudClient | None = None,
        now: Clock | None = None,
        kernel_clock: Callable[[], bool | None] = kernel_clock_synchronized,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        # Tests and the simulator inject their own clock.
        self.now: Clock = now or (lambda: datetime.now(UTC))  # wall clock: production default
        self.counters: Counter[str] = Counter()
        self.outbox: Outbox
        self.state: SmallState
        self._loop: asyncio.AbstractEventLoop | None = None
        self.supervisor = Supervisor(self.counters)
        self.recorder = Recorder(settings, self.counters, self.now)
        self.arbiter = VoiceArbiter(voice)
        self.clock_watch = ClockWatch(self, kernel_clock, monotonic)
        self.book = SlotBook(self)
        self.runs = DialogueRuns(self, self.arbiter, dialogue_factory, self.book, bridge)
        self.help_spotter = HelpSpotter(self, self.arbiter, help_phrase)
        self.life_signs = LifeSigns(self)
        self.commands = CommandHandler(self, self.arbiter, self.runs, self.refresh_config)
        self.scheduler = Scheduler(self, self.book, self.runs, self.clock_watch, self.commands)
        self.devices = DeviceIntake(self, self.life_signs, bridge, self.scheduler.button_fine)
        self.health = Health(
            self,
            arbiter=self.arbiter,
            devices=self.devices,
            clock=self.clock_watch,
            scheduler=self.scheduler,
            bridge=bridge,
            outbox=lambda: self.outbox,
            uploader=lambda: self.uploader,
            extra=self._status_extra,
        )
        self.link = CloudLink(
            self,
            self.clock_watch,
            self.commands,
            self.health.heartbeat_body,
            self._config_changed,
            self.supervisor.spawn,
            client,
        )

    # --- the shared Home ------------------------------------------------------------------

    @property
    def cloud_config(self) -> GatewayConfig:
        return self.link.config

    @cloud_config.setter
    def cloud_config(self, cfg: GatewayConfig) -> None:
        self.link.config = cfg

    @property
    def voice(self) -> Voice | None:
        return self.arbiter.voice

    @voice.setter
    def voice(self, voice: Voice | None) -> None:
        self.arbiter.voice = voice

    @property
    def bridge(self) -> Bridge | None:
        return self.devices.bridge

    @bridge.setter
    def bridge(self, bridge: Bridge | None) -> None:
        """Set before run() when the bridge is made after us (it needs `device_sink`)."""
        self.devices.bridge = self.runs.bridge = self.health.bridge = bridge

    @property
    def uploader(self) -> Uploader | None:
        return self.link.uploader

    async def emit(
        self, kind: EventKind, payload: Payload, occurred_at: datetime | None = None
    ) -> Event | None:
        """Make an event and store it durably; returns it once committed (the ack)."""
        return await self.recorder.emit(kind, payload, occurred_at)

    def _config_changed(self, cfg: GatewayConfig) -> None:
        self.life_signs.set_timezone(cfg.timezone)
        self.scheduler.reschedule.set()

    def _status_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"unstored_events": len(self.recorder.unstored)}
        if self.link.last_heartbeat_at is not None:
            extra["last_heartbeat_at"] = self.link.last_heartbeat_at
        return extra

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open local stores and report the start; works with no network at all."""
        self._loop = asyncio.get_running_loop()
        self.devices.bind(self._loop)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = await self.recorder.open(self._loop, self._alarm, self._wake_uploader)
        self.state = SmallState(self.data_dir / "state.json")
        self.link.load_cached_config()
        self.life_signs.load()
        uploader = self.link.connect(self.outbox)
        self.recorder.on_help = uploader.urgent
        await self._report_start()

    async def _report_start(self) -> None:
        now, state = self.now(), self.state
        first = state.get("tracking_since") is None
        previous = "first_boot" if first else ("unclean" if state.get("running") else "clean")
        state.update(
            running=True,
            tracking_since=state.get("tracking_since") or now.isoformat(),
            boots=int(state.get("boots", 0)) + 1,
            started_at=now.isoformat(),
        )
        missed = self.scheduler.missed_while_off(now)
        started = GatewayStarted(
            software_version=__version__, previous_shutdown=previous, missed_slots=missed
        )
        await self.emit(EventKind.GATEWAY_STARTED, started)
        await self.clock_watch.check_kernel(at_start=True)

    async def close(self) -> None:
        await self.supervisor.stop()
        if self.recorder.unstored:
            unstored = [e.id for e in self.recorder.unstored]
            log_event(log, "gateway.stopped_with_unstored", logging.ERROR, event_ids=unstored)
        self.life_signs.save()
        self.state.update(running=False)
        await asyncio.to_thread(self.outbox.close)
        await self.link.aclose()
        self.health.write()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """The daemon: all loops until SIGTERM/SIGINT (or `stop` is set)."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await self.open()
        assert self.uploader is not None
        for name, body in [
            ("uploader", self.uploader.run),
            ("heartbeat", self.link.heartbeat_loop),
            ("scheduler", self.scheduler.loop),
            ("devices", self.devices.loop),
            ("lifesigns", self.life_signs.loop),
            ("commands", self.commands.loop),
            ("health", self.health.loop),
            ("retry", self.recorder.retry_unstored_loop),
        ]:
            self.supervisor.start(name, body)
        if self.help_spotter.enabled():
            self.supervisor.start("help-spotter", self.help_spotter.loop)
        await self.devices.start_bridge()
        metrics = self.health.serve_metrics(self.status)
        notify("READY=1")
        log_event(log, "gateway.running", version=__version__)
        await stop.wait()
        notify("STOPPING=1")
        log_event(log, "gateway.stopping")
        await self.devices.stop_bridge()
        if metrics is not None:
            metrics.shutdown()
        await self.close()

    def _alarm(self, alarm: OutboxAlarm) -> None:
        self.supervisor.spawn(self.emit(EventKind.OUTBOX_ALARM, alarm))

    def _wake_uploader(self) -> None:
        if self.uploader is not None:
            self.uploader.wake()

    # --- what tests and the CLI drive directly ------------------------------------------------

    async def schedule_tick(self) -> datetime:
        return await self.scheduler.tick()

    async def lifesigns_tick(self) -> None:
        await self.life_signs.tick()

    async def handle_device_event(self, raw: object) -> None:
        await self.devices.handle(raw)

    def device_sink(self, ev: DeviceEvent) -> None:
        self.devices.sink(ev)

    async def handle_command(self, cmd: Command) -> None:
        await self.commands.handle(cmd)

    def submit_command(self, cmd: Command) -> None:
        self.commands.submit(cmd)

    async def heartbeat_once(self) -> bool:
        return await self.link.heartbeat_once()

    async def refresh_config(self) -> bool:
        return await self.link.refresh_config()

    def on_date(self, header: str | None) -> None:
        self.link.on_date(header)

    def heartbeat_body(self) -> Heartbeat:
        return self.health.heartbeat_body()

    async def help_spot_once(self, timeout_s: float = 5.0) -> bool:
        return await self.help_spotter.once(timeout_s)

    def status(self) -> dict[str, Any]:
        return self.health.status()

    def _write_status(self) -> None:
        self.health.write()

    @property
    def _commands(self) -> asyncio.Queue[Command]:
        return self.commands.queue

    @property
    def _unstored(self) -> list[Event]:
        return self.recorder.unstored

    @property
    def _tasks(self) -> list[asyncio.Task[Any]]:
        return self.supervisor.tasks
