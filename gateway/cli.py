"""`mimamori-gateway`: run the home daemon, or show its local status."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway import __version__
from gateway.config import ConfigError, GatewaySettings, config_path, load_config
from gateway.logging_setup import setup_logging

app = typer.Typer(
    help="Mimamori home gateway: daily voice check-ins, life signs, durable uplink.",
    no_args_is_help=True,
    add_completion=False,
)
log = logging.getLogger("gateway")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config file (default: $MIMAMORI_GATEWAY_CONFIG or /etc/mimamori/gateway.toml)",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mimamori-gateway {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show version")
    ] = False,
) -> None:
    """Mimamori home gateway."""


def resolve_log_format(option: str, on_terminal: bool) -> str:
    if option == "auto":
        return "text" if on_terminal else "json"
    if option not in ("json", "text"):
        typer.echo(f"error: --log-format must be json, text or auto, not {option!r}", err=True)
        raise typer.Exit(2)
    return option


def _ids(settings: GatewaySettings) -> dict[str, str]:
    return {"gateway_id": settings.gateway_id, "household_id": settings.household_id}


def _load(config: Path | None) -> GatewaySettings:
    try:
        return load_config(config_path(config))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def build_voice(settings: GatewaySettings, bridge: Any = None) -> Any:
    """The resident's voice: the local sound card, a Hermes satellite speaker reached through
    the bridge's MQTT link (call inside the running loop), or the labelled text simulator."""
    if settings.voice_mode == "text-sim":
        from speech.voice import TextVoice

        log.warning("voice mode text-sim: TEXT-ANSWER SIMULATOR, no microphone is used")
        return TextVoice(settings.text_sim_answers)
    if settings.voice_mode == "satellite":
        return build_satellite(settings, bridge)
    try:
        from speech.frontend import LIVE
        from speech.voice import build_local_voice

        return build_local_voice(
            lang=settings.language,
            input_device=settings.audio.input_device,
            output_device=settings.audio.output_device,
            model_path=settings.audio.model_path,
            free_fallback=settings.audio.free_fallback,
            view_cache=settings.data_dir / "vosk-views",
            front_end=LIVE if settings.audio.noise_filter else None,
        )
    except Exception as exc:  # no sound card / no model: run on, check-ins are reported
        log.error("local voice unavailable (%s): check-ins will be reported unanswered", exc)
        return None


def build_satellite(settings: GatewaySettings, bridge: Any) -> Any:
    """SatelliteVoice on the bridge's MQTT link; None (logged) when it cannot be built."""
    if bridge is None or getattr(bridge, "link", None) is None:
        log.error("voice mode satellite needs the MQTT bridge: check-ins will be unanswered")
        return None
    try:
        from speech.satellite_voice import build_satellite_voice

        return build_satellite_voice(
            bridge.hermes_satellite(settings.satellite_site_id),
            lang=settings.language,
            model_path=settings.audio.model_path,
            free_fallback=settings.audio.free_fallback,
            view_cache=settings.data_dir / "vosk-views",
        )
    except Exception as exc:  # no model: run on, check-ins are reported
        log.error("satellite voice unavailable (%s): check-ins will be reported unanswered", exc)
        return None


def build_bridge(settings: GatewaySettings, sink: Any) -> Any:
    if not settings.devices and settings.mqtt is None and not settings.ble_enabled:
        return None
    from firmware_bridge.mqtt import MqttSettings
    from firmware_bridge.service import DeviceBridge

    mqtt = None
    if settings.mqtt is not None:
        password = None
        if settings.mqtt.password_file:
            password = Path(settings.mqtt.password_file).read_text().strip()
        mqtt = MqttSettings(
            host=settings.mqtt.host,
            port=settings.mqtt.port,
            base_topic=settings.mqtt.base_topic,
            username=settings.mqtt.username,
            password=password,
            client_id=f"mimamori-{settings.gateway_id}"[:64],
        )
    return DeviceBridge(
        settings.devices,
        sink=sink,
        state_dir=settings.data_dir / "bridge",
        mqtt=mqtt,
        ble_enabled=settings.ble_enabled,
    )


async def run_gateway(settings: GatewaySettings) -> None:
    from gateway.daemon import Gateway
    from speech.dialogue import Dialogue
    from speech.intents import is_help_phrase

    gateway = Gateway(
        settings,
        dialogue_factory=Dialogue,
        help_phrase=lambda text, lang: is_help_phrase(text, lang),
    )
    gateway.bridge = build_bridge(settings, gateway.device_sink)
    # After the bridge: a satellite voice speaks through the bridge's MQTT link.
    gateway.voice = build_voice(settings, gateway.bridge)
    await gateway.run()


@app.command()
def run(
    config: ConfigOption = None,
    log_format: Annotated[
        str,
        typer.Option(
            envvar="MIMAMORI_LOG_FORMAT",
            help="json (one object per line: journald, log shippers), text (for people), or "
            "auto: text on a terminal, json otherwise (under systemd)",
        ),
    ] = "auto",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the daemon until SIGTERM (systemd: Type=notify, WatchdogSec=)."""
    fmt = resolve_log_format(log_format, sys.stderr.isatty())
    level = logging.DEBUG if verbose else logging.INFO
    setup_logging(fmt, level)
    settings = _load(config)
    # From here on every line names the home it comes from.
    setup_logging(fmt, level, ids=_ids(settings))
    try:
        asyncio.run(run_gateway(settings))
    except ConfigError as exc:  # e.g. token file with loose permissions
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show schedule, outbox depth, last upload, devices, audio and model state."""
    from gateway.status import read_status

    settings = _load(config)
    info = read_status(settings.data_dir)
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2, default=str))
        return
    _print_status(settings, info)


def _print_status(settings: GatewaySettings, info: dict[str, Any]) -> None:
    outbox = info.get("outbox") or {}
    uplink = info.get("uplink") or {}
    lines = [
        f"gateway     {settings.gateway_id} (household {settings.household_id})",
        f"daemon      {'running' if info.get('daemon_running') else 'NOT running'}"
        f" (pid {info.get('pid')}, status written {info.get('written_at')})",
        f"config      version {info.get('config_version')}, zone {info.get('timezone')}",
        "next slots  "
        + (", ".join(f"{s['slot']} {s['at']}" for s in info.get("next_slots") or []) or "none"),
        f"outbox      {info.get('outbox_depth_now')} events waiting"
        f"{' — ALARM' if outbox.get('alarm') else ''}; bytes/event "
        f"{outbox.get('bytes_per_event')}; write errors {outbox.get('write_errors', 0)}",
        f"quarantine  {info.get('quarantined_now') or 0} events the cloud kept refusing"
        f"{' — CHECK' if info.get('quarantined_now') else ''} (kept in outbox.sqlite3, "
        "table rejected)",
        f"last upload {uplink.get('last_upload_at')} (last error: {uplink.get('last_error')})",
        f"heartbeat   {info.get('last_heartbeat_at')}",
        f"audio       {info.get('audio')}; model {info.get('model')}",
        f"bridge      {info.get('bridge')}",
        f"clock       synchronised: {info.get('clock_synchronized')}",
        "devices:",
    ]
    for dev in info.get("devices") or []:
        lines.append(
            f"  {dev.get('device'):<20} {dev.get('role') or '':<12} battery "
            f"{dev.get('battery_pct')}  last seen {dev.get('last_seen_at')}"
            f"{'  SILENT' if dev.get('silent') else ''}"
        )
    typer.echo("\n".join(lines))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
