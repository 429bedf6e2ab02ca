"""Where the gateway daemon keeps its files, and read-only views of them for the installer.

The daemon owns these files; we never write them. If gateway/ exposes a path helper we use
it, so the two never disagree; otherwise the documented defaults under data_dir.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from typing import Any

from gateway.config import GatewaySettings

DEFAULT_OUTBOX = "outbox.sqlite3"
DEFAULT_STATE = "state.json"


def _gateway_helper(name: str) -> Any:
    for module in ("gateway.paths", "gateway.daemon", "gateway.app"):
        try:
            helper = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if callable(helper):
            return helper
    return None


def outbox_path(settings: GatewaySettings) -> Path:
    helper = _gateway_helper("outbox_path")
    return Path(helper(settings)) if helper else Path(settings.data_dir) / DEFAULT_OUTBOX


def state_path(settings: GatewaySettings) -> Path:
    helper = _gateway_helper("state_path")
    return Path(helper(settings)) if helper else Path(settings.data_dir) / DEFAULT_STATE


def models_dir(settings_or_data_dir: GatewaySettings | Path) -> Path:
    data_dir = getattr(settings_or_data_dir, "data_dir", settings_or_data_dir)
    return Path(data_dir) / "models"


def outbox_depth(settings: GatewaySettings) -> int | None:
    """Rows waiting in the outbox, read-only; None when the daemon has not made one yet."""
    path = outbox_path(settings)
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def read_device_health(settings: GatewaySettings) -> dict[str, dict[str, Any]]:
    """{device name: {battery_pct, last_seen_at}} from the daemon's small state file."""
    from gateway.state import read_state_file

    state = read_state_file(state_path(settings))
    raw = state.get("devices") or state.get("device_health") or {}
    if isinstance(raw, list):
        return {str(item.get("device")): item for item in raw if isinstance(item, dict)}
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items() if isinstance(v, dict)}
    return {}
