"""The daemon's ticks with the real speech Dialogue + TextVoice, a simulated clock and no cloud.

The cloud URL points at a closed port: everything here must work fully offline.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from firmware_bridge.events import DeviceEvent, DeviceRole, DeviceSignal
from gateway.daemon import Gateway
from gateway.state import SmallState
from mimamori_wire.v1 import (
    AnnouncementCommand,
    EventKind,
    GatewayConfig,
    RepromptCommand,
    RequestTrouble,
    SafetyCheckCommand,
)
from tests.gateway.conftest import SimClock, cloud_config, kinds, make_gateway, make_settings
from tests.gateway.conftest import pending as pending_events
from tests.helpers import wait_until_async

# 07:50 Asia/Tokyo on 2026-11-27; the morning slot is at 08:00 (23:00 UTC).
T_0750 = datetime(2026, 11, 26, 22, 50, tzinfo=UTC)
SLOT = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def prime(settings, cfg: GatewayConfig, **state) -> None:
    """What an earlier run left: the cached cloud config (used offline)."""
    store = SmallState(settings.data_dir / "state.json")
    store.update(cloud_config=cfg.model_dump(mode="json"), **state)
    store.close()


async def opened(tmp_path: Path, clock: SimClock, answers=(), cfg=None, **over) -> Gateway:
    settings = make_settings(tmp_path, **over)
    prime(settings, cfg or cloud_config())
    gw = make_gateway(settings, clock, answers)
    await gw.open()
    return gw


def of_kind(gw: Gateway, kind: str) -> list[dict]:
    return [e for e in pending_events(gw) if e["kind"] == kind]


def test_slot_is_asked_at_its_local_time_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock, ["元気です"])
        await gw.schedule_tick()
        assert gw.voice.said == []  # not yet
        clock.advance(minutes=10)
        await gw.schedule_tick()
        (answered,) = of_kind(gw, "checkin.answered")
        assert answered["payload"]["slot"] == "morning"
        assert answered["payload"]["slot_date"] == "2026-11-27"
        assert answered["payload"]["intent"] == "fine"
        assert answered["payload"]["transcript"] is None  # transcripts stay home by default
        await gw.close()

    asyncio.run(scenario())


def test_silence_reasks_at_10_and_20_louder_and_slower_then_no_response(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(SLOT)
        gw = await opened(tmp_path, clock, [])
        first_says: list[tuple[float, float]] = []
        for minutes in (0, 5, 10, 15, 20):
            clock.t = SLOT + timedelta(minutes=minutes)
            before = len(gw.voice.said)
            await gw.schedule_tick()
            if len(gw.voice.said) > before:
                said = gw.voice.said[before]
                first_says.append((said.speed, said.volume))
        assert first_says == [(1.0, 1.0), (0.85, 1.25), (0.7, 1.5)]
        (missed,) = of_kind(gw, "checkin.no_response")
        assert missed["payload"]["attempts"] == 3
        assert missed["payload"]["reason"] == "silent"
        assert of_kind(gw, "checkin.answered") == []
        await gw.close()

    asyncio.run(scenario())


def test_reboot_across_slot_time_asks_late(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock)
        await gw.close()  # clean shutdown at 07:50
        clock.advance(minutes=17)  # back at 08:07, inside the answer window
        again = make_gateway(gw.settings, clock, ["いつも通りです"])
        await again.open()
        started = of_kind(again, "gateway.started")[-1]["payload"]
        assert started["previous_shutdown"] == "clean"
        assert started["missed_slots"] == []
        await again.schedule_tick()
        (answered,) = of_kind(again, "checkin.answered")
        assert answered["payload"]["intent"] == "usual"
        await again.close()

    asyncio.run(scenario())


def test_slot_missed_while_powered_off_is_reported_not_skipped(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock)
        await gw.close()
        SmallState(gw.settings.data_dir / "state.json").update(running=True)  # power cut
        clock.advance(hours=3)
        again = make_gateway(gw.settings, clock)
        await again.open()
        started = of_kind(again, "gateway.started")[-1]["payload"]
        assert started["previous_shutdown"] == "unclean"
        assert started["missed_slots"] == ["2026-11-27/morning"]
        await again.schedule_tick()
        (missed,) = of_kind(again, "checkin.no_response")
        assert missed["payload"]["reason"] == "gateway_down"
        assert missed["payload"]["attempts"] == 0
        assert again.voice.said == []  # nobody is asked three hours late
        await again.schedule_tick()
        assert len(of_kind(again, "checkin.no_response")) == 1  # reported once
        await again.close()

    asyncio.run(scenario())


def test_clock_jump_is_reported_and_jumped_slot_not_skipped_silently(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock)
        await gw.schedule_tick()
        clock.jump(hours=2)  # NTP sets the clock: wall time moves, monotonic does not
        await gw.schedule_tick()
        (skew,) = of_kind(gw, "gateway.clock_skew")
        assert skew["payload"]["source"] == "jump"
        assert skew["payload"]["skew_s"] == 7200.0
        (missed,) = of_kind(gw, "checkin.no_response")
        assert missed["payload"]["reason"] == "gateway_down"
        assert missed["payload"]["detail"] == "clock_jump"
        await gw.close()

    asyncio.run(scenario())


def test_pause_from_cached_cloud_config_reports_paused(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(SLOT)
        cfg = cloud_config(
            pauses=[{"starts_at": SLOT - timedelta(days=1), "ends_at": SLOT + timedelta(days=3)}]
        )
        gw = await opened(tmp_path, clock, ["元気"], cfg=cfg)
        await gw.schedule_tick()
        (paused,) = of_kind(gw, "checkin.no_response")
        assert paused["payload"]["reason"] == "paused"
        assert gw.voice.said == []
        await gw.close()

    asyncio.run(scenario())


def announcement(cmd_id: str = "cmd-1", **payload) -> AnnouncementCommand:
    return AnnouncementCommand(
        id=cmd_id,
        issued_at=datetime.now(UTC),
        payload={"announcement_id": "a-1", "text": "明日は燃えるごみの日です。", **payload},
    )


def test_quiet_hours_hold_announcements_until_morning(tmp_path: Path) -> None:
    async def scenario() -> None:
        night = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # 22:00 Tokyo
        clock = SimClock(night)
        gw = await opened(tmp_path, clock)
        await gw.handle_command(announcement())
        await gw.schedule_tick()
        assert gw.voice.said == []
        assert of_kind(gw, "command.done") == []
        clock.t = datetime(2026, 11, 27, 21, 31, tzinfo=UTC)  # 06:31 Tokyo
        await gw.schedule_tick()
        assert gw.voice.said_texts == ["明日は燃えるごみの日です。"]
        assert of_kind(gw, "announcement.played")[0]["payload"]["command_id"] == "cmd-1"
        assert of_kind(gw, "command.done")[0]["payload"]["ok"] is True
        await gw.close()

    asyncio.run(scenario())


def test_urgent_announcement_plays_in_quiet_hours_and_command_runs_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
        gw = await opened(tmp_path, clock)
        cmd = announcement(urgent=True)
        await gw.handle_command(cmd)
        assert len(gw.voice.said) == 1
        gw.submit_command(cmd)  # the cloud re-sends until it sees command.done
        assert gw._commands.empty()
        await gw.close()

    asyncio.run(scenario())


def test_safety_check_and_reprompt_commands(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(SLOT + timedelta(hours=1))
        gw = await opened(tmp_path, clock, ["大丈夫です", "元気です"])
        await gw.handle_command(
            SafetyCheckCommand(
                id="c-safety",
                issued_at=clock(),
                payload={"check_id": "chk-1", "question": "地震がありました。ご無事ですか。"},
            )
        )
        assert "地震がありました。ご無事ですか。" in gw.voice.said_texts[0]
        (answer,) = of_kind(gw, "safety_check.answered")
        assert answer["payload"] | {"transcript": None} == {
            "check_id": "chk-1",
            "status": "safe",
            "transcript": None,
            "command_id": "c-safety",
        }
        await gw.handle_command(RepromptCommand(id="c-re", issued_at=clock(), payload={}))
        (late,) = of_kind(gw, "checkin.answered")
        assert late["payload"]["slot"] == "morning"
        done = {e["payload"]["command_id"]: e["payload"]["ok"] for e in of_kind(gw, "command.done")}
        assert done == {"c-safety": True, "c-re": True}
        await gw.close()

    asyncio.run(scenario())


def dev(signal: DeviceSignal, at: datetime, **kw) -> DeviceEvent:
    return DeviceEvent(
        device=kw.pop("device", "living-motion"),
        role=kw.pop("role", DeviceRole.MOTION),
        signal=signal,
        at=at,
        room=kw.pop("room", "living"),
        data=kw.pop("data", {}),
    )


def test_help_button_goes_first_and_activity_is_summarised(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750 - timedelta(hours=3))
        gw = await opened(tmp_path, clock)
        for minute in range(0, 50, 5):
            await gw.handle_device_event(
                dev(DeviceSignal.ACTIVITY, clock() + timedelta(minutes=minute))
            )
        await gw.handle_device_event(
            dev(DeviceSignal.HELP, clock(), device="button", role=DeviceRole.HELP_BUTTON)
        )
        clock.advance(hours=2)  # both hours touched (19:50-20:35 UTC) are over
        await gw.lifesigns_tick()
        events = pending_events(gw)
        assert events[0]["kind"] == "help.requested"
        assert events[0]["payload"]["source"] == "button"
        summaries = of_kind(gw, "activity.summary")
        assert sum(sum(s["payload"]["counts"].values()) for s in summaries) == 11
        assert "activity" not in kinds(gw)  # no raw flood
        await gw.close()

    asyncio.run(scenario())


def test_button_single_press_answers_the_open_slot(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(SLOT + timedelta(minutes=3))
        gw = await opened(tmp_path, clock)
        await gw.handle_device_event(
            dev(DeviceSignal.CHECKIN_FINE, clock(), device="button", role=DeviceRole.HELP_BUTTON)
        )
        (answered,) = of_kind(gw, "checkin.answered")
        assert answered["payload"]["source"] == "button"
        await gw.schedule_tick()
        assert gw.voice.said == []  # already answered: not asked by voice
        await gw.close()

    asyncio.run(scenario())


def test_garbage_device_events_are_counted_and_the_loop_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock)
        await gw.handle_device_event("not an event")
        await gw.handle_device_event(dev(DeviceSignal.ACTIVITY, datetime(2026, 11, 27, 8, 0)))
        await gw.handle_device_event(
            dev(DeviceSignal.ENVIRONMENT, clock(), data={"condition": "lava"})
        )
        await gw.handle_device_event(
            DeviceEvent("x", DeviceRole.MOTION, "explode", clock())  # type: ignore[arg-type]
        )
        assert gw.counters["bad_device_events"] == 4
        await gw.handle_device_event(
            dev(DeviceSignal.BATTERY_LOW, clock(), data={"battery_pct": 7})
        )
        (low,) = of_kind(gw, "device.battery_low")
        assert low["payload"]["battery_pct"] == 7
        await gw.close()

    asyncio.run(scenario())


def test_inactivity_by_deadline(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750 - timedelta(days=1))
        gw = await opened(tmp_path, clock, cfg=cloud_config(slots=[]))
        await gw.handle_device_event(dev(DeviceSignal.ACTIVITY, clock()))
        clock.advance(days=1, hours=2, minutes=11)  # 10:01 the next day, nothing since
        await gw.lifesigns_tick()
        (alert,) = of_kind(gw, "inactivity")
        assert alert["payload"]["deadline_local"] == "10:00"
        await gw.lifesigns_tick()
        assert len(of_kind(gw, "inactivity")) == 1
        await gw.close()

    asyncio.run(scenario())


def test_help_phrase_between_dialogues(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock, ["今日はいい天気", "助けて"])
        assert await gw.help_spot_once(timeout_s=0.1) is False
        assert await gw.help_spot_once(timeout_s=0.1) is True
        (help_event,) = of_kind(gw, "help.requested")
        assert help_event["payload"]["source"] == "voice"
        await gw.close()

    asyncio.run(scenario())


def test_status_file_for_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.config import save_config

    async def scenario() -> Gateway:
        gw = await opened(tmp_path, SimClock(T_0750))
        await gw.close()
        return gw

    gw = asyncio.run(scenario())
    cfg_path = tmp_path / "gateway.toml"
    save_config(gw.settings, cfg_path)
    result = CliRunner().invoke(app, ["status", "--config", str(cfg_path)])
    assert result.exit_code == 0, result.output
    assert "outbox      1 events waiting" in result.output  # the gateway.started event
    assert "morning" in result.output


def test_full_disk_is_reported_not_a_crash_and_events_are_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(T_0750)
        gw = await opened(tmp_path, clock, outbox_max_mb=0.0625)  # a 64 KiB "disk"
        for minute in range(400):
            await gw.handle_device_event(
                dev(DeviceSignal.BATTERY_LOW, clock() + timedelta(seconds=minute))
            )
        assert gw.counters["outbox_write_errors"] > 0
        assert gw.status()["unstored_events"] == len(gw._unstored) > 0
        assert gw.status()["outbox"]["write_errors"] > 0
        # The uplink frees space; the kept events then go in (what the retry loop does).
        await gw.outbox.delete(gw.outbox.peek(10_000))
        await gw.outbox.put_many(gw._unstored[:20])
        assert gw.outbox.depth() == 20
        await gw.close()

    asyncio.run(scenario())


def test_outbox_alarm_becomes_an_event_and_checkins_survive(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(SLOT + timedelta(minutes=1))
        gw = await opened(tmp_path, clock, outbox_capacity=10)
        await gw.handle_device_event(
            dev(DeviceSignal.CHECKIN_FINE, clock(), device="button", role=DeviceRole.HELP_BUTTON)
        )
        for second in range(30):
            await gw.handle_device_event(
                dev(DeviceSignal.BATTERY_LOW, clock() + timedelta(seconds=second))
            )
        # The alarm event is emitted from the writer's callback: wait for it, bounded.
        await wait_until_async(lambda: "gateway.outbox_alarm" in kinds(gw), timeout=10)
        assert len(of_kind(gw, "checkin.answered")) == 1  # never evicted
        assert gw.status()["outbox"]["alarm"] is True
        assert gw.outbox.stats.evicted > 0
        await gw.close()

    asyncio.run(scenario())


def test_batches_stay_under_the_cloud_body_limit(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = await opened(tmp_path, SimClock(T_0750))
        long_text = "買い物をお願いしたいです。" * 150  # ~6 KB of UTF-8 per event
        for _ in range(300):
            await gw.emit(EventKind.REQUEST_TROUBLE, RequestTrouble(text=long_text))
        batch = gw.uploader._fit(gw.outbox.peek(500))
        assert 0 < len(batch) < 300
        assert sum(len(p.body.encode()) + 1 for p in batch) <= gw.uploader.max_body_bytes
        await gw.close()

    asyncio.run(scenario())


def test_no_sound_card_is_reported_as_the_gateways_fault(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(SLOT)
        gw = await opened(tmp_path, clock)
        gw.voice = None  # e.g. build_local_voice failed: no USB speakerphone
        for minutes in (0, 10, 20):
            clock.t = SLOT + timedelta(minutes=minutes)
            await gw.schedule_tick()
        (missed,) = of_kind(gw, "checkin.no_response")
        assert missed["payload"]["reason"] == "gateway_down"
        assert missed["payload"]["detail"] == "audio_unavailable"
        assert gw.counters["dialogue_unavailable"] == 3
        await gw.close()

    asyncio.run(scenario())


class RecordingBridge:
    """The bridge port as the gateway sees it; records what would go to MQTT (Home Assistant)."""

    def __init__(self) -> None:
        self.states: list[dict] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    def status(self) -> dict:
        return {}

    def health(self) -> list:
        return []

    def publish_checkin_state(self, state: dict) -> None:
        self.states.append(state)


def test_button_and_unanswered_check_ins_reach_the_check_in_sensor(tmp_path: Path) -> None:
    """Home Assistant's 「今日の見守り確認」 shows every outcome, not only voice answers."""
    from firmware_bridge.mqtt import checkin_text

    async def scenario() -> None:
        clock = SimClock(SLOT + timedelta(minutes=3))
        gw = await opened(tmp_path / "button", clock)
        gw.bridge = bridge = RecordingBridge()
        await gw.handle_device_event(
            dev(DeviceSignal.CHECKIN_FINE, clock(), device="button", role=DeviceRole.HELP_BUTTON)
        )
        assert [s["outcome"] for s in bridge.states] == ["button"]
        assert checkin_text(bridge.states[-1]).endswith("morning: ボタンで応答")
        await gw.close()

        clock = SimClock(SLOT)
        gw = await opened(tmp_path / "silent", clock, [])
        gw.bridge = bridge = RecordingBridge()
        for minutes in (0, 10, 20, 40, 60):
            clock.t = SLOT + timedelta(minutes=minutes)
            await gw.schedule_tick()
        assert of_kind(gw, "checkin.no_response")
        assert bridge.states[-1]["outcome"] == "no_response"
        assert checkin_text(bridge.states[-1]) == "11月27日 morning: 応答なし"
        await gw.close()

    asyncio.run(scenario())
