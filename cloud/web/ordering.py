"""Pure rules for the desk: how urgent each cause is, and the order incidents are shown in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# help > unwell > missed > gateway offline > device (issue 7); a callback request is a
# resident's wish, not a sign of danger, so it comes after the silent-gateway case.
SEVERITY: dict[str, int] = {
    "help_requested": 0,
    "safety_needs_help": 0,
    "unwell": 1,
    "missed_checkin": 2,
    "gateway_offline": 3,
    "callback": 4,
}
DEVICE_SEVERITY = 5
URGENT_CAUSES = frozenset({"help_requested", "safety_needs_help", "unwell"})


def severity(cause: str) -> int:
    return SEVERITY.get(cause, DEVICE_SEVERITY)


def desk_key(state: str, cause: str, opened_at: datetime) -> tuple[int, int, datetime]:
    """Unacknowledged first, then most severe, then oldest (it has waited longest)."""
    return (0 if state == "open" else 1, severity(cause), opened_at)


def is_urgent(cause: str) -> bool:
    return cause in URGENT_CAUSES


def last_step_done(chain: dict[str, Any], next_step: int) -> tuple[int, str] | None:
    """(index, action) of the last escalation step already carried out, or None."""
    if next_step <= 0:
        return None
    index = next_step - 1
    steps = chain.get("steps") or []
    if index < len(steps):
        return index, str(steps[index].get("action"))
    repeat = chain.get("repeat") or {}
    return index, str(repeat.get("action", "staff_reminder"))
