"""The gateway's view of the rule book (mimamori_rules.schedule) over its cached config.

The maths lives in the rule book, shared with the cloud; this adapter only reads slots,
zone and days off from the GatewayConfig, so the gateway skips exactly what the cloud skips.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from mimamori_rules import schedule as rules
from mimamori_rules.schedule import (
    Decision,
    SlotOccurrence,
    SlotProgress,
    Step,
    attempt_voice,
    decide,
    in_quiet_hours,
    lookback_start,
    quiet_hours_end,
)
from mimamori_wire.v1 import GatewayConfig, Slot

__all__ = [
    "Decision",
    "Occurrence",
    "SlotOccurrence",
    "SlotProgress",
    "Step",
    "attempt_voice",
    "current_occurrence",
    "decide",
    "in_quiet_hours",
    "lookback_start",
    "occurrences",
    "quiet_hours_end",
]


Occurrence = SlotOccurrence[Slot]  # an occurrence of one of the cached config's slots


def occurrences(cfg: GatewayConfig, start: datetime, end: datetime) -> list[Occurrence]:
    """Slot occurrences with start <= at < end, days off left out (the cloud expects none)."""
    return rules.occurrences(cfg.slots, cfg.timezone, start, end, set(cfg.holidays))


def current_occurrence(
    cfg: GatewayConfig, now: datetime, done_keys: Collection[str] | None = None
) -> Occurrence | None:
    """The latest slot whose window is open now (for the help button's 'I'm fine' press)."""
    return rules.current_occurrence(
        cfg.slots, cfg.timezone, now, done_keys or (), set(cfg.holidays)
    )
