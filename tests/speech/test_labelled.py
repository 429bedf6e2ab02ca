"""Accuracy on the labelled Japanese transcript set (tests/speech/data/ja_labelled.tsv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimamori_wire import Intent
from speech.evaluation import evaluate, help_false_triggers, load_labelled, load_lines
from speech.intents import is_help_phrase

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def report():
    items = load_labelled(DATA / "ja_labelled.tsv")
    assert len(items) >= 300
    return evaluate(items, "ja")


def test_set_covers_every_intent(report):
    assert set(report.total) == set(Intent)


def test_overall_accuracy_at_least_97_percent(report):
    misses = "\n".join(f"{m.text} -> {got} ({m.intent})" for m, got, _ in report.misses)
    assert report.accuracy >= 0.97, misses


@pytest.mark.parametrize("intent", list(Intent))
def test_per_intent_accuracy(report, intent):
    # small classes (unknown) may lose one item; the larger ones must stay above 90 %
    assert report.correct[intent] / report.total[intent] >= 0.9, report.per_intent()


def test_no_help_or_unwell_answer_is_taken_as_fine(report):
    assert report.critical == []


def test_no_help_false_triggers_on_everyday_speech():
    lines = load_lines(DATA / "ja_nonhelp.txt")
    assert len(lines) >= 100
    assert help_false_triggers(lines, "ja") == []


def test_every_help_answer_is_spotted():
    items = [i for i in load_labelled(DATA / "ja_labelled.tsv") if i.intent == Intent.HELP]
    assert [i.text for i in items if not is_help_phrase(i.text, "ja")] == []


# Held-out batch written 2026-11-27 before the lexicon was read (docs/benchmarks.md, speech):
# first pass 0.918 (11 misses, 2 critical), then general rules were added (negation bridges,
# dialect negatives, qualified reassurance). The floor sits well above the first pass, so
# losing those rules fails here, and allows ~4 misses of drift for future lexicon edits.
HELDOUT = DATA / "heldout" / "ja_heldout_2026-11-27.tsv"
HELDOUT_FLOOR = 0.97


@pytest.fixture(scope="module")
def heldout():
    items = load_labelled(HELDOUT)
    assert len(items) >= 100
    return items, evaluate(items, "ja")


def test_heldout_batch_accuracy_floor(heldout):
    _, report = heldout
    misses = "\n".join(f"{m.text} -> {got} ({m.intent})" for m, got, _ in report.misses)
    assert report.accuracy >= HELDOUT_FLOOR, misses


def test_heldout_batch_has_no_critical_miss(heldout):
    items, report = heldout
    assert sum(1 for i in items if i.intent in (Intent.HELP, Intent.UNWELL)) >= 30
    assert report.critical == []


def test_heldout_batch_help_answers_are_spotted(heldout):
    items, _ = heldout
    help_items = [i for i in items if i.intent == Intent.HELP]
    assert [i.text for i in help_items if not is_help_phrase(i.text, "ja")] == []
