"""The product's reader (speech/understanding.py): the issue's safety rules hold for the rules
combined with the learned model, not only for the rules; a broken model never costs a reading."""

from __future__ import annotations

import pytest

from mimamori_wire import Intent
from speech import fallback, understanding
from speech.intents import classify, is_acceptable
from speech.understanding import best_guess, understand

CALM = (Intent.FINE, Intent.USUAL, Intent.YES)


@pytest.mark.parametrize(
    "text",
    [
        "助けて",
        "たすけて",
        "助けてくれ",
        "救急車を呼んで",
        "ろれつがまわらへん",
        "胸が締め付けられるように痛い",
        "息ができん",
        "転んで起き上がれんのよ",
        "台所から火が出た",
        "ガスの臭いがする",
    ],
)
def test_help_and_emergency_signs_are_help(text):
    for expect in ("health", "safety", "yesno"):
        assert understand(text, "ja", expect=expect).intent == Intent.HELP


@pytest.mark.parametrize(
    "text",
    [
        "救急車なんか呼ばんでええ",
        "救急車は呼ばんといて",
        "救急車は呼ばなくていい",
        "救急車なんていらないよ",
        "助けてもらわんでもええ",
        "胸も苦しゅうない",
        "息苦しいことはないです",
        "転んだけどすぐ起きられた",
    ],
)
def test_a_negated_emergency_is_not_a_call_for_help(text):
    for expect in ("health", "safety"):
        assert understand(text, "ja", expect=expect).intent != Intent.HELP


@pytest.mark.parametrize(
    "text",
    [
        "一応元気にしてます",
        "大丈夫やと思うけど",
        "たぶん元気かな",
        "元気とはよう言わん",
        "大丈夫とは思えない",
        "元気なわけあらへん",
    ],
)
def test_a_hedged_or_negated_reassurance_is_not_fine(text):
    assert understand(text, "ja", expect="health").intent not in CALM


@pytest.mark.parametrize(
    "text",
    [
        "元気は元気やけど、最近物忘れがひどうて",
        "大丈夫だけど手がしびれとる",
        "腰が痛いけど元気です",
        "まあ元気にしとるけど、このごろ物忘れがひどうて",
        "一応大丈夫、と思うんやけど、背中が張っとる",
    ],
)
def test_any_symptom_outranks_a_reassurance(text):
    assert understand(text, "ja", expect="health").intent in (Intent.UNWELL, Intent.HELP)


def test_a_sure_calm_reading_the_model_disputes_is_asked_again():
    # 胸も苦しゅうない: the rules read the negation (fine); the model, a bag of n-grams, hears
    # 胸 + 苦し. Neither is acted on: the dialogue asks again and confirms.
    text = "胸も苦しゅうない"
    assert classify(text, "ja", expect="health").intent == Intent.FINE
    model = fallback.shipped()
    guess, p = model.best(text, "health")
    out = understand(text, "ja", expect="health")
    if guess in fallback.SERIOUS and p >= model.thresholds.get("override_alarm", 2):
        assert out.intent == Intent.UNKNOWN and not is_acceptable(out)
        assert out.evidence[-1] == f"disputed:{guess.value}"
    else:
        assert out.intent == Intent.FINE


def test_a_broken_model_costs_nothing_but_is_counted(monkeypatch, caplog):
    def broken():
        raise OSError("weights missing")

    monkeypatch.setattr(fallback, "shipped", broken)
    before = understanding.model_faults
    text = "なんや体が言うこときかんのや"
    assert understand(text, "ja", expect="health") == classify(text, "ja", expect="health")
    assert best_guess(text, "ja", expect="health", among=list(Intent)) is None
    assert understanding.model_faults == before + 2
    assert "understanding.model_fault" in caplog.text


def test_other_languages_are_read_by_the_rules_alone():
    text = "괜찮아요"
    assert understand(text, "ko", expect="health") == classify(text, "ko", expect="health")
    assert best_guess(text, "ko", expect="health", among=list(Intent)) is None


def test_the_confirmation_guess_needs_some_evidence():
    # Syllables with no meaning: the model's best guess is too unsure to ask about.
    assert (
        best_guess("ぱぴぷぺぽ", "ja", expect="health", among=[Intent.FINE, Intent.USUAL]) is None
    )
    guess = best_guess("みずがでないんです", "ja", expect="safety", among=list(Intent))
    assert guess == Intent.TROUBLE
