"""Run a speech.dialogue state machine over a Voice, and map its result to wire events.

The dialogue itself (prompts, "もう一回", not-heard repeats) is speech/'s pure state machine;
this module only pumps its actions through the voice and turns the outcome into payloads.
Actions are recognised by shape (Say has `text`, Listen has `timeout_s`, Finished has
`result`), so the gateway core is unit-tested with tiny stubs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from mimamori_rules import outcomes as outcome_rules
from mimamori_rules.outcomes import SafetyStatus, as_intent, checkin_intent
from mimamori_wire.v1 import (
    AnswerSource,
    CheckinAnswered,
    EventKind,
    HelpRequested,
    RequestCallback,
    RequestTrouble,
    SafetyCheckAnswered,
)

log = logging.getLogger(__name__)
MAX_STEPS = 200  # a dialogue that never finishes is a bug: stop instead of looping forever


class DialogueStuck(RuntimeError):
    pass


async def run_dialogue(
    voice: Any,
    dialogue: Any,
    *,
    clock: Callable[[], datetime] | None = None,
    until: datetime | None = None,
) -> Any:
    """Drive one dialogue to its end; returns its DialogueResult.

    With `until` (the rule book's dialogue_cutoff, read on `clock`): a listen never runs
    past it, and once it has passed nothing more is said or heard, so the dialogue runs to
    its end at once with what it has (an answer already given stands; else no_response).
    """
    action = dialogue.start()
    for _ in range(MAX_STEPS):
        left = None if until is None or clock is None else (until - clock()).total_seconds()
        if hasattr(action, "result"):
            return action.result
        if hasattr(action, "text"):
            if left is None or left > 0:
                await voice.say(action.text, speed=action.speed, volume=action.volume)
            action = dialogue.spoken()
        elif hasattr(action, "timeout_s"):
            heard = None
            if left is None or left > 0:
                timeout = action.timeout_s if left is None else min(action.timeout_s, left)
                heard = await voice.listen(timeout_s=timeout, expect=action.expect)
            action = dialogue.heard(heard)
        else:
            raise DialogueStuck(f"unknown dialogue action {action!r}")
    raise DialogueStuck(f"dialogue did not finish within {MAX_STEPS} steps")


@dataclass(frozen=True)
class SlotContext:
    slot: str
    slot_date: str | None
    attempt: int  # 0 = first ask
    send_transcript: bool = False


def checkin_events(result: Any, ctx: SlotContext) -> list[tuple[EventKind, BaseModel]]:
    """Events for one check-in attempt; empty when nobody answered (the scheduler re-asks)."""
    outcome = str(result.outcome)
    if outcome == "no_response":
        return []
    transcript = result.transcript if ctx.send_transcript else None
    answers = {str(k): as_intent(v) for k, v in (result.answers or {}).items()}
    intent = checkin_intent(outcome, result.intent, getattr(result, "health_intent", None))
    events: list[tuple[EventKind, BaseModel]] = []
    if outcome == "help":
        events.append(
            (
                EventKind.HELP_REQUESTED,
                HelpRequested(source=AnswerSource.VOICE, transcript=transcript),
            )
        )
    elif outcome == "callback":
        events.append((EventKind.REQUEST_CALLBACK, RequestCallback(transcript=transcript)))
    elif outcome == "trouble":
        text = (result.trouble_text or "")[:2000]
        events.append((EventKind.REQUEST_TROUBLE, RequestTrouble(text=text)))
    confidence = min(1.0, max(0.0, float(result.confidence or 0.0)))
    events.append(
        (
            EventKind.CHECKIN_ANSWERED,
            CheckinAnswered(
                slot=ctx.slot,
                slot_date=ctx.slot_date,
                intent=intent,
                confidence=confidence,
                attempts=min(20, ctx.attempt + 1),
                transcript=transcript,
                answers=answers,
                outcome=outcome,
            ),
        )
    )
    return events


def heard_anything(result: Any) -> bool:
    """Speech was heard but not understood (reported as not_understood, not silent)."""
    if getattr(result, "reason", None) == "not_understood":
        return True
    return bool(getattr(result, "transcript", None) or getattr(result, "transcripts", None))


def safety_status(result: Any) -> SafetyStatus:
    """The rule book's answer for a dialogue result (an unclear answer needs a human)."""
    return outcome_rules.safety_status(str(result.outcome), result.intent)


def safety_events(
    result: Any, check_id: str, command_id: str, send_transcript: bool
) -> list[tuple[EventKind, BaseModel]]:
    transcript = result.transcript if send_transcript else None
    events: list[tuple[EventKind, BaseModel]] = []
    if str(result.outcome) == "help":
        events.append(
            (
                EventKind.HELP_REQUESTED,
                HelpRequested(source=AnswerSource.VOICE, transcript=transcript),
            )
        )
    events.append(
        (
            EventKind.SAFETY_CHECK_ANSWERED,
            SafetyCheckAnswered(
                check_id=check_id,
                status=safety_status(result),
                transcript=transcript,
                command_id=command_id,
            ),
        )
    )
    return events
