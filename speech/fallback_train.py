"""Train the learned fallback (speech/fallback.py) and cross-validate it by batch.

Training data: the 540-line set, the 2026-11-27 batch and every held-out batch whose manifest
entry has `tuned_since` (A-K). An untuned batch (L, M, N: the honest measure) is refused by
`training_files`, never read here. Hyperparameters and thresholds come from leave-one-batch-out
cross-validation over the tuned 2026-11-30 batches: train on the other batches + 540 + 11-27,
score the left-out batch as if unread.

    .venv/bin/python -m speech.fallback_train            # CV, choose, train on all, write
    .venv/bin/python -m speech.fallback_train --cv-only  # figures only

Needs scikit-learn (the `dev` extra); the gateway only runs speech/fallback.py (numpy).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimamori_wire import Intent
from speech import fallback
from speech.evaluation import CALMING, CRITICAL_LABELS, REASSURING, Labelled, load_labelled
from speech.intents import Classification, classify, is_acceptable

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "speech" / "data"
HELDOUT = DATA / "heldout"
CV_PREFIX = "ja_heldout_2026-11-30_"
DIM = 1 << 15
C_GRID = (8.0,)  # 2, 8 and 32 were within 1 answer of each other (docs/benchmarks.md)
CHOSEN_C = 8.0  # by the CV below (docs/benchmarks.md, speech, learned fallback)
# The calming group (fine/usual/yes/no) is probed at this threshold for the bench's figures.
CALM_PROBE_THRESHOLD = 0.9
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01)  # 1.01 = never
ALARMING = fallback.ANSWERABLE
# A wrong answer where the rules would have asked again costs more than a right one gains.
WRONG_COST = 2


def training_files() -> dict[str, Path]:
    """Batch name -> file, for the sets the fallback may learn from (tuned ones only)."""
    manifest = tomllib.loads((HELDOUT / "manifest.toml").read_text(encoding="utf-8"))
    files = {"540": DATA / "ja_labelled.tsv"}
    for batch in manifest["batch"]:
        if "tuned_since" not in batch:
            continue  # unread: the honest measure; never opened here
        name = batch["file"].removesuffix(".tsv").removeprefix(CV_PREFIX)
        files[name] = HELDOUT / batch["file"]
    return files


@dataclass(frozen=True)
class Item:
    batch: str
    labelled: Labelled
    rules: Classification


def load_items(files: dict[str, Path]) -> list[Item]:
    return [
        Item(name, item, classify(item.text, "ja", expect=item.expect))
        for name, path in files.items()
        for item in load_labelled(path)
    ]


def matrix(items: Sequence[Item], dim: int = DIM):
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for r, it in enumerate(items):
        index, values = fallback.hashed(
            fallback.feature_strings(it.labelled.text, it.labelled.expect), dim
        )
        rows.append(np.full(len(index), r))
        cols.append(index)
        vals.append(values)
    shape = (len(items), dim)
    return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape)


def fit(items: Sequence[Item], c_value: float, dim: int = DIM) -> fallback.Model:
    from sklearn.linear_model import LogisticRegression

    labels = [it.labelled.intent.value for it in items]
    clf = LogisticRegression(C=c_value, max_iter=500, tol=1e-4)
    clf.fit(matrix(items, dim), labels)
    return fallback.Model(
        weights=clf.coef_.T.astype(np.float32).copy(),
        bias=clf.intercept_.astype(np.float32),
        classes=tuple(Intent(str(c)) for c in clf.classes_),
        thresholds={},
    )


def score(items: Sequence[Item], readings: Sequence[Classification]) -> dict[str, int]:
    """The figures of speech/evaluation.py `evaluate` for given readings."""
    out = dict(n=len(items), correct=0, asked_again=0, acted_wrong=0, critical=0, false_alarms=0)
    for it, c in zip(items, readings, strict=True):
        label = it.labelled.intent
        acted = c.intent if is_acceptable(c) else Intent.UNKNOWN
        if acted == label:
            out["correct"] += 1
        elif acted == Intent.UNKNOWN:
            out["asked_again"] += 1
        else:
            out["acted_wrong"] += 1
        out["critical"] += label in CRITICAL_LABELS and c.intent in CALMING
        out["false_alarms"] += label in REASSURING and c.intent == Intent.HELP
    return out


@dataclass(frozen=True)
class Fold:
    batch: str
    items: list[Item]
    classes: tuple[Intent, ...]
    probabilities: np.ndarray  # (items, classes), from a model trained without this batch

    @property
    def guesses(self) -> list[tuple[Intent, float]]:
        best = self.probabilities.argmax(axis=1)
        return [
            (self.classes[k], float(row[k]))
            for k, row in zip(best, self.probabilities, strict=True)
        ]


def cross_validate(items: Sequence[Item], c_value: float, batches: Sequence[str]) -> list[Fold]:
    folds = []
    for name in batches:
        train = [it for it in items if it.batch != name]
        test = [it for it in items if it.batch == name]
        model = fit(train, c_value)
        p = np.array([model.probabilities(it.labelled.text, it.labelled.expect) for it in test])
        folds.append(Fold(name, test, model.classes, p))
    return folds


def combined(fold: Fold, thresholds: dict[str, float], answerable: frozenset[Intent]):
    return [
        fallback.decide(it.rules, g, p, thresholds, answerable)
        for it, (g, p) in zip(fold.items, fold.guesses, strict=True)
    ]


def pooled(figures: Sequence[dict[str, int]]) -> dict[str, float]:
    out: dict[str, float] = {k: sum(f[k] for f in figures) for k in figures[0]}
    out["accuracy"] = round(out["correct"] / out["n"], 4)
    return out


def group_thresholds(group: frozenset[Intent], t: float) -> dict[str, float]:
    return {i.value: t for i in group}


def sweep(folds: Sequence[Fold], group: frozenset[Intent]) -> list[dict]:
    """Pooled CV figures of letting the model answer `group` at each threshold."""
    rules = pooled([score(f.items, [it.rules for it in f.items]) for f in folds])
    rows = []
    for t in THRESHOLDS:
        figs = pooled(
            [score(f.items, combined(f, group_thresholds(group, t), group)) for f in folds]
        )
        gain = (figs["correct"] - rules["correct"]) - WRONG_COST * (
            figs["acted_wrong"] - rules["acted_wrong"]
        )
        safe = (
            figs["critical"] <= rules["critical"] and figs["false_alarms"] <= rules["false_alarms"]
        )
        rows.append({"threshold": t, "gain": gain, "allowed": safe, **figs})
    return rows


def choose(rows: Sequence[dict]) -> float | None:
    """The threshold with the best gain among the allowed ones; None when nothing gains."""
    allowed = [r for r in rows if r["allowed"] and r["gain"] > 0]
    if not allowed:
        return None
    return max(allowed, key=lambda r: (r["gain"], r["threshold"]))["threshold"]


def at_first_pass(folds: Sequence[Fold], items: Sequence[Item]) -> list[Fold]:
    """The same folds (same model outputs) with each batch read by its first-pass rules."""
    first = with_first_pass(items)
    return [
        Fold(f.batch, [it for it in first if it.batch == f.batch], f.classes, f.probabilities)
        for f in folds
    ]


def cv_report(items: Sequence[Item], c_values: Sequence[float], batches: Sequence[str]) -> dict:
    """Per C, the sweeps of the alarming and calming groups, with the rules of today (tuned
    on these batches: little left to do) and with each batch's first-pass rules (the choice)."""
    by_c = {}
    for c_value in c_values:
        folds = cross_validate(items, c_value, batches)
        first = at_first_pass(folds, items)
        by_c[c_value] = {
            "folds": folds,
            "first_pass_folds": first,
            "alarm": sweep(first, ALARMING),
            "calm": sweep(first, fallback.CALMING),
            "alarm_today": sweep(folds, ALARMING),
            "calm_today": sweep(folds, fallback.CALMING),
        }
    best_c = max(
        by_c, key=lambda c: max([r["gain"] for r in by_c[c]["alarm"] if r["allowed"]] + [0])
    )
    return {"by_c": by_c, "c": best_c, "alarm_threshold": choose(by_c[best_c]["alarm"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument("--out", type=Path, default=fallback.WEIGHTS)
    args = parser.parse_args(argv)
    files = training_files()
    items = load_items(files)
    batches = [b for b in files if len(b) == 1]
    report = cv_report(items, C_GRID, batches)
    summary = {
        "c": report["c"],
        "alarm_threshold": report["alarm_threshold"],
        "sweeps": {str(c): {k: v[k] for k in ("alarm", "calm")} for c, v in report["by_c"].items()},
    }
    print(json.dumps(summary), file=sys.stderr)
    if args.cv_only:
        return 0
    model = fit(items, report["c"])
    t = report["alarm_threshold"]
    thresholds = {} if t is None else group_thresholds(ALARMING, t)
    fallback.save(args.out, fallback.Model(model.weights, model.bias, model.classes, thresholds))
    print(json.dumps({"written": str(args.out), "thresholds": thresholds, "c": report["c"]}))
    return 0


# --- the rules as they were when each batch was unread ------------------------------------
# The rules were tuned on A-K, so their readings of A-K today are upper bounds and leave the
# fallback almost nothing to do. For an honest CV of the *combination*, each batch is read
# again by the classifier of the commit that scored its first pass (manifest `commit`), taken
# from git history (`git archive`, no work tree touched); the readings are kept in
# FIRST_PASS (figures only: intent, confidence, ambiguous per line, in file order).
FIRST_PASS = Path(__file__).parent / "data" / "fallback_first_pass.json"
_READ_AT_COMMIT = """
import json, sys
from pathlib import Path
from speech.intents import classify
from speech.evaluation import load_labelled
out = []
for it in load_labelled(sys.argv[1]):
    try:
        c = classify(it.text, "ja", expect=it.expect)
        out.append([c.intent.value, float(c.confidence), bool(c.ambiguous)])
    except Exception:  # a crash at first pass: no intent (counted as asked again)
        out.append(["unknown", 0.0, True])
print(json.dumps(out))
"""


def first_pass_commits() -> dict[str, str]:
    manifest = tomllib.loads((HELDOUT / "manifest.toml").read_text(encoding="utf-8"))
    out = {}
    for batch in manifest["batch"]:
        if "tuned_since" in batch and "commit" in batch:
            name = batch["file"].removesuffix(".tsv").removeprefix(CV_PREFIX)
            out[name] = batch["commit"].split()[0]
    return out


def record_first_pass(files: dict[str, Path]) -> dict[str, list]:
    import subprocess
    import tempfile

    readings = {}
    for name, commit in first_pass_commits().items():
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", commit, "speech", "mimamori_wire"],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            done = subprocess.run(
                [sys.executable, "-c", _READ_AT_COMMIT, str(files[name])],
                cwd=tmp,
                env={"PYTHONPATH": tmp, "PATH": "/usr/bin:/bin"},
                check=True,
                capture_output=True,
                text=True,
            )
            readings[name] = {"commit": commit, "readings": json.loads(done.stdout)}
    FIRST_PASS.write_text(json.dumps(readings, indent=0) + "\n", encoding="utf-8")
    return readings


def with_first_pass(items: Sequence[Item]) -> list[Item]:
    """The items of the batches with a recorded first pass, read by that first-pass rules."""
    recorded = json.loads(FIRST_PASS.read_text(encoding="utf-8"))
    out = []
    for name, entry in recorded.items():
        batch = [it for it in items if it.batch == name]
        if len(batch) != len(entry["readings"]):
            raise ValueError(f"{name}: {len(batch)} items, {len(entry['readings'])} readings")
        for it, (intent, confidence, ambiguous) in zip(batch, entry["readings"], strict=True):
            old = Classification(Intent(intent), confidence, ("first_pass",), ambiguous)
            out.append(Item(name, it.labelled, old))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
