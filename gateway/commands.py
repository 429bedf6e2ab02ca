"""Command handling: what the cloud asks the home to do, each acknowledged once.

Commands arrive typed (mimamori_wire.v1.Command, `kind` the discriminator) with heartbeats;
the cloud re-sends until it sees `command.done`, so each id runs once. Announcements wait
for their `play_at` and for the end of quiet hours unless `urgent`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from gateway.dialogue_runs import DialogueRuns
from gateway.logging_setup import log_event
from gateway.ports import Home
from gateway.schedule import in_quiet_hours, quiet_hours_end
from gateway.voice_arbiter import VoiceArbiter
from mimamori_wire.v1 import (
    AnnouncementCommand,
    AnnouncementEvent,
    Command,
    CommandDone,
    EventKind,
    ReloadConfigCommand,
    RepromptCommand,
    SafetyCheckCommand,
)

log = logging.getLogger(__name__)

SEEN_COMMANDS_KEPT = 200


class CommandHandler:
    def __init__(
        self,
        home: Home,
        arbiter: VoiceArbiter,
        runs: DialogueRuns,
        reload_config: Callable[[], Awaitable[bool]],
    ) -> None:
        self.home = home
        self.arbiter = arbiter
        self.runs = runs
        self.reload_config = reload_config
        self.queue: asyncio.Queue[Command] = asyncio.Queue()
        self._queued: set[str] = set()
        self._held: list[tuple[datetime, AnnouncementCommand]] = []

    def _seen(self) -> list[str]:
        return list(self.home.state.get("commands_seen") or [])

    def submit(self, cmd: Command) -> None:
        if cmd.id in self._queued or cmd.id in self._seen():
            return  # the cloud re-sends until it gets command.done
        self._queued.add(cmd.id)
        self.queue.put_nowait(cmd)
        log_event(log, "command.received", command_id=cmd.id, kind=cmd.kind)

    async def refuse(self, raw: object) -> None:
        """A command that does not fit this gateway's contract: counted, and done with ok=false."""
        self.home.counters["bad_commands"] += 1
        cmd_id = raw.get("id") if isinstance(raw, dict) else None
        kind = raw.get("kind") if isinstance(raw, dict) else None
        log_event(
            log,
            "command.refused",
            logging.ERROR,
            command_id=cmd_id,
            kind=kind,
            reason="unsupported command",
            raw=str(raw)[:200],
        )
        if isinstance(cmd_id, str) and cmd_id not in self._seen():
            await self.finish(cmd_id, ok=False, detail="unsupported command")

    async def loop(self) -> None:
        while True:
            await self.handle(await self.queue.get())

    async def handle(self, cmd: Command) -> None:
        held = False
        try:
            match cmd:
                case AnnouncementCommand():
                    # A held announcement stays "queued", so the cloud's re-sends (every
                    # heartbeat until command.done) are not held, and spoken, again.
                    held = self._hold_if_early_or_quiet(cmd)
                    if not held:
                        await self._announce(cmd)
                case SafetyCheckCommand():
                    check_id = cmd.payload.check_id or cmd.id
                    outcome = await self.runs.safety_check(check_id, cmd.id, cmd.payload.question)
                    await self._finish_run(cmd, outcome)
                case RepromptCommand():
                    await self._finish_run(cmd, await self.runs.reprompt(cmd.payload.slot))
                case ReloadConfigCommand():
                    ok = await self.reload_config()
                    detail = None if ok else "cloud unreachable"
                    await self.finish(cmd.id, ok=ok, detail=detail, kind=cmd.kind)
        except Exception as exc:
            self.home.counters["command_errors"] += 1
            log_event(
                log,
                "command.failed",
                logging.ERROR,
                exc_info=True,
                command_id=cmd.id,
                kind=cmd.kind,
            )
            await self.finish(cmd.id, ok=False, detail=str(exc)[:500], kind=cmd.kind)
        finally:
            if not held:
                self._queued.discard(cmd.id)

    async def _finish_run(self, cmd: Command, outcome: str | None) -> None:
        if outcome is None:
            await self.finish(cmd.id, ok=False, detail="speech unavailable", kind=cmd.kind)
        else:
            await self.finish(cmd.id, ok=True, detail=outcome, kind=cmd.kind)

    async def finish(
        self, cmd_id: str, ok: bool, detail: str | None = None, kind: str | None = None
    ) -> None:
        done = CommandDone(command_id=cmd_id, ok=ok, detail=detail)
        event = await self.home.emit(EventKind.COMMAND_DONE, done)
        level = logging.INFO if ok else logging.WARNING
        name = "command.applied" if ok else "command.not_applied"
        log_event(log, name, level, command_id=cmd_id, kind=kind, detail=detail)
        if event is not None:
            seen = [*self._seen(), cmd_id][-SEEN_COMMANDS_KEPT:]
            self.home.state.update(commands_seen=seen)

    def _hold_if_early_or_quiet(self, cmd: AnnouncementCommand) -> bool:
        """Hold an announcement until its play_at, and past quiet hours unless urgent."""
        cfg, now = self.home.cloud_config, self.home.now()
        play_at = cmd.payload.play_at
        due = play_at if play_at is not None and play_at > now else None
        at = due or now
        if not cmd.payload.urgent and in_quiet_hours(cfg.quiet_hours, at, cfg.timezone):
            due = quiet_hours_end(cfg.quiet_hours, at, cfg.timezone)
        if due is None:
            return False
        self._held.append((due, cmd))
        self._queued.add(cmd.id)
        log_event(log, "command.held", command_id=cmd.id, kind=cmd.kind, until=due.isoformat())
        return True

    async def play_due(self, now: datetime) -> None:
        due = [c for at, c in self._held if at <= now]
        self._held = [(at, c) for at, c in self._held if at > now]
        for cmd in due:
            await self._announce(cmd)
            self._queued.discard(cmd.id)

    async def _announce(self, cmd: AnnouncementCommand) -> None:
        text = cmd.payload.text.strip()
        if not text:
            await self.finish(cmd.id, ok=False, detail="announcement without text", kind=cmd.kind)
            return
        if self.arbiter.voice is None:
            await self.finish(cmd.id, ok=False, detail="no voice", kind=cmd.kind)
            return
        cfg = self.home.cloud_config
        await self.arbiter.say(text, speed=cfg.tts_speed, volume=cfg.tts_volume)
        announcement_id = cmd.payload.announcement_id or cmd.id
        await self.home.emit(
            EventKind.ANNOUNCEMENT_PLAYED,
            AnnouncementEvent(announcement_id=announcement_id, command_id=cmd.id),
        )
        await self.finish(cmd.id, ok=True, kind=cmd.kind)
