"""Pure decisions of the incident state machine (no I/O): states, moves, outcomes, and what
an event opens at once (from the rule book)."""

from __future__ import annotations

# What an event opens at once: the rule book's tables, shared with the gateway's outcome rules.
from mimamori_rules.outcomes import (
    IMMEDIATE_CAUSE_BY_INTENT,
    IMMEDIATE_CAUSE_BY_KIND,
    IMMEDIATE_CAUSE_BY_SAFETY_STATUS,
    SLOT_CAUSES,
)

__all__ = [
    "IMMEDIATE_CAUSE_BY_INTENT",
    "IMMEDIATE_CAUSE_BY_KIND",
    "IMMEDIATE_CAUSE_BY_SAFETY_STATUS",
    "OUTCOMES",
    "SLOT_CAUSES",
    "TRANSITIONS",
    "can_move",
]

TRANSITIONS = {
    "open": {"acknowledged", "resolved"},
    "acknowledged": {"resolved"},
    "resolved": set(),
}
OUTCOMES = (
    "safe",
    "answered_late",
    "gateway_back",
    "hospital",
    "unreachable",
    "false_alarm",
    "other",
)


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, set())
