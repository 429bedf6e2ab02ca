"""Train the learned reading (speech/fallback.py), choose its thresholds by cross-validation.

Training data: the 540-line set, the 2026-11-27 batch, every held-out batch whose manifest
entry has `tuned_since`, and the training batches (tests/speech/data/training: written for the
model by writers who never saw the code; the rules were never tuned on them). An untuned
held-out batch (the honest measure) is refused by `training_files`, never read here.

Cross-validation that does not flatter: leave one batch out (each tuned held-out batch and each
training batch), train on the rest, score the left-out batch as if unread. The rules side of
the combination is each held-out batch's *first-pass* rules (the classifier of the commit that
scored it, readings in FIRST_PASS) and today's rules for the training batches (which they
never saw). The four thresholds of `fallback.decide` are chosen on the pooled folds: best
gain = (newly right) - 2 x (newly wrong) - 10 x (added critical misses), with critical misses
and help false alarms not above the rules alone.

    .venv/bin/python -m speech.fallback_train            # CV, choose, train on all, write
    .venv/bin/python -m speech.fallback_train --cv-only  # figures only

Needs scikit-learn (the `dev` extra); the gateway only runs speech/fallback.py (numpy).
"""

from __future__ import annotations

import argparse
import itertools
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
TRAINING = DATA / "training"
CV_PREFIX = "ja_heldout_2026-11-30_"
TRAINING_PREFIX = "ja_train_"
DIM = 1 << 15
CHOSEN_C = (
    32.0  # model-alone CV on 7 folds: C 4 0.938, 8 0.944, 16 0.946, 32 0.949 (docs/benchmarks.md)
)
# Candidate thresholds per key of fallback.THRESHOLD_KEYS; None = the model never answers so.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, None)
# A wrong answer where the rules would have asked again costs more than a right one gains;
# a help/unwell answer read calm (a critical miss) costs far more: a missed alarm can cost a
# life. Criticals below the rules' count earn the same weight.
WRONG_COST = 2
CRITICAL_COST = 10


def training_files() -> dict[str, Path]:
    """Batch name -> file, for the sets the fallback may learn from (tuned ones only)."""
    manifest = tomllib.loads((HELDOUT / "manifest.toml").read_text(encoding="utf-8"))
    files = {"540": DATA / "ja_labelled.tsv"}
    for batch in manifest["batch"]:
        if "tuned_since" not in batch:
            continue  # unread: the honest measure; never opened here
        name = batch["file"].removesuffix(".tsv").removeprefix(CV_PREFIX)
        files[name] = HELDOUT / batch["file"]
    for path in sorted(TRAINING.glob(f"{TRAINING_PREFIX}*.tsv")):
        files[path.stem.removeprefix(TRAINING_PREFIX)] = path
    return files


def cv_batches(files: dict[str, Path]) -> list[str]:
    """The folds: each held-out batch of 2026-11-30 and each training batch."""
    return [b for b, path in files.items() if path.name.startswith((CV_PREFIX, TRAINING_PREFIX))]


@dataclass(frozen=True)
class Item:
    batch: str
    labelled: Labelled
    rules: Classification
    help_refused: bool = False


def load_items(files: dict[str, Path]) -> list[Item]:
    return [
        Item(
            name,
            item,
            classify(item.text, "ja", expect=item.expect),
            fallback.help_refused(item.text),
        )
        for name, path in files.items()
        for item in load_labelled(path)
    ]


# Answers that mean nothing: what a recogniser makes of noise, mumbling or a cough. Labelled
# unknown so that the model has no opinion on them (a discriminative model otherwise reads
# any string as the nearest intent: かきくけこ as unwell). Training only, never a fold.
NOISE_BATCH = "noise"
NOISE_SEED = 20261130
NOISE_ANSWERS = 600
_KANA = (
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "がぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽ"
)


def noise_items(n: int = NOISE_ANSWERS, seed: int = NOISE_SEED) -> list[Item]:
    """Up to `n` meaningless answers (seeded): random kana, runs of the kana table, repeated
    syllables, each under a question context in turn; draws the rules read a word in are
    dropped."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    while len(texts) < n:
        kind = len(texts) % 3
        if kind == 0:
            text = "".join(rng.choice(list(_KANA), size=int(rng.integers(2, 11))))
        elif kind == 1:
            start = int(rng.integers(0, len(_KANA) - 3))
            text = _KANA[start : start + int(rng.integers(3, 7))]
        else:
            syllables = "".join(rng.choice(list(_KANA), size=int(rng.integers(1, 3))))
            text = syllables * int(rng.integers(2, 4))
        texts.append(text)
    expects = ("health", "yesno", "safety", "any")
    items = [
        Item(
            NOISE_BATCH,
            Labelled(text, Intent.UNKNOWN, expects[i % len(expects)], i + 1),
            classify(text, "ja", expect=expects[i % len(expects)]),
            fallback.help_refused(text),
        )
        for i, text in enumerate(texts)
    ]
    # A draw the rules find a word in (ええ = yes, そわそわ = restless) is not noise.
    return [it for it in items if it.rules.intent == Intent.UNKNOWN and not it.rules.evidence]


def training_items() -> list[Item]:
    """Everything the model learns from: the labelled files and the noise answers."""
    return load_items(training_files()) + noise_items()


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


def fit(items: Sequence[Item], c_value: float, dim: int = DIM, x=None) -> fallback.Model:
    """The model trained on `items` (`x`: their feature matrix, when already built)."""
    from sklearn.linear_model import LogisticRegression

    labels = [it.labelled.intent.value for it in items]
    clf = LogisticRegression(C=c_value, max_iter=500, tol=1e-4)
    clf.fit(matrix(items, dim) if x is None else x, labels)
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


def cross_validate(
    items: Sequence[Item], c_value: float, batches: Sequence[str], jobs: int = 2
) -> list[Fold]:
    """One model per left-out batch (features built once; folds fitted `jobs` at a time)."""
    from concurrent.futures import ProcessPoolExecutor

    x = matrix(items)
    names = np.array([it.batch for it in items])
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(_fold, [(x, names, items, name, c_value) for name in batches]))
    return [
        Fold(name, [it for it in items if it.batch == name], classes, p)
        for name, (classes, p) in zip(batches, results, strict=True)
    ]


def _fold(job) -> tuple[tuple[Intent, ...], np.ndarray]:
    x, names, items, name, c_value = job
    train = np.flatnonzero(names != name)
    test = np.flatnonzero(names == name)
    model = fit([items[i] for i in train], c_value, x=x[train])
    scores = x[test] @ model.weights + model.bias
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return model.classes, np.asarray(scores / scores.sum(axis=1, keepdims=True))


def combined(fold: Fold, thresholds: dict[str, float]) -> list[Classification]:
    return [
        fallback.decide(it.rules, g, p, thresholds, help_is_refused=it.help_refused)
        for it, (g, p) in zip(fold.items, fold.guesses, strict=True)
    ]


def pooled(figures: Sequence[dict[str, int]]) -> dict[str, float]:
    out: dict[str, float] = {k: sum(f[k] for f in figures) for k in figures[0]}
    out["accuracy"] = round(out["correct"] / out["n"], 4)
    return out


def candidates() -> list[dict[str, float]]:
    """Every threshold set of the grid (an override threshold below its unsure one is
    skipped: overriding a sure reading never needs less evidence than filling an unsure one)."""
    out = []
    for values in itertools.product(THRESHOLDS, repeat=len(fallback.THRESHOLD_KEYS)):
        t = dict(zip(fallback.THRESHOLD_KEYS, values, strict=True))
        if any(
            t[f"override_{g}"] is not None
            and (t[f"unsure_{g}"] is None or t[f"override_{g}"] < t[f"unsure_{g}"])
            for g in ("alarm", "calm")
        ):
            continue
        out.append({k: v for k, v in t.items() if v is not None})
    return out


def search(folds: Sequence[Fold]) -> dict:
    """Pooled CV figures of the rules alone and of every candidate; the chosen one."""
    rules = pooled([score(f.items, [it.rules for it in f.items]) for f in folds])
    rows = []
    for t in candidates():
        figs = pooled([score(f.items, combined(f, t)) for f in folds])
        gain = (
            (figs["correct"] - rules["correct"])
            - WRONG_COST * (figs["acted_wrong"] - rules["acted_wrong"])
            - CRITICAL_COST * (figs["critical"] - rules["critical"])
        )
        safe = (
            figs["critical"] <= rules["critical"] and figs["false_alarms"] <= rules["false_alarms"]
        )
        rows.append({"thresholds": t, "gain": gain, "allowed": safe, **figs})
    allowed = [r for r in rows if r["allowed"] and r["gain"] > 0]
    chosen = max(allowed, key=lambda r: r["gain"]) if allowed else None
    return {"rules": rules, "rows": rows, "chosen": chosen}


def at_first_pass(folds: Sequence[Fold], items: Sequence[Item]) -> list[Fold]:
    """The same folds (same model outputs) with each held-out batch read by its first-pass
    rules; a training batch keeps today's rules (they never saw it)."""
    first = {(it.batch, it.labelled.line): it for it in with_first_pass(items)}
    return [
        Fold(
            f.batch,
            [first.get((it.batch, it.labelled.line), it) for it in f.items],
            f.classes,
            f.probabilities,
        )
        for f in folds
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument("--out", type=Path, default=fallback.WEIGHTS)
    args = parser.parse_args(argv)
    files = training_files()
    items = training_items()
    folds = at_first_pass(cross_validate(items, CHOSEN_C, cv_batches(files)), items)
    found = search(folds)
    chosen = found["chosen"]
    summary = {
        "folds": [f.batch for f in folds],
        "answers": sum(len(f.items) for f in folds),
        "rules": found["rules"],
        "chosen": chosen,
    }
    print(json.dumps(summary), file=sys.stderr)
    if args.cv_only:
        return 0
    model = fit(items, CHOSEN_C)
    thresholds = chosen["thresholds"] if chosen else {}
    fallback.save(args.out, fallback.Model(model.weights, model.bias, model.classes, thresholds))
    print(json.dumps({"written": str(args.out), "thresholds": thresholds, "c": CHOSEN_C}))
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
            out.append(Item(name, it.labelled, old, it.help_refused))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
