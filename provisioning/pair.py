"""`pair`, `unpair`, `devices`: the radio (or a replay file) feeding the pairing core, a live
Rich table, the installer's choices, and the paired device written to the gateway config."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from firmware_bridge.events import DeviceRole, PairedDevice
from gateway.config import GatewaySettings
from provisioning.errors import ProvisionError
from provisioning.messages import t
from provisioning.pairing import (
    NAME_RE,
    Advertisement,
    Candidate,
    ReplayWriter,
    ScanSession,
    parse_bindkey,
    read_replay,
    verify_bindkey,
)
from provisioning.settings import load_settings, save_settings

ROLES = [role.value for role in DeviceRole]


def render_table(session: ScanSession) -> Table:
    table = Table(title=t("scan_title"))
    for key in ("col_no", "col_name", "col_address", "col_rssi", "col_reading"):
        table.add_column(t(key))
    for number, cand in enumerate(session.ordered(), start=1):
        reading = cand.reading or (t("encrypted") if cand.encrypted else "")
        rssi = "" if cand.rssi is None else f"{cand.rssi} dBm"
        table.add_row(str(number), cand.name or "", cand.address, rssi, reading)
    return table


async def _replay(path: Path, feed: Callable[[Advertisement], None], pace: bool) -> None:
    for adv, delay in read_replay(path):
        if pace and delay > 0:
            await asyncio.sleep(delay)
        feed(adv)
        await asyncio.sleep(0)


async def _ble_scan(seconds: float, feed: Callable[[Advertisement], None]) -> None:
    try:
        from bleak import BleakScanner
        from bleak.exc import BleakError
    except ImportError as exc:  # gateway extra not installed
        raise ProvisionError("no_ble", error=exc) from None

    def on_advert(device: Any, data: Any) -> None:
        service_data = {str(k).lower(): bytes(v) for k, v in data.service_data.items()}
        feed(Advertisement(device.address, service_data, data.rssi, data.local_name))

    try:
        async with BleakScanner(detection_callback=on_advert):
            await asyncio.sleep(seconds)
    except (FileNotFoundError, BleakError, OSError) as exc:
        # FileNotFoundError: no D-Bus socket; BleakDBusError (a BleakError): no BlueZ.
        raise ProvisionError("no_ble", error=type(exc).__name__) from None


def scan(
    console: Console,
    replay: Path | None,
    seconds: float,
    pace: bool,
    record: Path | None = None,
) -> ScanSession:
    """Feed the radio (or a replay file) into a ScanSession under a live table; with
    `record`, every advertisement heard is also written as a replay line."""
    session = ScanSession()
    with (
        Live(render_table(session), console=console, refresh_per_second=4) as live,
        ReplayWriter(record) as recorder,
    ):

        def feed(adv: Advertisement) -> None:
            recorder.write(adv)
            if session.observe(adv) is not None:
                live.update(render_table(session))

        source = _replay(replay, feed, pace) if replay else _ble_scan(seconds, feed)
        asyncio.run(source)
        live.update(render_table(session))
    if not console.is_terminal:
        console.line()  # Live leaves the cursor after the table's last line on a pipe
    return session


def _ask_until_valid(label: str, check: Callable[[str], Any], default: str | None = None) -> Any:
    while True:
        answer = typer.prompt(label, default=default)
        try:
            return check(answer)
        except ProvisionError as exc:
            typer.echo(str(exc), err=True)


def check_role(value: str) -> DeviceRole:
    if value not in ROLES:
        raise ProvisionError("bad_role", value=value, choices=", ".join(ROLES))
    return DeviceRole(value)


def check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ProvisionError("bad_name", value=value)
    return value


def _default_name(role: DeviceRole, key: str) -> str:
    tail = "".join(ch for ch in key if ch.isalnum())[-4:].lower()
    return f"{role.value}-{tail}"


def _check_free(settings: GatewaySettings, name: str, address: str | None) -> None:
    for device in settings.devices:
        if device.name == name:
            raise ProvisionError("name_taken", name=name)
        if address and device.address and device.address.upper() == address.upper():
            raise ProvisionError("address_taken", address=address, name=device.name)


def pair_ble(
    console: Console,
    config: Path,
    *,
    replay: Path | None,
    seconds: float,
    pace: bool,
    record: Path | None = None,
    address: str | None,
    bindkey: str | None,
    role: str | None,
    room: str | None,
    name: str | None,
    interactive: bool,
) -> PairedDevice:
    """Flags answer the questions; what is missing is asked when interactive, else an error
    (or, for room and name, the default)."""
    settings = load_settings(config)
    session = scan(console, replay, seconds, pace, record)
    if not session.candidates:
        raise ProvisionError("no_devices_found")
    if address or not interactive:
        candidate = session.pick(address or "")
    else:
        candidate = _ask_until_valid(t("ask_pick"), session.pick)
    key = _bindkey_for(candidate, bindkey, interactive)
    console.print(t("bindkey_ok", reading=verify_bindkey(candidate, key)), markup=False)
    if role or not interactive:
        device_role = check_role(role or "")
    else:
        device_role = _ask_until_valid(t("ask_role"), check_role)
    if room is None and interactive:
        room = typer.prompt(t("ask_room"), default="")
    default = _default_name(device_role, candidate.address)
    if name or not interactive:
        device_name = check_name(name or default)
    else:
        device_name = _ask_until_valid(t("ask_name"), check_name, default)
    device = PairedDevice(
        name=device_name,
        transport="ble",
        address=candidate.address,
        role=device_role,
        room=room or None,
        bindkey=key.hex() if key else None,
    )
    return _store(config, settings, device)


def _bindkey_for(candidate: Candidate, given: str | None, interactive: bool) -> bytes | None:
    if given is not None:
        return parse_bindkey(given) if given.strip() else None
    if not candidate.encrypted:
        return None
    if not interactive:
        raise ProvisionError("bindkey_needed", address=candidate.address)

    def check(text: str) -> bytes:
        key = parse_bindkey(text)
        verify_bindkey(candidate, key)  # ask again right away if it does not decrypt
        return key

    return _ask_until_valid(t("ask_bindkey"), check)


def pair_mqtt(
    config: Path, mqtt_name: str, role: str, room: str | None, name: str | None
) -> PairedDevice:
    settings = load_settings(config)
    device_role = check_role(role)
    device_name = check_name(name) if name else _slug(mqtt_name)
    device = PairedDevice(
        name=device_name, transport="mqtt", mqtt_name=mqtt_name, role=device_role, room=room
    )
    return _store(config, settings, device)


def _slug(text: str) -> str:
    slug = "".join(ch if ch.isalnum() and ch.isascii() else "-" for ch in text).strip("-")
    return check_name(slug[:64] or "mqtt-device")


def _store(config: Path, settings: GatewaySettings, device: PairedDevice) -> PairedDevice:
    _check_free(settings, device.name, device.address)
    updated = settings.model_copy(update={"devices": [*settings.devices, device]})
    save_settings(updated, config)
    forget_replay_counter(settings, device.name)
    return device


def forget_replay_counter(settings: GatewaySettings, name: str) -> None:
    """A (re-)paired device starts a fresh encryption counter; a high-water mark left from an
    earlier pairing under this name would make the bridge drop every frame as a replay.
    The bridge keeps its counters in <data_dir>/bridge (gateway/cli.py)."""
    from firmware_bridge.bthome import CounterStore
    from firmware_bridge.service import COUNTER_FILE

    path = Path(settings.data_dir) / "bridge" / COUNTER_FILE
    if path.exists():
        store = CounterStore(path)
        store.forget(name)
        store.save()


def unpair(config: Path, name: str) -> None:
    settings = load_settings(config)
    kept = [d for d in settings.devices if d.name != name]
    if len(kept) == len(settings.devices):
        raise ProvisionError("no_such_device", name=name)
    save_settings(settings.model_copy(update={"devices": kept}), config)
    forget_replay_counter(settings, name)


# --- devices ---------------------------------------------------------------------------------


def device_health(settings: GatewaySettings) -> dict[str, dict[str, Any]]:
    """Battery and last-seen per device name from the gateway's state, if it has written any."""
    from provisioning.gateway_paths import read_device_health

    with contextlib.suppress(Exception):  # the daemon may never have run: show unknowns
        return read_device_health(settings)
    return {}


def devices_table(settings: GatewaySettings) -> Table:
    health = device_health(settings)
    table = Table(title=t("devices_title"))
    for key in (
        "col_name",
        "col_transport",
        "col_address",
        "col_role",
        "col_room",
        "col_battery",
        "col_last_seen",
    ):
        table.add_column(t(key))
    for device in settings.devices:
        info = health.get(device.name, {})
        battery = info.get("battery_pct")
        table.add_row(
            device.name,
            device.transport,
            device.address or device.mqtt_name or "",
            device.role.value,
            device.room or "",
            f"{battery}%" if battery is not None else t("unknown"),
            _ago(info.get("last_seen_at")),
        )
    return table


def _ago(value: Any) -> str:
    if not value:
        return t("unknown")
    try:
        seen = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return seen.astimezone().strftime("%Y-%m-%d %H:%M")
