"""The home daemon: wires schedule, dialogues, life signs, outbox, uplink and commands.

Every loop body is a `*_tick`/`handle_*` coroutine that takes the injected clock, so tests
drive a simulated day step by step; `run()` only repeats the ticks and handles SIGTERM.
Each loop catches and counts its own failures: nothing here may stop the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from gateway import __version__
from gateway.clock import (
    SKEW_THRESHOLD_S,
    JumpDetector,
    kernel_clock_synchronized,
    skew_from_date_header,
)
from gateway.config import GatewaySettings, read_token
from gateway.devices import (
    BadDeviceEvent,
    DeviceTable,
    immediate_events,
    is_activity,
    to_health,
    validate,
)
from gateway.dialogue_runner import (
    SlotContext,
    checkin_events,
    heard_anything,
    run_dialogue,
    safety_events,
)
from gateway.lifesigns import ActivitySummariser, InactivityRule, check_inactivity
from gateway.outbox import Outbox, OutboxWriteError
from gateway.schedule import (
    SlotOccurrence,
    SlotProgress,
    Step,
    attempt_voice,
    current_occurrence,
    decide,
    in_quiet_hours,
    lookback_start,
    occurrences,
    quiet_hours_end,
)
from gateway.sdnotify import notify, watchdog_interval_s
from gateway.state import SmallState
from gateway.status import write_status
from gateway.uplink import Backoff, CloudClient, CloudError, Uploader
from mimamori_wire.v1 import (
    AnnouncementCommand,
    AnnouncementEvent,
    AnswerSource,
    CheckinAnswered,
    CheckinNoResponse,
    ClockSkew,
    Command,
    CommandDone,
    Event,
    EventKind,
    GatewayConfig,
    GatewayStarted,
    Heartbeat,
    HelpRequested,
    Intent,
    OutboxAlarm,
    Question,
    ReloadConfigCommand,
    RepromptCommand,
    SafetyCheckCommand,
)

log = logging.getLogger(__name__)

SCHEDULE_MAX_SLEEP_S = 30.0  # wake at least this often, so a clock jump is noticed quickly
LIFESIGNS_TICK_S = 60.0
SUMMARY_PERSIST_S = 300.0
KERNEL_CLOCK_CHECK_S = 600.0
STATUS_EVERY_S = 10.0
SEEN_COMMANDS_KEPT = 200
HELP_SPOT_WINDOW_S = 30.0  # audio per help-spotting turn (a dialogue interrupts it at once)
SLOT_KEYS_KEPT_DAYS = 9
FAREWELL_SPEED = 0.9  # after a help request: calm and a little slow

Payload = BaseModel | dict[str, Any]
Clock = Callable[[], datetime]


def default_config(settings: GatewaySettings) -> GatewayConfig:
    """Before the first cloud config arrives: no slots, the provisioned zone and language."""
    return GatewayConfig(
        household_id=settings.household_id,
        config_version=0,
        timezone=settings.timezone,
        language=settings.language,
        tts_speed=settings.tts_speed,
        tts_volume=settings.tts_volume,
    )


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        *,
        voice: Any = None,
        dialogue_factory: Callable[..., Any] | None = None,
        help_phrase: Callable[[str, str], bool] | None = None,
        bridge: Any = None,
        client: CloudClient | None = None,
        now: Clock | None = None,
        kernel_clock: Callable[[], bool | None] = kernel_clock_synchronized,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.voice = voice
        self._dialogue_factory = dialogue_factory
        self._help_phrase = help_phrase
        self.bridge = bridge
        self.client = client
        self.now: Clock = now or (lambda: datetime.now(UTC))
        self._kernel_clock = kernel_clock
        self._monotonic = monotonic  # injected with `now` so simulated time is not a "jump"
        self.counters: Counter[str] = Counter()
        self.devices = DeviceTable()
        self.jumps = JumpDetector()
        self._voice_lock = asyncio.Lock()
        self._dialogue_active = False
        self._reschedule = asyncio.Event()
        self._device_q: asyncio.Queue[Any] = asyncio.Queue()
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._queued_commands: set[str] = set()
        self._deferred: list[tuple[datetime, AnnouncementCommand]] = []
        self._unstored: list[Event] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_mono = time.monotonic()
        self._last_skew_reported: float | None = None
        self._last_kernel_sync: bool | None = None
        self._summary_saved_at = 0.0
        self._tasks: list[asyncio.Task[Any]] = []
        self._status_extra: dict[str, Any] = {}
        self._spot_stop: threading.Event | None = None
        self.outbox: Outbox
        self.state: SmallState
        self.uploader: Uploader | None = None
        self.cloud_config: GatewayConfig = default_config(settings)

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open local stores and report the start; works with no network at all."""
        self._loop = asyncio.get_running_loop()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(
            self.data_dir / "outbox.sqlite3",
            capacity=self.settings.outbox_capacity,
            on_alarm=self._alarm_from_thread,
            on_commit=self._wake_uploader_from_thread,
            max_db_bytes=int(mb * 1024 * 1024) if (mb := self.settings.outbox_max_mb) else None,
        )
        await asyncio.to_thread(self.outbox.open)
        self.state = SmallState(self.data_dir / "state.json")
        cached = self.state.get("cloud_config")
        if cached:
            try:
                self.cloud_config = GatewayConfig.model_validate(cached)
            except ValueError as exc:
                self.counters["bad_cached_config"] += 1
                self.state.update(config_etag=None)  # so the cloud sends it again, not a 304
                log.error("cached cloud config unusable, using defaults: %s", exc)
        self.summariser = ActivitySummariser.from_state(
            self.cloud_config.timezone, self.state.get("activity")
        )
        if self.client is None:
            token = read_token(self.settings.token_file)
            self.client = CloudClient(
                self.settings.cloud_url, token, self.settings.ca_bundle, on_date=self.on_date
            )
        self.uploader = Uploader(
            self.outbox,
            self.client,
            batch_size=self.settings.upload_batch_size,
            backoff=Backoff(max_s=self.settings.max_backoff_s),
        )
        await self._report_start()

    async def _report_start(self) -> None:
        now = self.now()
        first = self.state.get("tracking_since") is None
        previous = "first_boot" if first else ("unclean" if self.state.get("running") else "clean")
        self.state.update(
            running=True,
            tracking_since=self.state.get("tracking_since") or now.isoformat(),
            boots=int(self.state.get("boots", 0)) + 1,
            started_at=now.isoformat(),
        )
        missed = [
            occ.key
            for occ, decision in self._slot_decisions(now)
            if decision.step == Step.REPORT_NO_RESPONSE and decision.reason == "gateway_down"
        ]
        await self.emit(
            EventKind.GATEWAY_STARTED,
            GatewayStarted(
                software_version=__version__, previous_shutdown=previous, missed_slots=missed
            ),
        )
        synced = self._kernel_clock()
        self._last_kernel_sync = synced
        if synced is False:
            await self.emit(
                EventKind.GATEWAY_CLOCK_SKEW,
                ClockSkew(skew_s=0.0, source="kernel", synchronized=False),
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._unstored:
            log.error("shutting down with %d events never stored (disk full)", len(self._unstored))
        self.state.update(activity=self.summariser.to_state(), running=False)
        await asyncio.to_thread(self.outbox.close)
        if self.client is not None:
            await self.client.aclose()
        self._write_status()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """The daemon: all loops until SIGTERM/SIGINT (or `stop` is set)."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await self.open()
        assert self.uploader is not None
        loops: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = [
            ("uploader", self.uploader.run),
            ("heartbeat", self._heartbeat_loop),
            ("scheduler", self._schedule_loop),
            ("devices", self._device_loop),
            ("lifesigns", self._lifesigns_loop),
            ("commands", self._command_loop),
            ("health", self._health_loop),
            ("retry", self._retry_unstored_loop),
        ]
        if self._help_spotting_enabled():
            loops.append(("help-spotter", self._help_spot_loop))
        self._tasks = [asyncio.create_task(self._guard(n, f), name=n) for n, f in loops]
        if self.bridge is not None:
            await self._start_bridge()
        metrics = self._start_metrics()
        notify("READY=1")
        log.info("gateway %s running", self.settings.gateway_id)
        await stop.wait()
        notify("STOPPING=1")
        log.info("stopping (signal)")
        if self.bridge is not None:
            with contextlib.suppress(Exception):
                await self.bridge.stop()
        if metrics is not None:
            metrics.shutdown()
        await self.close()

    def _start_metrics(self) -> Any:
        port = self.settings.metrics_port
        if port is None:
            return None
        from gateway.metrics import serve_metrics

        try:
            return serve_metrics(self.status, port)
        except OSError as exc:  # port taken: monitoring is nice to have, check-ins are not
            self.counters["metrics_start_failed"] += 1
            log.error("metrics endpoint on 127.0.0.1:%d not started: %s", port, exc)
            return None

    async def _start_bridge(self) -> None:
        try:
            await self.bridge.start()
        except Exception as exc:  # no BLE adapter / broker down must not stop check-ins
            self.counters["bridge_start_failed"] += 1
            log.error("device bridge failed to start: %s", exc)

    async def _guard(self, name: str, body: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Restart a crashed loop after a pause instead of letting the daemon die."""
        while True:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counters[f"loop_crash.{name}"] += 1
                log.exception("loop %s crashed; restarting in 5 s", name)
                await asyncio.sleep(5)

    # --- events -------------------------------------------------------------------------

    async def emit(
        self, kind: EventKind, payload: Payload, occurred_at: datetime | None = None
    ) -> Event | None:
        """Make an event and store it durably; returns it once committed (the ack)."""
        now = self.now()
        event = Event.create(
            household_id=self.settings.household_id,
            gateway_id=self.settings.gateway_id,
            kind=kind,
            payload=payload,
            occurred_at=occurred_at or now,
            recorded_at=now,
        )
        try:
            await self.outbox.put(event)
        except OutboxWriteError as exc:
            # Disk full or I/O error: keep it in memory and retry; report, never crash.
            self.counters["outbox_write_errors"] += 1
            self._unstored.append(event)
            log.error("event %s (%s) not stored yet: %s", event.id, kind, exc)
            return None
        self.counters[f"emitted.{kind.value}"] += 1
        if kind == EventKind.HELP_REQUESTED and self.uploader is not None:
            self.uploader.urgent()  # cut any backoff short: help must not wait
        return event

    async def _emit_all(self, events: list[tuple[EventKind, BaseModel]]) -> None:
        for kind, payload in events:
            await self.emit(kind, payload)

    async def _retry_unstored_loop(self) -> None:
        while True:
            await asyncio.sleep(10)
            if not self._unstored:
                continue
            batch, self._unstored = self._unstored, []
            try:
                await self.outbox.put_many(batch)
            except OutboxWriteError:
                self._unstored = batch + self._unstored
                self.counters["outbox_retry_failed"] += 1

    def _alarm_from_thread(self, raised: bool, depth: int, capacity: int) -> None:
        if raised and self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn_alarm, depth, capacity)

    def _spawn_alarm(self, depth: int, capacity: int) -> None:
        self._tasks.append(
            asyncio.create_task(
                self.emit(EventKind.OUTBOX_ALARM, OutboxAlarm(depth=depth, capacity=capacity))
            )
        )

    def _wake_uploader_from_thread(self) -> None:
        if self._loop is not None and self.uploader is not None:
            self._loop.call_soon_threadsafe(self.uploader.wake)

    # --- scheduler ------------------------------------------------------------------------

    def _progress(self, key: str) -> SlotProgress:
        raw = (self.state.get("slots") or {}).get(key)
        if not raw:
            return SlotProgress()
        last = raw.get("last_attempt_at")
        return SlotProgress(
            attempts=raw.get("attempts", 0),
            last_attempt_at=datetime.fromisoformat(last) if last else None,
            done=raw.get("done", False),
        )

    def _save_progress(self, key: str, **changes: Any) -> None:
        slots = dict(self.state.get("slots") or {})
        row = dict(slots.get(key) or {})
        row.update(changes)
        slots[key] = row
        cutoff = (self.now() - timedelta(days=SLOT_KEYS_KEPT_DAYS)).date().isoformat()
        slots = {k: v for k, v in slots.items() if k[:10] >= cutoff}
        self.state.update(slots=slots)

    def _slot_decisions(self, now: datetime) -> list[tuple[SlotOccurrence, Any]]:
        cfg = self.cloud_config
        tracking = self.state.get("tracking_since")
        since = lookback_start(now, datetime.fromisoformat(tracking) if tracking else now)
        found = occurrences(cfg, since, now + timedelta(seconds=1))
        return [(o, decide(o, self._progress(o.key), now, cfg.pauses)) for o in found]

    async def schedule_tick(self) -> datetime:
        """Do whatever is due now; return when to look again."""
        now = self.now()
        jump = self.jumps.observe(wall=now.timestamp(), mono=self._monotonic())
        if jump is not None:
            self.counters["clock_jumps"] += 1
            await self.emit(
                EventKind.GATEWAY_CLOCK_SKEW,
                ClockSkew(
                    skew_s=round(jump, 3), source="jump", synchronized=self._last_kernel_sync
                ),
            )
        for _ in range(20):  # a dialogue takes time: look again until nothing is due
            wake = await self._schedule_pass(jump)
            if wake is not None:
                break
        await self._play_deferred(self.now())
        return wake or self.now()

    async def _schedule_pass(self, jump: float | None) -> datetime | None:
        """One pass over the slots; None if a dialogue ran (time moved: pass again)."""
        now = self.now()
        wake = now + timedelta(seconds=SCHEDULE_MAX_SLEEP_S)
        for occ, decision in self._slot_decisions(now):
            if decision.step == Step.ASK:
                await self._ask_slot(occ, decision.attempt)
                return None
            if decision.step in (Step.REPORT_NO_RESPONSE, Step.REPORT_PAUSED):
                await self._report_unanswered(occ, decision.reason, decision.step, jump)
            elif decision.until is not None:
                wake = min(wake, decision.until)
        upcoming = occurrences(self.cloud_config, now, now + timedelta(days=1))
        if upcoming:
            wake = min(wake, upcoming[0].at)
        return wake

    async def _report_unanswered(
        self, occ: SlotOccurrence, reason: str, step: Step, jump: float | None
    ) -> None:
        progress = self._progress(occ.key)
        raw = (self.state.get("slots") or {}).get(occ.key) or {}
        if step == Step.REPORT_PAUSED:
            reason = "paused"
        elif reason == "silent" and raw.get("heard"):
            reason = "not_understood"
        detail = "clock_jump" if reason == "gateway_down" and jump is not None else None
        if reason == "silent" and raw.get("audio_failed"):
            # Nobody was asked: the sound card or model failed. That is the gateway's fault,
            # and the cloud's "gateway" chain (check the device) is the right one.
            reason, detail = "gateway_down", "audio_unavailable"
        payload = CheckinNoResponse(
            slot=occ.slot.name,
            slot_date=occ.local_date.isoformat(),
            attempts=progress.attempts,
            reason=reason,  # type: ignore[arg-type]
        )
        if detail is not None:
            payload = CheckinNoResponse(**payload.model_dump(), detail=detail)
        stored = await self.emit(EventKind.CHECKIN_NO_RESPONSE, payload)
        if stored is not None:
            self._save_progress(occ.key, done=True, outcome=f"no_response:{reason}")

    async def _ask_slot(self, occ: SlotOccurrence, attempt: int) -> None:
        cfg = self.cloud_config
        quiet = in_quiet_hours(cfg.quiet_hours, self.now(), cfg.timezone)
        speed, volume = attempt_voice(cfg.tts_speed, cfg.tts_volume, attempt, quiet)
        self._save_progress(occ.key, attempts=attempt + 1, last_attempt_at=self.now().isoformat())
        result = await self._converse(
            questions=list(occ.slot.questions),
            kind="checkin",
            speed=speed,
            volume=volume,
            slot_name=occ.slot.name,
        )
        if result is None:
            self._save_progress(occ.key, audio_failed=True)
            return
        ctx = SlotContext(
            occ.slot.name, occ.local_date.isoformat(), attempt, self.cloud_config.share_transcripts
        )
        events = checkin_events(result, ctx)
        if heard_anything(result):
            self._save_progress(occ.key, heard=True)
        if events:
            await self._emit_all(events)
            self._save_progress(occ.key, done=True, outcome=str(result.outcome))
            self._publish_checkin(occ, str(result.outcome), result.intent)
            await self._farewell(result)

    def _publish_checkin(self, occ: SlotOccurrence, outcome: str, intent: Any) -> None:
        """Mirror the last check-in to MQTT (Home Assistant) via the bridge; best effort."""
        if self.bridge is None:
            return
        try:
            self.bridge.publish_checkin_state(
                {
                    "slot": occ.slot.name,
                    "slot_date": occ.local_date.isoformat(),
                    "outcome": outcome,
                    "intent": str(getattr(intent, "value", intent)) if intent else None,
                    "at": self.now().isoformat(),
                }
            )
        except Exception as exc:
            self.counters["checkin_publish_errors"] += 1
            log.warning("check-in state not published: %s", exc)

    async def _farewell(self, result: Any) -> None:
        """After a help request the alarm is raised first; only then reassure the resident."""
        text = getattr(result, "farewell", None)
        if text and self.voice is not None:
            async with self._voice_turn():
                # Calm and a little slow, never faster than this resident's own setting.
                speed = min(FAREWELL_SPEED, self.cloud_config.tts_speed)
                await self.voice.say(text, speed=speed, volume=self.cloud_config.tts_volume)

    async def _converse(self, **kwargs: Any) -> Any:
        """One dialogue over the voice; None (counted) when speech is not available."""
        if self.voice is None or self._dialogue_factory is None:
            self.counters["dialogue_unavailable"] += 1
            log.error("no voice/dialogue available; cannot ask")
            return None
        cfg = self.cloud_config
        prompts = {**cfg.prompts, **kwargs.pop("prompts", {})}
        dialogue = self._dialogue_factory(lang=cfg.language, prompts=prompts, **kwargs)
        async with self._voice_turn():
            self._dialogue_active = True
            try:
                return await run_dialogue(self.voice, dialogue)
            except Exception:
                self.counters["dialogue_errors"] += 1
                log.exception("dialogue failed")
                return None
            finally:
                self._dialogue_active = False

    async def _schedule_loop(self) -> None:
        while True:
            wake = await self.schedule_tick()
            delay = (wake - self.now()).total_seconds()
            delay = min(max(delay, 0.0), SCHEDULE_MAX_SLEEP_S)
            self._reschedule.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reschedule.wait(), delay)

    # --- devices and life signs -------------------------------------------------------------

    def device_sink(self, ev: Any) -> None:
        """The DeviceEventSink: any thread, never blocks."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._device_q.put_nowait, ev)

    async def _device_loop(self) -> None:
        while True:
            ev = await self._device_q.get()
            await self.handle_device_event(ev)

    async def handle_device_event(self, raw: Any) -> None:
        try:
            ev = validate(raw)
            events = immediate_events(ev)
        except BadDeviceEvent as exc:
            self.counters["bad_device_events"] += 1
            log.warning("ignored device event: %s", exc)
            return
        self.devices.observe(ev)
        if is_activity(ev):
            self.summariser.add(ev.at, ev.room)
        await self._emit_all(events)
        if ev.signal == "checkin_fine":
            await self._button_fine(ev.device)

    async def _button_fine(self, device: str) -> None:
        now = self.now()
        done = {k for k, v in (self.state.get("slots") or {}).items() if v.get("done")}
        occ = current_occurrence(self.cloud_config, now, done)
        if occ is None:
            return
        progress = self._progress(occ.key)
        await self.emit(
            EventKind.CHECKIN_ANSWERED,
            CheckinAnswered(
                slot=occ.slot.name,
                slot_date=occ.local_date.isoformat(),
                intent=Intent.FINE,
                confidence=1.0,
                attempts=max(1, progress.attempts),
                source=AnswerSource.BUTTON,
                device=device,
            ),
        )
        self._save_progress(occ.key, done=True, outcome="button")

    async def lifesigns_tick(self) -> None:
        now = self.now()
        for summary in self.summariser.flush(now):
            await self.emit(EventKind.ACTIVITY_SUMMARY, summary, occurred_at=summary.hour_start)
        cfg = self.cloud_config
        span = self.settings.inactivity_span_h
        rule = InactivityRule(
            tz=cfg.timezone,
            deadline=cfg.inactivity_deadline,
            max_span=timedelta(hours=span) if span else None,
        )
        reported = dict(self.state.get("inactivity_reported") or {})
        found = check_inactivity(
            rule, now, self.summariser.last_activity, reported, self._watching_since()
        )
        if found is not None:
            payload, key = found
            if await self.emit(EventKind.INACTIVITY, payload) is not None:
                reported[key] = now.isoformat()
                recent = dict(sorted(reported.items(), key=lambda kv: kv[1])[-30:])
                self.state.update(inactivity_reported=recent)
        if time.monotonic() - self._summary_saved_at >= SUMMARY_PERSIST_S:
            self._summary_saved_at = time.monotonic()
            self.state.update(activity=self.summariser.to_state())

    def _watching_since(self) -> datetime:
        started = self.state.get("tracking_since")
        return datetime.fromisoformat(started) if started else self.now()

    async def _lifesigns_loop(self) -> None:
        while True:
            await self.lifesigns_tick()
            await asyncio.sleep(LIFESIGNS_TICK_S)

    # --- help phrase spotting ----------------------------------------------------------

    def _help_spotting_enabled(self) -> bool:
        if self.voice is None or self._help_phrase is None:
            return False
        # A satellite streams its microphone all the time, so it can listen for help too.
        return self.settings.help_phrase_spotting and self.settings.voice_mode != "text-sim"

    async def help_spot_once(self, timeout_s: float = 5.0) -> bool:
        """Listen between dialogues; a help phrase becomes help.requested at once.

        A LocalVoice streams continuously (`watch_for_help`) until help is heard, the audio
        limit passes, or a dialogue claims the voice (`_voice_turn` sets the stop flag);
        any other Voice is polled with short `listen(expect="help")` calls.
        """
        if self._dialogue_active or self.voice is None or self._help_phrase is None:
            return False
        watch = getattr(self.voice, "watch_for_help", None)
        async with self._voice_lock:
            if callable(watch):
                stop = threading.Event()
                self._spot_stop = stop
                try:
                    heard = await asyncio.to_thread(watch, stop, chunk_limit_s=timeout_s)
                finally:
                    self._spot_stop = None
            else:
                heard = await self.voice.listen(timeout_s=timeout_s, expect="help")
        if heard is None or not self._help_phrase(heard.text, self.cloud_config.language):
            return False
        await self.emit(
            EventKind.HELP_REQUESTED,
            HelpRequested(
                source=AnswerSource.VOICE,
                transcript=heard.text[:2000] if self.cloud_config.share_transcripts else None,
            ),
        )
        return True

    @contextlib.asynccontextmanager
    async def _voice_turn(self) -> AsyncIterator[None]:
        """Take the voice for speaking/asking: stop help spotting first, then wait for it."""
        if self._spot_stop is not None:
            self._spot_stop.set()
        async with self._voice_lock:
            yield

    async def _help_spot_loop(self) -> None:
        while True:
            began = time.monotonic()
            await self.help_spot_once(timeout_s=HELP_SPOT_WINDOW_S)
            if time.monotonic() - began < 0.5:
                await asyncio.sleep(0.5)  # a voice that returns at once must not spin

    # --- heartbeat, config, commands ---------------------------------------------------------

    def on_date(self, header: str | None) -> None:
        skew = skew_from_date_header(header, self.now())
        if skew is None or abs(skew) < SKEW_THRESHOLD_S:
            return
        last = self._last_skew_reported
        if last is not None and abs(last - skew) < SKEW_THRESHOLD_S:
            return  # already reported this offset
        self._last_skew_reported = skew
        self.counters["clock_skew_reports"] += 1
        self._tasks.append(
            asyncio.create_task(
                self.emit(
                    EventKind.GATEWAY_CLOCK_SKEW,
                    ClockSkew(
                        skew_s=round(skew, 3),
                        source="cloud_date",
                        synchronized=self._last_kernel_sync,
                    ),
                )
            )
        )

    def heartbeat_body(self) -> Heartbeat:
        devices = self.devices.health()
        if self.bridge is not None:
            try:
                devices = to_health(self.bridge.health())
            except Exception as exc:
                self.counters["bad_bridge_health"] += 1
                log.warning("bridge health unusable: %s", exc)
        stats = self.outbox.stats
        return Heartbeat(
            software_version=__version__,
            uptime_s=round(time.monotonic() - self._started_mono, 1),
            outbox_depth=stats.depth,
            devices=devices[:200],
            bytes_written_per_event=stats.bytes_per_event,
            clock_synchronized=self._last_kernel_sync,
            gateway_time=self.now(),
            audio_status=self._audio_status(),
            model_status=self._model_status(),
            ble_status=self._bridge_status().get("ble"),
            mqtt_status=self._bridge_status().get("mqtt"),
            outbox_alarm=stats.alarm,
            outbox_write_errors=stats.write_errors,
            quarantined_events=stats.quarantined,
            counters=dict(self.counters),
        )

    def _audio_status(self) -> str:
        if self.voice is None:
            return "unavailable"
        if getattr(self.voice, "simulated", False):
            return "text-sim (TEXT-ANSWER SIMULATOR, no microphone)"
        site = getattr(self.voice, "site_id", None)
        if site is not None:
            return f"satellite (Hermes site {site})"
        device = getattr(self.voice, "device", None)
        return f"local ({type(device).__name__})" if device is not None else "local"

    def _model_status(self) -> str:
        if self.voice is None:
            return "unavailable"
        if getattr(self.voice, "simulated", False):
            return "none (simulator)"
        return "loaded" if getattr(self.voice, "model", None) is not None else "unknown"

    def _bridge_status(self) -> dict[str, Any]:
        if self.bridge is None:
            return {"ble": "disabled", "mqtt": "disabled"}
        try:
            return dict(self.bridge.status())
        except Exception as exc:
            self.counters["bad_bridge_status"] += 1
            log.warning("bridge status unusable: %s", exc)
            return {}

    async def heartbeat_once(self) -> bool:
        assert self.client is not None
        try:
            response, bad = await self.client.heartbeat(self.heartbeat_body())
        except CloudError as exc:
            self.counters["heartbeat_failures"] += 1
            log.warning("heartbeat failed: %s", exc)
            return False
        self.state_last("last_heartbeat_at")
        for raw in bad:
            self.counters["bad_commands"] += 1
            log.error("unusable command from cloud: %s", str(raw)[:200])
            cmd_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(cmd_id, str) and cmd_id not in self._seen_commands():
                await self._finish_command(cmd_id, ok=False, detail="unsupported command")
        if response.config_version != self.cloud_config.config_version:
            await self.refresh_config()
        for cmd in response.commands:
            self.submit_command(cmd)
        return True

    def state_last(self, key: str) -> None:
        self._status_extra[key] = self.now().isoformat()

    async def refresh_config(self) -> bool:
        assert self.client is not None
        try:
            cfg, etag = await self.client.get_config(self.state.get("config_etag"))
        except CloudError as exc:
            self.counters["config_failures"] += 1
            log.warning("config fetch failed, keeping cached config: %s", exc)
            return False
        if cfg is not None:
            self.cloud_config = cfg
            self.summariser.tz = cfg.timezone
            self.state.update(cloud_config=cfg.model_dump(mode="json"), config_etag=etag)
            log.info("cloud config version %s loaded", cfg.config_version)
            self._reschedule.set()
        return True

    async def _heartbeat_loop(self) -> None:
        await self.refresh_config()
        while True:
            await self.heartbeat_once()
            interval = self.settings.heartbeat_interval_s or self.cloud_config.heartbeat_interval_s
            await asyncio.sleep(interval)

    def _seen_commands(self) -> list[str]:
        return list(self.state.get("commands_seen") or [])

    def submit_command(self, cmd: Command) -> None:
        if cmd.id in self._queued_commands or cmd.id in self._seen_commands():
            return  # the cloud re-sends until it gets command.done
        self._queued_commands.add(cmd.id)
        self._commands.put_nowait(cmd)

    async def _command_loop(self) -> None:
        while True:
            cmd = await self._commands.get()
            await self.handle_command(cmd)

    async def handle_command(self, cmd: Command) -> None:
        try:
            match cmd:
                case AnnouncementCommand():
                    if self._defer_if_quiet(cmd):
                        return
                    await self._announce(cmd)
                case SafetyCheckCommand():
                    await self._safety_check(cmd)
                case RepromptCommand():
                    await self._reprompt(cmd)
                case ReloadConfigCommand():
                    ok = await self.refresh_config()
                    await self._finish_command(
                        cmd.id, ok=ok, detail=None if ok else "cloud unreachable"
                    )
        except Exception as exc:
            self.counters["command_errors"] += 1
            log.exception("command %s failed", cmd.id)
            await self._finish_command(cmd.id, ok=False, detail=str(exc)[:500])
        finally:
            self._queued_commands.discard(cmd.id)

    async def _finish_command(self, cmd_id: str, ok: bool, detail: str | None = None) -> None:
        stored = await self.emit(
            EventKind.COMMAND_DONE, CommandDone(command_id=cmd_id, ok=ok, detail=detail)
        )
        if stored is not None:
            seen = [*self._seen_commands(), cmd_id][-SEEN_COMMANDS_KEPT:]
            self.state.update(commands_seen=seen)

    def _defer_if_quiet(self, cmd: AnnouncementCommand) -> bool:
        """Hold an announcement until its play_at, and past quiet hours unless urgent."""
        cfg = self.cloud_config
        now = self.now()
        due: datetime | None = None
        play_at = cmd.payload.play_at
        if play_at is not None and play_at > now:
            due = play_at
        at = due or now
        if not cmd.payload.urgent and in_quiet_hours(cfg.quiet_hours, at, cfg.timezone):
            due = quiet_hours_end(cfg.quiet_hours, at, cfg.timezone)
        if due is None:
            return False
        self._deferred.append((due, cmd))
        self._queued_commands.add(cmd.id)
        log.info("announcement %s deferred to %s", cmd.id, due.isoformat())
        return True

    async def _play_deferred(self, now: datetime) -> None:
        due = [c for at, c in self._deferred if at <= now]
        self._deferred = [(at, c) for at, c in self._deferred if at > now]
        for cmd in due:
            await self._announce(cmd)
            self._queued_commands.discard(cmd.id)

    async def _announce(self, cmd: AnnouncementCommand) -> None:
        text = cmd.payload.text.strip()
        announcement_id = cmd.payload.announcement_id or cmd.id
        if not text:
            await self._finish_command(cmd.id, ok=False, detail="announcement without text")
            return
        if self.voice is None:
            await self._finish_command(cmd.id, ok=False, detail="no voice")
            return
        cfg = self.cloud_config
        async with self._voice_turn():
            await self.voice.say(text, speed=cfg.tts_speed, volume=cfg.tts_volume)
        await self.emit(
            EventKind.ANNOUNCEMENT_PLAYED,
            AnnouncementEvent(announcement_id=announcement_id, command_id=cmd.id),
        )
        await self._finish_command(cmd.id, ok=True)

    async def _safety_check(self, cmd: SafetyCheckCommand) -> None:
        check_id = cmd.payload.check_id or cmd.id
        cfg = self.cloud_config
        question = cmd.payload.question
        result = await self._converse(
            questions=[Question.HEALTH],
            prompts={"ask_safety": str(question)} if question else {},
            kind="safety_check",
            speed=cfg.tts_speed,
            volume=cfg.tts_volume,
            slot_name="safety_check",
        )
        if result is None:
            await self._finish_command(cmd.id, ok=False, detail="speech unavailable")
            return
        await self._emit_all(
            safety_events(result, check_id, cmd.id, self.cloud_config.share_transcripts)
        )
        await self._finish_command(cmd.id, ok=True, detail=str(result.outcome))

    async def _reprompt(self, cmd: RepromptCommand) -> None:
        """Ask the most recent slot again now (the cloud's escalation step 0)."""
        now = self.now()
        cfg = self.cloud_config
        wanted = cmd.payload.slot
        recent = [
            o
            for o in occurrences(cfg, now - timedelta(hours=24), now + timedelta(seconds=1))
            if wanted is None or wanted in (o.slot.name, o.slot.time)
        ]
        occ = recent[-1] if recent else None
        questions = list(occ.slot.questions) if occ else [Question.HEALTH]
        attempt = len(occ.attempt_times()) if occ else 0
        quiet = in_quiet_hours(cfg.quiet_hours, now, cfg.timezone)
        speed, volume = attempt_voice(cfg.tts_speed, cfg.tts_volume, attempt, quiet)
        slot_name = occ.slot.name if occ else str(wanted or "reprompt")
        result = await self._converse(
            questions=questions, kind="checkin", speed=speed, volume=volume, slot_name=slot_name
        )
        if result is None:
            await self._finish_command(cmd.id, ok=False, detail="speech unavailable")
            return
        ctx = SlotContext(
            slot_name,
            occ.local_date.isoformat() if occ else None,
            attempt,
            self.cloud_config.share_transcripts,
        )
        events = checkin_events(result, ctx)
        await self._emit_all(events)
        if occ is not None and events:
            self._save_progress(occ.key, done=True, outcome=f"reprompt:{result.outcome}")
        await self._finish_command(cmd.id, ok=True, detail=str(result.outcome))

    # --- health and status ---------------------------------------------------------------

    async def _health_loop(self) -> None:
        watchdog = watchdog_interval_s()
        step = min(STATUS_EVERY_S, watchdog) if watchdog else STATUS_EVERY_S
        last_kernel = time.monotonic()
        while True:
            if watchdog:
                notify("WATCHDOG=1")
            self._write_status()
            if time.monotonic() - last_kernel >= KERNEL_CLOCK_CHECK_S:
                last_kernel = time.monotonic()
                await self._check_kernel_clock()
            await asyncio.sleep(step)

    async def _check_kernel_clock(self) -> None:
        synced = await asyncio.to_thread(self._kernel_clock)
        if synced is not None and synced != self._last_kernel_sync and synced is False:
            await self.emit(
                EventKind.GATEWAY_CLOCK_SKEW,
                ClockSkew(skew_s=0.0, source="kernel", synchronized=False),
            )
        self._last_kernel_sync = synced

    def status(self) -> dict[str, Any]:
        now = self.now()
        cfg = self.cloud_config
        upcoming = occurrences(cfg, now, now + timedelta(days=2))[: len(cfg.slots) or 1]
        up = self.uploader.stats if self.uploader else None
        return {
            "gateway_id": self.settings.gateway_id,
            "household_id": self.settings.household_id,
            "software_version": __version__,
            "pid": os.getpid(),
            "written_at": now.isoformat(),
            "config_version": cfg.config_version,
            "timezone": cfg.timezone,
            "next_slots": [{"slot": o.slot.name, "at": o.at.isoformat()} for o in upcoming],
            "quiet_hours": cfg.quiet_hours.model_dump(),
            "paused": any(p.ends_at is None or p.ends_at > now for p in cfg.pauses),
            "outbox": self.outbox.stats.as_dict(),
            "unstored_events": len(self._unstored),
            "uplink": {
                k: str(v) if isinstance(v, datetime) else v
                for k, v in (up.__dict__ if up else {}).items()
            },
            "devices": [d.model_dump(mode="json") for d in self.heartbeat_body().devices],
            "audio": self._audio_status(),
            "model": self._model_status(),
            "bridge": self._bridge_status(),
            "clock_synchronized": self._last_kernel_sync,
            "counters": dict(self.counters),
            **self._status_extra,
        }

    def _write_status(self) -> None:
        try:
            write_status(self.data_dir, self.status())
        except Exception as exc:  # status must never take the daemon down (e.g. disk full)
            self.counters["status_write_errors"] += 1
            log.warning("status not written: %s", exc)
