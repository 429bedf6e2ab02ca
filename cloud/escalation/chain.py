"""Escalation chains (pure): which action happens at which step, and when.

A chain is plain JSON so it can be stored per municipality and snapshotted onto an incident:
{"steps": [{"after_min": 0, "action": "reprompt"}, ...],
 "repeat": {"every_min": 60, "action": "staff_reminder"} | null,
 "family_ack": "acknowledge" | "record"}
`after_min` counts from the incident's base time (the missed deadline, or the moment a
help request arrived). `family_ack` says what a family member's 「連絡がとれました」 does:
acknowledge the incident (the chain stops) or only record it for staff (the chain goes on).
Help, unwell and "needs help" are always "record": only staff may stop those.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ACTIONS = ("reprompt", "family", "staff", "manager", "staff_reminder", "dashboard")
CAUSES = (
    "missed_checkin",
    "gateway_offline",
    "help_requested",
    "unwell",
    "callback",
    "safety_needs_help",
)
# Causes where a person may be in danger: a family click never stops their chain.
STAFF_ONLY_ACK_CAUSES = frozenset({"help_requested", "unwell", "safety_needs_help"})
FAMILY_ACK_EFFECTS = ("acknowledge", "record")
DEFAULT_FAMILY_ACK = "acknowledge"
# A cause without its own municipality override borrows this cause's override: "needs help"
# in a disaster safety check is a help request and escalates exactly like one.
OVERRIDE_FALLBACK = {"safety_needs_help": "help_requested"}

_REMINDERS = {"every_min": 60, "action": "staff_reminder"}

DEFAULT_CHAINS: dict[str, dict[str, Any]] = {
    # ARCHITECTURE.md section 4.
    "missed_checkin": {
        "steps": [
            {"after_min": 0, "action": "reprompt"},
            {"after_min": 5, "action": "family"},
            {"after_min": 15, "action": "staff"},
            {"after_min": 60, "action": "manager"},
        ],
        "repeat": _REMINDERS,
    },
    # A dead gateway cannot re-prompt, and a town-wide power cut should not flood families at
    # once: staff see it on the dashboard first, family hear of it if it persists.
    "gateway_offline": {
        "steps": [
            {"after_min": 0, "action": "dashboard"},
            {"after_min": 15, "action": "family"},
            {"after_min": 30, "action": "staff"},
            {"after_min": 90, "action": "manager"},
        ],
        "repeat": _REMINDERS,
    },
    "help_requested": {
        "steps": [
            {"after_min": 0, "action": "family"},
            {"after_min": 0, "action": "staff"},
            {"after_min": 60, "action": "manager"},
        ],
        "repeat": _REMINDERS,
    },
    "unwell": {
        "steps": [
            {"after_min": 0, "action": "family"},
            {"after_min": 0, "action": "staff"},
            {"after_min": 60, "action": "manager"},
        ],
        "repeat": _REMINDERS,
    },
    # "Needs help" answered to a disaster safety check (安否確認): family and staff at once.
    "safety_needs_help": {
        "steps": [
            {"after_min": 0, "action": "family"},
            {"after_min": 0, "action": "staff"},
            {"after_min": 60, "action": "manager"},
        ],
        "repeat": _REMINDERS,
    },
    # The resident asked the office to call: staff only, reminded until someone takes it.
    "callback": {"steps": [{"after_min": 0, "action": "staff"}], "repeat": _REMINDERS},
}


@dataclass(frozen=True)
class Step:
    index: int
    action: str
    due_at: datetime


def chain_for(cause: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The chain to snapshot onto a new incident: municipality override or the default."""
    overrides = overrides or {}
    chain = (
        overrides.get(cause)
        or overrides.get(OVERRIDE_FALLBACK.get(cause, cause))
        or DEFAULT_CHAINS[cause]
    )
    validate_chain(chain)
    return copy.deepcopy(chain)


def validate_chain(chain: dict[str, Any]) -> None:
    steps = chain.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValueError("a chain needs at least one step")
    last = 0
    for step in steps:
        if step.get("action") not in ACTIONS:
            raise ValueError(f"unknown action {step.get('action')!r}")
        after = int(step.get("after_min", -1))
        if after < last:
            raise ValueError("step times must not go backwards")
        last = after
    if chain.get("family_ack", DEFAULT_FAMILY_ACK) not in FAMILY_ACK_EFFECTS:
        raise ValueError(f"family_ack must be one of {', '.join(FAMILY_ACK_EFFECTS)}")
    repeat = chain.get("repeat")
    if repeat is not None and (
        repeat.get("action") not in ACTIONS or int(repeat.get("every_min", 0)) < 1
    ):
        raise ValueError("repeat needs an action and every_min >= 1")


def family_ack_effect(cause: str, chain: dict[str, Any]) -> str:
    """What a family member's 「連絡がとれました」 does to an incident of this cause:
    "acknowledge" (stop the chain) or "record" (tell staff, the chain goes on)."""
    if cause in STAFF_ONLY_ACK_CAUSES:
        return "record"
    return str(chain.get("family_ack", DEFAULT_FAMILY_ACK))


def step_at(chain: dict[str, Any], base: datetime, index: int) -> Step | None:
    """Step number `index` of the chain (reminders continue the numbering), or None if over."""
    steps = chain["steps"]
    if index < len(steps):
        spec = steps[index]
        return Step(index, spec["action"], base + timedelta(minutes=int(spec["after_min"])))
    repeat = chain.get("repeat")
    if not repeat:
        return None
    rounds = index - len(steps) + 1
    last = int(steps[-1]["after_min"])
    due = base + timedelta(minutes=last + rounds * int(repeat["every_min"]))
    return Step(index, repeat["action"], due)


def skip_missed_reminders(chain: dict[str, Any], base: datetime, index: int, now: datetime) -> int:
    """The step to run now: reminders missed while no worker ran collapse into the latest one.

    After a worker outage an old open incident would otherwise send one reminder per missed
    interval in a single burst (72 mails after three days). Regular steps (family, staff,
    manager) are never skipped: each still happens once, late.
    """
    repeat = chain.get("repeat")
    if index < len(chain["steps"]) or not repeat:
        return index
    step = step_at(chain, base, index)
    if step is None or step.due_at > now:
        return index
    return index + (now - step.due_at) // timedelta(minutes=int(repeat["every_min"]))
