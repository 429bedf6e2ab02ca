"""Benchmark: does the learned fallback (speech/fallback.py) help where the rules are unsure?

Leave-one-batch-out cross-validation over the tuned held-out batches A-K: the model is trained
on the other batches + the 540-line set + 2026-11-27 and scores the left-out batch as if
unread; the rules are the same for both columns (they were tuned on A-K, so their figures here
are upper bounds; what counts is the difference the fallback makes). Prints one JSON line:
rules alone vs rules+fallback per left-out batch and pooled (accuracy, asked_again,
acted_wrong, critical, false_alarms), the calming group's figures (what letting the model
answer fine/usual/yes/no would do), the confirmation-hypothesis figure, model size and
per-classification CPU time.

    .venv/bin/python bench/speech_fallback.py [--quick]
    .venv/bin/python bench/speech_fallback.py --unread   # L, M, N: figures only, once

`--unread` scores the untuned batches with rules alone vs rules+the shipped fallback and
prints figures only (no text): the honest measure, run once after the decision was written.
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

QUICK_BATCHES = ("c", "g", "k")


def figures(items, readings) -> dict:
    s = ft.score(items, readings)
    return {**s, "accuracy": round(s["correct"] / s["n"], 4)}


def confirmation_guess(c, expect: str) -> Intent:
    """What the dialogue's confirmation turn asks about after this one unclear answer."""
    if c.intent in _CONFIRMABLE:
        return c.intent
    return Intent.HELP if expect == "safety" else Intent.UNWELL


def model_guess(guess: Intent, p_by_class: dict[Intent, float], c, expect: str) -> Intent:
    """The model's best confirmable reading, serious rules' readings kept (safety first)."""
    if c.intent in fallback.KEPT:
        return c.intent
    confirmable = {k: v for k, v in p_by_class.items() if k in _CONFIRMABLE}
    return max(confirmable, key=confirmable.get) if confirmable else confirmation_guess(c, expect)


def cpu_ms_per_answer(model: fallback.Model, items, passes: int) -> dict[str, float]:
    def one(fn) -> float:
        started = time.process_time()
        for it in items:
            fn(it)
        return (time.process_time() - started) * 1000 / len(items)

    feats = lambda it: model.probabilities(it.labelled.text, it.labelled.expect)  # noqa: E731
    morphology.analyse.cache_clear()
    return {
        "fallback_uncached_analysis": round(one(feats), 4),
        "fallback_cached_analysis": round(statistics.median(one(feats) for _ in range(passes)), 4),
        "rules_cached_analysis": round(
            statistics.median(
                one(lambda it: classify(it.labelled.text, "ja", expect=it.labelled.expect))
                for _ in range(passes)
            ),
            4,
        ),
    }


def compare(folds, thresholds: dict[str, float]) -> dict:
    """Rules alone vs rules+fallback (and the model alone), per left-out batch and pooled."""
    per_batch, pooled = {}, {"rules": [], "rules_fallback": [], "model_alone": [], "calm": []}
    calm_thresholds = ft.group_thresholds(fallback.CALMING, ft.CALM_PROBE_THRESHOLD)
    for fold in folds:
        readings = {
            "rules": [it.rules for it in fold.items],
            "rules_fallback": ft.combined(fold, thresholds, fallback.ANSWERABLE),
            "model_alone": [Classification(g, p, (), False) for g, p in fold.guesses],
            "calm": ft.combined(fold, calm_thresholds, fallback.CALMING),
        }
        per_batch[fold.batch] = {k: figures(fold.items, v) for k, v in readings.items()}
        for k, v in readings.items():
            pooled[k].append(ft.score(fold.items, v))
    out = {k: ft.pooled(v) for k, v in pooled.items()}
    out["fallback_answers"] = answers(folds, thresholds)
    out["calming_probe"] = {"threshold": ft.CALM_PROBE_THRESHOLD, **out.pop("calm")}
    return {"pooled": out, "per_batch": per_batch}


def answers(folds, thresholds: dict[str, float]) -> dict[str, int]:
    """What the fallback answered: right, wrong, and wrong on a fine/usual/yes/no answer (a
    soft false alarm: someone is told of a complaint that was not said)."""
    out = {"answered": 0, "right": 0, "wrong": 0, "wrong_on_calm_label": 0}
    for fold in folds:
        combined = ft.combined(fold, thresholds, fallback.ANSWERABLE)
        for it, c in zip(fold.items, combined, strict=True):
            if c is it.rules:
                continue
            label = it.labelled.intent
            out["answered"] += 1
            out["right"] += c.intent == label
            out["wrong"] += c.intent != label
            out["wrong_on_calm_label"] += c.intent != label and label in fallback.CALMING
    return out


def confirmation(folds, thresholds: dict[str, float]) -> dict:
    """Answers still asked again: how often the confirmation turn's hypothesis is the label,
    as the dialogue builds it today vs the model's best confirmable reading."""
    out = {"asked_again": 0, "dialogue_guess_right": 0, "model_guess_right": 0}
    for fold in folds:
        combined = ft.combined(fold, thresholds, fallback.ANSWERABLE)
        for k, (it, (guess, _), c) in enumerate(
            zip(fold.items, fold.guesses, combined, strict=True)
        ):
            if is_acceptable(c):
                continue
            label, expect = it.labelled.intent, it.labelled.expect
            p = dict(zip(fold.classes, fold.probabilities[k].tolist(), strict=True))
            out["asked_again"] += 1
            out["dialogue_guess_right"] += confirmation_guess(it.rules, expect) == label
            out["model_guess_right"] += model_guess(guess, p, it.rules, expect) == label
    return out


def cross_validation(quick: bool) -> dict:
    files = ft.training_files()
    items = ft.load_items(files)
    thresholds = fallback.shipped().thresholds
    batches = [b for b in files if len(b) == 1]
    if quick:
        batches = [b for b in batches if b in QUICK_BATCHES]
    folds = ft.cross_validate(items, ft.CHOSEN_C, batches)
    first = ft.at_first_pass(folds, items)
    report = {"batches": batches, "c": ft.CHOSEN_C, "thresholds": thresholds}
    report["first_pass_rules"] = compare(first, thresholds)
    report["confirmation_hypothesis_first_pass"] = confirmation(first, thresholds)
    report["rules_today"] = compare(folds, thresholds)
    report["items"] = items
    return report


def unread() -> dict:
    manifest = tomllib.loads((ft.HELDOUT / "manifest.toml").read_text(encoding="utf-8"))
    shipped = fallback.shipped()
    out = {}
    for batch in manifest["batch"]:
        if "tuned_since" in batch:
            continue
        items = load_labelled(ft.HELDOUT / batch["file"])
        wrapped = [ft.Item("unread", it, classify(it.text, "ja", expect=it.expect)) for it in items]
        rules = [it.rules for it in wrapped]
        combined = [
            fallback.combine(it.rules, it.labelled.text, it.labelled.expect, shipped)
            for it in wrapped
        ]
        out[batch["file"]] = {
            "rules": figures(wrapped, rules),
            "rules_fallback": figures(wrapped, combined),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 left-out batches (< 1 min)")
    parser.add_argument("--unread", action="store_true", help="score L/M/N (figures only)")
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
        r, f = (report["first_pass_rules"]["pooled"][k] for k in ("rules", "rules_fallback"))
        report["accuracy_ratio_vs_rules"] = round(f["accuracy"] / r["accuracy"], 4)
    report["model_bytes"] = fallback.WEIGHTS.stat().st_size
    report["model_parameters"] = int(fallback.shipped().weights.size)
    report["cpu_s"] = round(time.process_time() - started, 1)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
