"""The status file the daemon writes and `mimamori-gateway status` reads.

Written every few seconds with temp + rename but without fsync: it is a view, rebuilt on the
next write, and fsyncing it would wear the SD card for nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from gateway.state import read_state_file

STATUS_FILE = "status.json"


def write_status(data_dir: Path, status: dict[str, Any]) -> None:
    path = data_dir / STATUS_FILE
    tmp = path.with_name(f".{STATUS_FILE}.tmp")
    tmp.write_text(json.dumps(status, ensure_ascii=False, indent=1, default=str), "utf-8")
    os.replace(tmp, path)


def outbox_depth(data_dir: Path) -> int | None:
    return _count(data_dir, "outbox")


def quarantined_events(data_dir: Path) -> int | None:
    """Events the cloud kept refusing, kept in the outbox file's quarantine table."""
    return _count(data_dir, "rejected")


def _count(data_dir: Path, table: str) -> int | None:
    path = data_dir / "outbox.sqlite3"
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(data_dir: Path) -> dict[str, Any]:
    """What the last running daemon wrote, with the live outbox depth and small state."""
    try:
        status = json.loads((data_dir / STATUS_FILE).read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        status = {}
    state = read_state_file(data_dir / "state.json")
    status["daemon_running"] = pid_alive(status.get("pid"))
    status["outbox_depth_now"] = outbox_depth(data_dir)
    status["quarantined_now"] = quarantined_events(data_dir)
    status["previous_boots"] = state.get("boots")
    status["tracking_since"] = state.get("tracking_since")
    slots = state.get("slots") or {}
    status["recent_slots"] = {k: slots[k] for k in sorted(slots)[-6:]}
    return status
