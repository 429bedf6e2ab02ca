"""The local config file: round trips, env override, token permissions, CLI errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware_bridge.events import DeviceRole, PairedDevice
from gateway.cli import app
from gateway.config import (
    CONFIG_ENV,
    ConfigError,
    GatewaySettings,
    MqttSettings,
    config_path,
    load_config,
    read_token,
    save_config,
    write_token,
)


def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(
        cloud_url="https://cloud.example.jp/",
        gateway_id="g1",
        household_id="h1",
        token_file=tmp_path / "token",
        mqtt=MqttSettings(port=18830),
        data_dir=tmp_path / "data",
        devices=[
            PairedDevice(name="door", transport="mqtt", mqtt_name="door", role=DeviceRole.CONTACT)
        ],
        text_sim_answers=["元気です"],
    )


@pytest.mark.parametrize("name", ["gateway.toml", "gateway.json"])
def test_round_trip_is_atomic_and_lossless(tmp_path: Path, name: str) -> None:
    original = settings(tmp_path)
    path = tmp_path / "etc" / name
    save_config(original, path)
    assert load_config(path) == original
    assert original.cloud_url == "https://cloud.example.jp"
    assert not list(path.parent.glob(".*tmp*"))  # no temp file left behind
    assert oct(path.stat().st_mode & 0o777) == "0o640"


def test_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert config_path() == Path("/etc/mimamori/gateway.toml")
    monkeypatch.setenv(CONFIG_ENV, "/tmp/x.json")
    assert config_path() == Path("/tmp/x.json")
    assert config_path("/a/b.toml") == Path("/a/b.toml")


def test_token_must_be_owner_only(tmp_path: Path) -> None:
    token = tmp_path / "token"
    write_token(token, "s3cret")
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    assert read_token(token) == "s3cret"
    os.chmod(token, 0o644)
    with pytest.raises(ConfigError, match="must be 0600"):
        read_token(token)


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("cloud_url = [")
    with pytest.raises(ConfigError, match="not valid toml"):
        load_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('cloud_url = "ftp://x"\ngateway_id = "g"\n')
    with pytest.raises(ConfigError, match="invalid"):
        load_config(wrong)


def test_cli_version_and_refuses_loose_token(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.startswith("mimamori-gateway ")
    s = settings(tmp_path)
    write_token(s.token_file, "t")
    os.chmod(s.token_file, 0o666)
    path = tmp_path / "gateway.toml"
    save_config(s, path)
    result = runner.invoke(app, ["run", "--config", str(path), "--log-format", "text"])
    assert result.exit_code == 2
    assert "must be 0600" in result.output
