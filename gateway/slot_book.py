"""What the gateway has done for each slot occurrence, kept in the small state.

Keyed by occurrence (`2026-11-27/morning`); rows older than SLOT_KEYS_KEPT_DAYS are dropped
on each write, so the state stays small.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gateway.ports import Home
from mimamori_rules.schedule import SlotProgress

SLOT_KEYS_KEPT_DAYS = 9


class SlotBook:
    def __init__(self, home: Home) -> None:
        self.home = home

    def row(self, key: str) -> dict[str, Any]:
        return dict((self.home.state.get("slots") or {}).get(key) or {})

    def progress(self, key: str) -> SlotProgress:
        raw = self.row(key)
        if not raw:
            return SlotProgress()
        last = raw.get("last_attempt_at")
        return SlotProgress(
            attempts=raw.get("attempts", 0),
            last_attempt_at=datetime.fromisoformat(last) if last else None,
            done=raw.get("done", False),
        )

    def save(self, key: str, **changes: Any) -> None:
        slots = dict(self.home.state.get("slots") or {})
        row = dict(slots.get(key) or {})
        row.update(changes)
        slots[key] = row
        cutoff = (self.home.now() - timedelta(days=SLOT_KEYS_KEPT_DAYS)).date().isoformat()
        slots = {k: v for k, v in slots.items() if k[:10] >= cutoff}
        self.home.state.update(slots=slots)

    def done_keys(self) -> set[str]:
        return {k for k, v in (self.home.state.get("slots") or {}).items() if v.get("done")}

    def tracking_since(self) -> datetime | None:
        started = self.home.state.get("tracking_since")
        return datetime.fromisoformat(started) if started else None
