"""Dialogue results -> wire events (pure), and the runner over the real Dialogue/TextVoice."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from gateway.dialogue_runner import (
    DialogueStuck,
    SlotContext,
    checkin_events,
    run_dialogue,
    safety_status,
)
from mimamori_wire.v1 import EventKind, Intent
from speech.dialogue import Dialogue
from speech.voice import TextVoice


@dataclass
class Result:
    outcome: str
    intent: Intent | None = None
    confidence: float = 0.9
    answers: dict = field(default_factory=dict)
    transcript: str | None = "..."
    trouble_text: str | None = None
    health_intent: Intent | None = None


CTX = SlotContext("morning", "2026-11-27", attempt=1)


def test_unwell_then_callback_keeps_unwell_for_the_cloud() -> None:
    events = checkin_events(Result("callback", Intent.CALLBACK, health_intent=Intent.UNWELL), CTX)
    assert [k for k, _ in events] == [EventKind.REQUEST_CALLBACK, EventKind.CHECKIN_ANSWERED]
    answered = events[1][1]
    assert answered.intent == Intent.UNWELL and answered.attempts == 2
    assert answered.transcript is None  # not sent unless the household opted in


def test_help_and_trouble_and_silence() -> None:
    assert [k for k, _ in checkin_events(Result("help", Intent.HELP), CTX)] == [
        EventKind.HELP_REQUESTED,
        EventKind.CHECKIN_ANSWERED,
    ]
    trouble = checkin_events(Result("trouble", Intent.TROUBLE, trouble_text="買い物"), CTX)
    assert trouble[0][1].text == "買い物" and trouble[1][1].intent == Intent.TROUBLE
    assert checkin_events(Result("no_response"), CTX) == []


def test_safety_status() -> None:
    assert safety_status(Result("answered", Intent.FINE)) == "safe"
    assert safety_status(Result("answered", Intent.UNWELL)) == "needs_help"
    assert safety_status(Result("no_response")) == "no_answer"


def test_runner_with_real_dialogue_and_text_voice() -> None:
    voice = TextVoice(["もう一回", "元気です", "いいえ"])
    dialogue = Dialogue(["health", "medicine"], kind="checkin", lang="ja", slot_name="morning")
    result = asyncio.run(run_dialogue(voice, dialogue))
    assert (result.outcome, result.intent) == ("answered", Intent.FINE)
    assert result.answers == {"medicine": Intent.NO}
    assert voice.said[1].speed < 1.0  # "もう一回": asked again, slower


def test_a_dialogue_that_never_ends_is_stopped() -> None:
    class Forever:
        def start(self):
            return self.spoken()

        def spoken(self):
            @dataclass
            class Say:
                text: str = "?"
                speed: float = 1.0
                volume: float = 1.0

            return Say()

    with pytest.raises(DialogueStuck):
        asyncio.run(run_dialogue(TextVoice([]), Forever()))
