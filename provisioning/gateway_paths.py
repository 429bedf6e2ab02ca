"""Read-only views of the files the gateway daemon keeps in its data dir.

The daemon owns these files and gateway.status knows their names (outbox.sqlite3,
status.json, state.json); we go through it so the two never disagree, and never write them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.config import GatewaySettings


def models_dir(settings_or_data_dir: GatewaySettings | Path) -> Path:
    data_dir = getattr(settings_or_data_dir, "data_dir", settings_or_data_dir)
    return Path(data_dir) / "models"


def outbox_path(settings: GatewaySettings) -> Path:
    return Path(settings.data_dir) / "outbox.sqlite3"


def outbox_depth(settings: GatewaySettings) -> int | None:
    """Rows waiting in the outbox; None when the daemon has not made one yet."""
    from gateway.status import outbox_depth as gateway_outbox_depth

    return gateway_outbox_depth(Path(settings.data_dir))


def read_device_health(settings: GatewaySettings) -> dict[str, dict[str, Any]]:
    """{device name: {battery_pct, last_seen_at, ...}} from the daemon's last status file."""
    from gateway.status import read_status

    devices = read_status(Path(settings.data_dir)).get("devices") or []
    return {str(d.get("device")): d for d in devices if isinstance(d, dict)}
