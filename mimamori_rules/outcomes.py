"""What a dialogue's outcome means: the intent reported, the safety status, the cause opened.

Pure and shared: the gateway applies these rules when it turns a dialogue result into
events; the cloud applies the cause tables when those events arrive. One table per question,
so the two sides cannot drift apart.

The safe default: an answer that was not clearly "fine", "as usual" or "yes" needs a human.
A safety check answered with something the recogniser could not place ("unknown") is
`needs_help`, never `safe`: a false alarm costs a phone call, a missed one can cost a life.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from mimamori_wire.v1 import Intent

# Dialogue outcomes (speech.dialogue.Outcome).
ANSWERED = "answered"
NO_RESPONSE = "no_response"
HELP = "help"
CALLBACK = "callback"
TROUBLE = "trouble"
OUTCOMES = (ANSWERED, NO_RESPONSE, HELP, CALLBACK, TROUBLE)

SafetyStatus = Literal["safe", "needs_help", "no_answer"]
SAFE_INTENTS = frozenset({Intent.FINE, Intent.USUAL, Intent.YES})
# Outcomes that are requests for a person whatever was said before.
REQUEST_OUTCOMES = frozenset({HELP, CALLBACK, TROUBLE})
_INTENT_OF_REQUEST = {HELP: Intent.HELP, CALLBACK: Intent.CALLBACK, TROUBLE: Intent.TROUBLE}

# Cloud side: which incident an event opens at once (no waiting for a deadline).
IMMEDIATE_CAUSE_BY_KIND = {
    "help.requested": "help_requested",
    "request.callback": "callback",
}
IMMEDIATE_CAUSE_BY_INTENT = {"unwell": "unwell", "help": "help_requested", "callback": "callback"}
IMMEDIATE_CAUSE_BY_SAFETY_STATUS = {"needs_help": "safety_needs_help"}
# Causes a late answer to the same slot closes by itself.
SLOT_CAUSES = ("missed_checkin", "gateway_offline")


def immediate_cause(kind: str, payload: Mapping[str, object]) -> str | None:
    """The incident an event opens at once (help, unwell, needs help, callback), if any."""
    if kind in IMMEDIATE_CAUSE_BY_KIND:
        return IMMEDIATE_CAUSE_BY_KIND[kind]
    if kind == "checkin.answered":
        return IMMEDIATE_CAUSE_BY_INTENT.get(str(payload.get("intent")))
    if kind == "safety_check.answered":
        return IMMEDIATE_CAUSE_BY_SAFETY_STATUS.get(str(payload.get("status")))
    return None


def as_intent(value: object) -> Intent:
    """Any intent-like value (enum, its value, None, garbage) as an Intent; unknown if unsure."""
    try:
        return Intent(str(getattr(value, "value", value)))
    except ValueError:
        return Intent.UNKNOWN


def safety_status(outcome: str, intent: object) -> SafetyStatus:
    """A safety check's result as SafetyCheckAnswered.status (unknown answer = needs_help)."""
    if outcome == NO_RESPONSE:
        return "no_answer"
    if outcome in REQUEST_OUTCOMES:
        return "needs_help"
    return "safe" if as_intent(intent) in SAFE_INTENTS else "needs_help"


def checkin_intent(outcome: str, intent: object, health_intent: object = None) -> Intent:
    """The intent a check-in reports. A request ends the dialogue with its own intent, but a
    health answer given before a callback/trouble request is what the cloud escalates on
    (an "unwell" must not turn into a mere callback; the request has its own event)."""
    if outcome in (CALLBACK, TROUBLE) and health_intent is not None:
        return as_intent(health_intent)
    return _INTENT_OF_REQUEST.get(outcome, as_intent(intent))


def cause_for_intent(intent: object) -> str | None:
    """The incident a check-in answer opens at once, if any."""
    return IMMEDIATE_CAUSE_BY_INTENT.get(str(getattr(intent, "value", intent)))


def cause_for_safety_status(status: str) -> str | None:
    return IMMEDIATE_CAUSE_BY_SAFETY_STATUS.get(status)
