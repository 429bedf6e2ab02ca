"""Accuracy on the labelled Japanese transcript set (tests/speech/data/ja_labelled.tsv)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mimamori_wire import Intent
from speech.evaluation import evaluate, help_false_triggers, load_labelled, load_lines
from speech.intents import classify, is_help_phrase
from speech.understanding import understand

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


# Held-out batches (tests/speech/data/heldout, manifest.toml): each was scored once before
# anyone read it (its first pass, recorded in the manifest and docs/benchmarks.md); then
# general rules were added from its misses. The floor sits well above every first pass, so
# losing those rules fails here. Labels the product reads differently on purpose are listed
# in the manifest (`disputed`) and are the only critical misses allowed.
HELDOUT_DIR = DATA / "heldout"
HELDOUT_FLOOR = 0.95
MANIFEST = tomllib.loads((HELDOUT_DIR / "manifest.toml").read_text(encoding="utf-8"))["batch"]
TUNED = [b for b in MANIFEST if "tuned_since" in b]
# Batches opened only as the learned model's training data (`tuned_by = "model"`): the rules
# were never tuned on them, so the rules' floor does not apply; the product's reader must not
# read them worse than it did while they were unread.
RULES_TUNED = [b for b in TUNED if b.get("tuned_by") != "model"]
MODEL_ONLY = [b for b in TUNED if b.get("tuned_by") == "model"]


def test_every_heldout_batch_has_a_recorded_first_pass():
    files = {p.name for p in HELDOUT_DIR.glob("*.tsv")}
    assert files == {b["file"] for b in MANIFEST}
    for batch in MANIFEST:
        first = batch["first_pass"]
        assert 0.0 < first["accuracy"] <= 1.0, batch["file"]
        assert first["utterances"] == len(load_labelled(HELDOUT_DIR / batch["file"]))
        assert batch["scored_at"] and batch["command"]


@pytest.mark.parametrize("batch", [b for b in MANIFEST if b["written"] >= "2026-11-30"], ids=str)
def test_new_heldout_batches_cover_what_the_issue_asks(batch):
    items = load_labelled(HELDOUT_DIR / batch["file"])
    assert len(items) >= 150
    assert {i.expect for i in items} >= {"health", "yesno", "safety"}
    serious = sum(1 for i in items if i.intent in (Intent.HELP, Intent.UNWELL))
    assert serious / len(items) >= 0.4


@pytest.mark.parametrize("reader", [classify, understand], ids=["rules", "rules+model"])
@pytest.mark.parametrize("batch", RULES_TUNED, ids=lambda b: b["file"])
def test_tuned_heldout_batch_stays_above_the_floor(batch, reader):
    # The rules alone must hold the floor (their tuning is what it guards), and so must the
    # product's reader (the model never costs what the rules were tuned to read). A batch whose
    # rules stopped short of the floor after tuning names its own `rules_floor` (with why): it
    # guards what the tuning reached; the product's reader still holds HELDOUT_FLOOR.
    report = evaluate(load_labelled(HELDOUT_DIR / batch["file"]), "ja", reader)
    misses = "\n".join(f"{m.text} -> {got} ({m.intent})" for m, got, _ in report.misses)
    floor = batch.get("rules_floor", HELDOUT_FLOOR) if reader is classify else HELDOUT_FLOOR
    assert report.accuracy >= floor, misses
    disputed = {d["text"] for d in batch.get("disputed", [])}
    assert [i.text for i, _ in report.critical if i.text not in disputed] == []


def test_a_rules_floor_below_the_floor_says_why():
    for batch in RULES_TUNED:
        if "rules_floor" in batch:
            assert 0.9 <= batch["rules_floor"] < HELDOUT_FLOOR, batch["file"]
            assert batch.get("rules_floor_why"), batch["file"]


@pytest.mark.parametrize("batch", MODEL_ONLY, ids=lambda b: b["file"])
def test_a_batch_opened_as_training_data_reads_no_worse_than_unread(batch):
    unread = next(r for r in batch["unread_rescores"] if r.get("reader") == "rules+model")
    report = evaluate(load_labelled(HELDOUT_DIR / batch["file"]), "ja", understand)
    assert sum(report.correct.values()) >= unread["correct"]
    assert len(report.critical) <= unread["critical_misses"]


@pytest.mark.parametrize("batch", RULES_TUNED, ids=lambda b: b["file"])
def test_tuned_heldout_batch_help_answers_are_spotted(batch):
    items = load_labelled(HELDOUT_DIR / batch["file"])
    help_items = [i for i in items if i.intent == Intent.HELP]
    assert [i.text for i in help_items if not is_help_phrase(i.text, "ja")] == []


def test_misses_are_split_into_asked_again_and_acted_wrong(tmp_path: Path) -> None:
    batch = tmp_path / "batch.tsv"
    batch.write_text(
        "# expect: health\n"
        "元気です\tfine\n"  # right
        "ぴよぴよぱらりら\tfine\n"  # nothing known: unknown, asked again
        "助けて\tfine\n",  # a deliberate mislabel: acted on as help, i.e. wrong
        encoding="utf-8",
    )
    report = evaluate(load_labelled(batch), "ja")
    assert report.miss_kinds() == {"asked_again": 1, "acted_wrong": 1}
    assert sum(report.correct.values()) == 1
