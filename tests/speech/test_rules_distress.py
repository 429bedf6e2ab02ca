"""A wish to die said aloud (session 9; a training writer left one out as ambiguous and the rules
read もう死にたい as unknown): explicit wishes are help, passive ones unwell, and neither a
negated wish nor a day-service pickup (お迎え) is read as one. Sentences of our own."""

from __future__ import annotations

import pytest

from mimamori_wire import Intent
from speech.dialogue import Dialogue
from speech.intents import classify, is_help_phrase
from speech.understanding import understand
from tests.speech.test_dialogue import run


@pytest.mark.parametrize(
    "text",
    [
        "もう死にたい",
        "なんかもう 死にてえなあ",
        "消えてしまいたいわ",
        "こげな体なら死んだ方がましや",
        "毎晩 死んでしまいたいと思うとる",
    ],
)
def test_an_explicit_wish_to_die_is_help_and_spotted(text):
    assert classify(text, "ja").intent == Intent.HELP
    assert understand(text, "ja").intent == Intent.HELP
    assert is_help_phrase(text, "ja")


@pytest.mark.parametrize(
    "text",
    [
        "早うお迎えが来てほしいわ",
        "はよお迎えが来んかのう",
        "一人で生きとってもしょうがないわ",
        "生きてても意味ないわ",
    ],
)
def test_a_passive_wish_to_die_is_unwell_whatever_the_model_says(text):
    assert classify(text, "ja").intent == Intent.UNWELL
    assert understand(text, "ja").intent in (Intent.UNWELL, Intent.HELP)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("死にたいなんて思わんよ 元気や", Intent.FINE),
        ("死にたくはないけどな まあ元気よ", Intent.FINE),
        ("デイサービスのお迎えが来て 行ってきたよ 元気よ", Intent.FINE),
    ],
)
def test_a_negated_wish_or_a_pickup_is_not_one(text, intent):
    assert classify(text, "ja").intent == intent


def test_a_wish_to_die_ends_the_check_in_as_help_at_once():
    result, said = run(Dialogue(["health", "medicine"]), ["もう死にたい"])
    assert result.outcome == "help" and result.intent == Intent.HELP
    assert [s.prompt_key for s in said] == ["ask_health"]  # no further question first
