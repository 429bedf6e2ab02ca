"""Benchmark: rules alone vs rules + the learned model (speech/fallback.py) on unseen answers.

Leave-one-batch-out cross-validation over the tuned held-out batches and the training batches
(speech/fallback_train.py): the model is trained on the other batches and scores the left-out
one as if unread; the rules side is each held-out batch's first-pass rules (today's rules for
a training batch, which they never saw). Prints one JSON line: rules alone vs rules+model (the
shipped thresholds) vs the model alone, per left-out batch and pooled (accuracy, asked_again,
acted_wrong, critical, false_alarms), what the model changed, how often the confirmation
turn's hypothesis is right (the old safety-first default vs the model's reading), model size
and per-answer CPU time.

    .venv/bin/python bench/speech_fallback.py [--quick]
    .venv/bin/python bench/speech_fallback.py --unread   # untuned batches: figures only, once

`--unread` scores the untuned held-out batches with the rules alone vs the product's reader
(speech/understanding.py) and prints figures only (no text).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mimamori_wire import Intent  # noqa: E402
from speech import fallback, morphology  # noqa: E402
from speech import fallback_train as ft  # noqa: E402
from speech.dialogue import _CONFIRMABLE  # noqa: E402
from speech.evaluation import load_labelled  # noqa: E402
from speech.intents import Classification, classify, is_acceptable  # noqa: E402
from speech.understanding import GUESS_MIN_PROBABILITY, understand  # noqa: E402

QUICK_BATCHES = ("c", "k", "t1")


def figures(items, readings) -> dict:
    s = ft.score(items, readings)
    return {**s, "accuracy": round(s["correct"] / s["n"], 4)}


def default_guess(c, expect: str) -> Intent:
    """The confirmation's hypothesis without a model: the rules' confirmable reading, else
    the safety-first default."""
    if c.intent in _CONFIRMABLE:
        return c.intent
    return Intent.HELP if expect == "safety" else Intent.UNWELL


def model_hypothesis(c, p_by_class: dict[Intent, float], expect: str) -> Intent:
    """The dialogue's hypothesis today (speech.dialogue `_hypothesis`, `best_guess`)."""
    if c.intent in (Intent.HELP, Intent.UNWELL):
        return c.intent
    confirmable = {k: v for k, v in p_by_class.items() if k in _CONFIRMABLE}
    best = max(confirmable, key=confirmable.__getitem__) if confirmable else None
    if best is not None and confirmable[best] >= GUESS_MIN_PROBABILITY:
        return best
    return default_guess(c, expect)


def cpu_ms_per_answer(model: fallback.Model, items, passes: int) -> dict[str, float]:
    def one(fn) -> float:
        started = time.process_time()
        for it in items:
            fn(it)
        return (time.process_time() - started) * 1000 / len(items)

    feats = lambda it: model.probabilities(it.labelled.text, it.labelled.expect)  # noqa: E731
    morphology.analyse.cache_clear()
    return {
        "model_uncached_analysis": round(one(feats), 4),
        "model_cached_analysis": round(statistics.median(one(feats) for _ in range(passes)), 4),
        "rules_cached_analysis": round(
            statistics.median(
                one(lambda it: classify(it.labelled.text, "ja", expect=it.labelled.expect))
                for _ in range(passes)
            ),
            4,
        ),
    }


def compare(folds, thresholds: dict[str, float]) -> dict:
    """Rules alone vs rules+model vs the model alone, per left-out batch and pooled."""
    per_batch, pooled = {}, {"rules": [], "rules_model": [], "model_alone": []}
    for fold in folds:
        readings = {
            "rules": [it.rules for it in fold.items],
            "rules_model": ft.combined(fold, thresholds),
            "model_alone": [Classification(g, p, (), False) for g, p in fold.guesses],
        }
        per_batch[fold.batch] = {k: figures(fold.items, v) for k, v in readings.items()}
        for k, v in readings.items():
            pooled[k].append(ft.score(fold.items, v))
    out = {k: ft.pooled(v) for k, v in pooled.items()}
    out["model_changes"] = changes(folds, thresholds)
    return {"pooled": out, "per_batch": per_batch}


def changes(folds, thresholds: dict[str, float]) -> dict[str, int]:
    """What the model changed: answered (right, wrong, wrong on a fine/usual/yes/no label: a
    soft false alarm) and disputed (a sure calm reading of the rules made unclear)."""
    out = {"answered": 0, "right": 0, "wrong": 0, "wrong_on_calm_label": 0, "disputed": 0}
    for fold in folds:
        for it, c in zip(fold.items, ft.combined(fold, thresholds), strict=True):
            if c is it.rules:
                continue
            if not is_acceptable(c):
                out["disputed"] += 1
                continue
            label = it.labelled.intent
            out["answered"] += 1
            out["right"] += c.intent == label
            out["wrong"] += c.intent != label
            out["wrong_on_calm_label"] += c.intent != label and label in fallback.CALMING
    return out


def confirmation(folds, thresholds: dict[str, float]) -> dict:
    """Answers still asked again: how often the confirmation's hypothesis is the label, with
    the old default vs the dialogue's hypothesis today (the model's reading)."""
    out = {"asked_again": 0, "default_guess_right": 0, "model_hypothesis_right": 0}
    for fold in folds:
        combined = ft.combined(fold, thresholds)
        for k, (it, c) in enumerate(zip(fold.items, combined, strict=True)):
            if is_acceptable(c):
                continue
            label, expect = it.labelled.intent, it.labelled.expect
            p = dict(zip(fold.classes, fold.probabilities[k].tolist(), strict=True))
            out["asked_again"] += 1
            out["default_guess_right"] += default_guess(it.rules, expect) == label
            out["model_hypothesis_right"] += model_hypothesis(it.rules, p, expect) == label
    return out


def cross_validation(quick: bool) -> dict:
    files = ft.training_files()
    items = ft.training_items()
    thresholds = fallback.shipped().thresholds
    batches = ft.cv_batches(files)
    if quick:
        batches = [b for b in batches if b in QUICK_BATCHES]
    folds = ft.at_first_pass(ft.cross_validate(items, ft.CHOSEN_C, batches), items)
    report = {"batches": batches, "c": ft.CHOSEN_C, "thresholds": thresholds}
    report["first_pass_rules"] = compare(folds, thresholds)
    report["confirmation_hypothesis"] = confirmation(folds, thresholds)
    report["items"] = items
    return report


def unread() -> dict:
    manifest = tomllib.loads((ft.HELDOUT / "manifest.toml").read_text(encoding="utf-8"))
    out = {}
    for batch in manifest["batch"]:
        if "tuned_since" in batch:
            continue
        items = load_labelled(ft.HELDOUT / batch["file"])
        wrapped = [ft.Item("unread", it, classify(it.text, "ja", expect=it.expect)) for it in items]
        rules = [it.rules for it in wrapped]
        product = [understand(it.text, "ja", expect=it.expect) for it in items]
        out[batch["file"]] = {
            "rules": figures(wrapped, rules),
            "rules_model": figures(wrapped, product),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 left-out batches (< 1 min)")
    parser.add_argument("--unread", action="store_true", help="untuned batches (figures only)")
    args = parser.parse_args(argv)
    started = time.process_time()
    if args.unread:
        report: dict = {"unread": unread()}
    else:
        report = cross_validation(args.quick)
        items = report.pop("items")
        report["cpu_ms_per_answer"] = cpu_ms_per_answer(
            fallback.shipped(), items[:: 8 if args.quick else 2], 3
        )
        r, f = (report["first_pass_rules"]["pooled"][k] for k in ("rules", "rules_model"))
        report["accuracy_ratio_vs_rules"] = round(f["accuracy"] / r["accuracy"], 4)
    report["model_bytes"] = fallback.WEIGHTS.stat().st_size
    report["model_parameters"] = int(fallback.shipped().weights.size)
    report["cpu_s"] = round(time.process_time() - started, 1)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
