"""The gateway's one local config file, written by provisioning and read by the daemon.

TOML (default /etc/mimamori/gateway.toml) or JSON (by file suffix). The path can be
overridden with --config or the MIMAMORI_GATEWAY_CONFIG environment variable.

API for provisioning:
    config_path(explicit=None) -> Path            # --config > env > default
    load_config(path) -> GatewaySettings          # raises ConfigError with a clear message
    save_config(settings, path) -> None           # atomic (temp + fsync + rename), 0640
    write_token(path, token) -> None              # atomic, mode 0600
    read_token(path) -> str                       # refuses group/other-readable files
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from firmware_bridge.events import PairedDevice

DEFAULT_CONFIG_PATH = Path("/etc/mimamori/gateway.toml")
CONFIG_ENV = "MIMAMORI_GATEWAY_CONFIG"


class ConfigError(Exception):
    """The config file or the token file is missing, malformed or unsafe."""


class AudioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_device: str | None = None  # sounddevice name or index; None = system default
    output_device: str | None = None
    model_path: str | None = None  # vosk model directory
    # False = grammar-only recognition for a small Pi: the free-form language model, the
    # words no grammar uses and the graph's other paths stay unloaded (~430 MB less on the
    # Korean test model); an answer the grammar cannot place gets the dialogue's re-ask and
    # confirmation instead of a free-form decode.
    free_fallback: bool = True
    # True = the room heard just before each prompt is the noise profile the answer is
    # cleaned against (speech.frontend.LIVE: high-pass + spectral gate). False = raw audio,
    # for a room where the filter is measured to hurt (docs/speech.md, noise).
    noise_filter: bool = True


class MqttSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_file: str | None = None
    base_topic: str = "zigbee2mqtt"
    tls: bool = False


class GatewaySettings(BaseModel):
    """Everything local to this box. The household's schedule comes from the cloud config."""

    model_config = ConfigDict(extra="forbid")
    cloud_url: str = Field(min_length=8)
    ca_bundle: Path | None = None  # PEM file; None = system trust store
    gateway_id: str = Field(min_length=1)
    household_id: str = Field(min_length=1)
    token_file: Path
    language: Literal["ja", "ko", "en"] = "ja"
    timezone: str = "Asia/Tokyo"  # used until the first cloud config arrives
    audio: AudioSettings = Field(default_factory=AudioSettings)
    tts_speed: float = Field(default=1.0, ge=0.5, le=1.5)
    tts_volume: float = Field(default=1.0, ge=0.1, le=2.0)
    mqtt: MqttSettings | None = None
    ble_enabled: bool = True
    data_dir: Path = Path("/var/lib/mimamori")
    devices: list[PairedDevice] = Field(default_factory=list)
    # local: this box's sound card; satellite: a Rhasspy Hermes satellite speaker over the
    # local MQTT broker (needs `mqtt` and `satellite_site_id`); text-sim: labelled simulator
    voice_mode: Literal["local", "satellite", "text-sim"] = "local"
    satellite_site_id: str | None = Field(default=None, min_length=1, pattern=r"^[^/#+]+$")
    # text-sim only: scripted answers (None = silence), a clearly labelled simulator
    text_sim_answers: list[str | None] = Field(default_factory=list)
    help_phrase_spotting: bool = True
    heartbeat_interval_s: int | None = Field(default=None, ge=1, le=3600)  # None = cloud's
    outbox_capacity: int = Field(default=100_000, ge=10)  # events; alarm at 80 %
    outbox_max_mb: float | None = Field(default=None, gt=0)  # hard size cap (acts as disk full)
    inactivity_span_h: float | None = Field(default=None, gt=0, le=72)
    upload_batch_size: int = Field(default=500, ge=1, le=500)
    max_backoff_s: float = Field(default=300.0, ge=0.1)
    # Prometheus /metrics on loopback (None = off); see gateway/metrics.py.
    metrics_port: int | None = Field(default=9105, ge=1, le=65535)

    @field_validator("cloud_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("cloud_url must start with https:// (http:// only for local tests)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _satellite_needs_mqtt(self) -> GatewaySettings:
        if self.voice_mode == "satellite":
            if self.mqtt is None:
                raise ValueError("voice_mode 'satellite' needs the [mqtt] broker settings")
            if not self.satellite_site_id:
                raise ValueError("voice_mode 'satellite' needs satellite_site_id (Hermes siteId)")
        return self


def config_path(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    if path.suffix == ".json":
        return json.loads(raw)
    return tomllib.loads(raw.decode("utf-8"))


def load_config(path: Path) -> GatewaySettings:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (run `mimamori-provision enroll` first)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = _parse(path, raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid {path.suffix[1:] or 'toml'}: {exc}"
        ) from None
    try:
        return GatewaySettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid:\n{exc}") from None


def _drop_none(value: Any) -> Any:
    # TOML has no null: leave unset keys out (the model fills the defaults back in).
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def atomic_write(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write a file so a power cut leaves either the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # umask must not loosen or tighten what we asked for
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def save_config(settings: GatewaySettings, path: Path) -> None:
    data = settings.model_dump(mode="json")
    if path.suffix == ".json":
        body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    else:
        text_sim = data.pop("text_sim_answers")
        if any(a is None for a in text_sim):
            raise ConfigError("text_sim_answers with silences (null) need a .json config file")
        data = _drop_none(data)
        data["text_sim_answers"] = text_sim
        body = tomli_w.dumps(data).encode("utf-8")
    atomic_write(path, body, mode=0o640)


def write_token(path: Path, token: str) -> None:
    atomic_write(path, token.strip().encode("ascii") + b"\n", mode=0o600)


def read_token(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"token file {path} not found (enroll the gateway first)") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"token file {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0600 "
            f"(readable by its owner only). Fix with: chmod 600 {path}"
        )
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token
