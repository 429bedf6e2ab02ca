"""The dialogue never loses an answer to a classifier fault: a classification that raises is
an answer not understood (re-ask, then the confirmation turn, safety first), counted in the
result and logged without the words."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech.dialogue import Dialogue
from speech.intents import Classification, classify
from tests.speech.test_dialogue import run


class FaultyClassifier:
    """The real classifier, except that it raises on the texts in `faulty` (all if None)."""

    def __init__(self, faulty: set[str] | None = None) -> None:
        self.faulty = faulty
        self.raised = 0

    def __call__(self, text: str, lang: str = "ja", *, expect: str = "health") -> Classification:
        if self.faulty is None or text in self.faulty:
            self.raised += 1
            raise IndexError("tuple index out of range")
        return classify(text, lang, expect=expect)


def test_a_fault_is_not_understood_then_confirmed_safety_first():
    faulty = FaultyClassifier({"頭が痛い。"})
    dialogue = Dialogue(["health"], classifier=faulty)
    result, said = run(dialogue, ["頭が痛い。", "頭が痛い。", "はい"])
    keys = [s.prompt_key for s in said]
    assert keys[:3] == ["ask_health", "ask_health", "confirm_unwell"]
    assert said[1].text.startswith("すみません、よく聞き取れませんでした")  # re-asked
    assert result.outcome == "answered" and result.intent == Intent.UNWELL
    assert result.confirmed
    assert result.classifier_faults == faulty.raised == 2


def test_a_faulty_safety_answer_asks_whether_to_send_someone():
    faulty = FaultyClassifier({"具合悪い、助けて。"})
    dialogue = Dialogue(["health"], kind="safety_check", classifier=faulty)
    result, said = run(dialogue, ["具合悪い、助けて。", "具合悪い、助けて。", "はい"])
    assert [s.prompt_key for s in said][-1] == "confirm_help"
    assert result.outcome == "help" and result.intent == Intent.HELP
    assert result.classifier_faults == 2


def test_help_words_in_a_faulty_check_in_answer_confirm_help_before_unwell():
    faulty = FaultyClassifier({"助けてくれ…"})
    result, said = run(Dialogue(["health"], classifier=faulty), ["助けてくれ…"] * 2 + ["うん"])
    assert said[-1].prompt_key == "confirm_help"  # not the check-in default confirm_unwell
    assert result.outcome == "help"


def test_a_clear_answer_after_a_fault_is_taken():
    faulty = FaultyClassifier({"ほげ"})
    result, _ = run(Dialogue(["health"], classifier=faulty), ["ほげ", "元気です"])
    assert result.outcome == "answered" and result.intent == Intent.FINE
    assert result.classifier_faults == 1


def test_a_classifier_that_always_raises_ends_as_not_understood_never_as_a_crash():
    faulty = FaultyClassifier(None)
    result, said = run(Dialogue(["health", "medicine"], classifier=faulty), ["助けて"] * 5)
    assert said[-1].prompt_key == "confirm_help"
    assert result.outcome == "no_response" and result.reason == "not_understood"
    assert result.classifier_faults == faulty.raised >= 3


def test_the_fault_is_logged_with_its_origin_and_without_the_words(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.ERROR, logger="speech.dialogue")
    run(Dialogue(["health"], classifier=FaultyClassifier({"秘密の言葉"})), ["秘密の言葉"])
    records = [r for r in caplog.records if r.getMessage() == "classifier.fault"]
    assert records
    record = records[0]
    assert record.origin.startswith("IndexError at test_dialogue_faults.py:")  # type: ignore[attr-defined]
    assert record.expect == "health"  # type: ignore[attr-defined]
    assert all("秘密" not in str(v) for v in vars(record).values())


ANSWERS = st.one_of(
    st.none(),
    st.sampled_from(
        ["元気です", "頭が痛い。", "助けて", "はい", "いいえ", "ほにゃらら", "もう一度"]
    ),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(ANSWERS, max_size=8),
    st.lists(st.booleans(), max_size=16),
    st.sampled_from(["checkin", "safety_check"]),
)
def test_any_answers_with_any_faults_finish_and_count_every_fault(answers, faults, kind):
    pattern: Iterator[bool] = iter(faults)

    calls = {"raised": 0}

    def sometimes_faulty(text: str, lang: str = "ja", *, expect: str = "health"):
        if next(pattern, False):
            calls["raised"] += 1
            raise RuntimeError("injected")
        return classify(text, lang, expect=expect)

    dialogue = Dialogue(["health", "meal"], kind=kind, classifier=sometimes_faulty)
    result, _ = run(dialogue, answers)
    assert result.classifier_faults == calls["raised"]
    if result.outcome == "no_response":
        assert result.reason in ("silent", "not_understood")
