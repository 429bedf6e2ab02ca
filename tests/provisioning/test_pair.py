"""`pair` with recorded BTHome frames through firmware_bridge's real decoder; devices; unpair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_bridge.simulate import BATTERY, HUMIDITY, MOTION, TEMPERATURE, build_frame
from gateway.config import GatewaySettings, load_config, save_config

from .conftest import Gateway, assert_one_sentence_error

KEY = "231d39c1d7cc1ab1aee224cd096db932"
THERMO = "A4:C1:38:00:00:01"
MOTION_MAC = "A4:C1:38:00:00:02"


def _record(address: str, frame: bytes, rssi: int, name: str) -> dict:
    return {"address": address, "service_data": frame.hex(), "rssi": rssi, "name": name}


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """What a scan near a plain thermometer and an encrypted motion sensor records."""
    lines = []
    for i in range(3):
        thermo = build_frame(
            [(TEMPERATURE, 21.5 + i), (HUMIDITY, 40.0), (BATTERY, 87)], packet_id=i + 1
        )
        lines.append(_record(THERMO, thermo, -60 - i, "ATC_thermo"))
        motion = build_frame(
            [(MOTION, 1), (BATTERY, 90)], bindkey=KEY, counter=10 + i, mac=MOTION_MAC
        )
        lines.append(_record(MOTION_MAC, motion, -71, "BTHome motion"))
    beacon = {"0000feaa-0000-1000-8000-00805f9b34fb": "00ff"}  # an Eddystone beacon: not ours
    lines.append({"address": "11:22:33:44:55:66", "service_data": beacon, "rssi": -80})
    lines.append(_record("11:22:33:44:55:77", b"\x40\x02", -90, "truncated"))  # garbage
    path = tmp_path / "frames.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


@pytest.fixture
def enrolled(gw: Gateway) -> Gateway:
    settings = GatewaySettings(
        cloud_url="http://127.0.0.1:9",
        gateway_id="gw-1",
        household_id="hh-1",
        token_file=gw.token_file,
        data_dir=gw.data_dir,
    )
    save_config(settings, gw.config)
    return gw


def test_scan_table_lists_only_bthome_devices_with_readings(enrolled: Gateway, frames) -> None:
    result = enrolled.run(
        "pair",
        "--replay",
        str(frames),
        "--address",
        "1",
        "--role",
        "thermometer",
        "--room",
        "居間",
        "--no-interactive",
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout
    assert THERMO in table and MOTION_MAC in table
    assert "11:22:33:44:55:66" not in table and "11:22:33:44:55:77" not in table
    assert "temperature 23.5" in table  # the latest of the three readings, decoded
    assert "-62 dBm" in table
    assert "(encrypted)" in table
    assert "Paired thermometer-0001 (thermometer, 居間)." in table
    [device] = load_config(enrolled.config).devices
    assert (device.address, device.role.value, device.room, device.bindkey) == (
        THERMO,
        "thermometer",
        "居間",
        None,
    )


def test_encrypted_device_pairs_only_with_the_key_that_decrypts_it(
    enrolled: Gateway, frames
) -> None:
    base = [
        "pair",
        "--replay",
        str(frames),
        "--address",
        MOTION_MAC,
        "--role",
        "motion",
        "--no-interactive",
    ]
    wrong = enrolled.run(*base, "--bindkey", "00" * 16)
    assert "does not decrypt this device's frames" in assert_one_sentence_error(wrong)
    missing = enrolled.run(*base)
    assert "give its bindkey with --bindkey" in assert_one_sentence_error(missing)
    malformed = enrolled.run(*base, "--bindkey", "xyz")
    assert "32 hexadecimal characters" in assert_one_sentence_error(malformed)
    assert load_config(enrolled.config).devices == []

    right = enrolled.run(*base, "--bindkey", KEY.upper(), "--name", "living-motion")
    assert right.returncode == 0, right.stderr
    assert "Bindkey verified: battery 90, motion on" in right.stdout
    [device] = load_config(enrolled.config).devices
    assert (device.name, device.bindkey, device.address) == ("living-motion", KEY, MOTION_MAC)

    again = enrolled.run(*base, "--bindkey", KEY, "--name", "other")
    assert "already paired as living-motion" in assert_one_sentence_error(again)


def test_interactive_pairing_asks_again_after_a_wrong_key(enrolled: Gateway, frames) -> None:
    answers = "\n".join(["7", "2", "00" * 16, KEY, "doorbell", "motion", "寝室", ""]) + "\n"
    result = enrolled.run(
        "pair", "--replay", str(frames), "--interactive", input=answers, lang="ja_JP.UTF-8"
    )
    assert result.returncode == 0, result.stderr
    assert "'7' は一覧にない番号" in result.stderr
    assert "このバインドキーでは" in result.stderr
    assert "'doorbell' は役割として使えません" in result.stderr
    assert "motion-0002（motion、寝室）をペアリングしました。" in result.stdout
    [device] = load_config(enrolled.config).devices
    assert (device.room, device.bindkey) == ("寝室", KEY)


def test_bad_replay_file_is_one_sentence(enrolled: Gateway, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"address": "A4:C1:38:00:00:01", "service_data": "zz"}\n')
    result = enrolled.run("pair", "--replay", str(bad), "--no-interactive")
    assert "Line 1 of the replay file" in assert_one_sentence_error(result)
    nothing = tmp_path / "empty.jsonl"
    nothing.write_text("")
    none = enrolled.run("pair", "--replay", str(nothing), "--no-interactive")
    assert "No BTHome device was heard" in assert_one_sentence_error(none)
    gone = enrolled.run("pair", "--replay", str(tmp_path / "nope.jsonl"))
    assert "does not exist" in assert_one_sentence_error(gone)


def test_ble_scan_without_an_adapter_says_so(enrolled: Gateway) -> None:
    """This machine has no Bluetooth: the real bleak scanner fails, and we say what to do."""
    result = enrolled.run("pair", "--seconds", "1", "--no-interactive")
    line = assert_one_sentence_error(result)
    assert "No Bluetooth adapter is available" in line and "--replay" in line


def test_mqtt_pairing_devices_and_unpair(enrolled: Gateway, frames) -> None:
    result = enrolled.run("pair", "--mqtt", "Hallway Door", "contact", "--room", "玄関")
    assert result.returncode == 0, result.stderr
    assert "Paired Hallway-Door (contact, 玄関)." in result.stdout
    bad_role = enrolled.run("pair", "--mqtt", "Kitchen", "toaster")
    assert "'toaster' is not a device role" in assert_one_sentence_error(bad_role)

    listing = enrolled.run("devices")
    assert listing.returncode == 0
    assert "Hallway-Door" in listing.stdout and "Hallway Door" in listing.stdout
    assert "unknown" in listing.stdout  # the daemon has not reported battery/last seen yet

    assert enrolled.run("unpair", "Hallway-Door").returncode == 0
    assert load_config(enrolled.config).devices == []
    missing = enrolled.run("unpair", "Hallway-Door")
    assert "No paired device is named Hallway-Door" in assert_one_sentence_error(missing)


def test_devices_shows_battery_and_last_seen_from_gateway_status(enrolled: Gateway) -> None:
    from gateway.status import write_status
    from mimamori_wire.v1 import DeviceHealth

    enrolled.run("pair", "--mqtt", "Button", "help_button")
    health = DeviceHealth(device="Button", battery_pct=64, last_seen_at="2026-11-27T01:00:00Z")
    enrolled.data_dir.mkdir(parents=True, exist_ok=True)
    write_status(enrolled.data_dir, {"devices": [health.model_dump(mode="json")]})
    listing = enrolled.run("devices", TZ="Asia/Tokyo")
    assert "64%" in listing.stdout
    assert "2026-11-27 10:00" in listing.stdout


def test_recorded_scan_replays_to_the_same_result(enrolled: Gateway, frames, tmp_path) -> None:
    recording = tmp_path / "recorded.jsonl"
    first = enrolled.run(
        "pair",
        "--replay",
        str(frames),
        "--record",
        str(recording),
        "--address",
        "1",
        "--role",
        "thermometer",
        "--no-interactive",
    )
    assert first.returncode == 0, first.stderr
    assert len(recording.read_text().splitlines()) == len(frames.read_text().splitlines())
    enrolled.run("unpair", "thermometer-0001")
    second = enrolled.run(
        "pair",
        "--replay",
        str(recording),
        "--address",
        "1",
        "--role",
        "thermometer",
        "--no-interactive",
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_pairing_forgets_an_old_encryption_counter(enrolled: Gateway, frames) -> None:
    """Re-pairing under the same name must not inherit the old key's counter high-water mark
    (the bridge would reject every frame of the reset device as a replay)."""
    from firmware_bridge.bthome import CounterStore
    from firmware_bridge.service import COUNTER_FILE

    path = enrolled.data_dir / "bridge" / COUNTER_FILE
    store = CounterStore(path)
    store.set("living-motion", 9_999)
    store.set("kitchen-motion", 42)
    store.save()
    result = enrolled.run(
        "pair",
        "--replay",
        str(frames),
        "--address",
        MOTION_MAC,
        "--bindkey",
        KEY,
        "--role",
        "motion",
        "--name",
        "living-motion",
        "--no-interactive",
    )
    assert result.returncode == 0, result.stderr
    assert CounterStore(path).counters == {"kitchen-motion": 42}
