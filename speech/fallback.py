"""A learned fallback for answers the rules do not understand (speech/intents.py says unknown).

Features: character 1-3-grams of the folded text, the morphology's lemmas (with a mark when
the predicate chain after them is negated) and lemma bigrams, each also paired with the
question context; hashed (crc32, stable across processes) into a fixed number of buckets and
scaled to unit length. Model: multinomial logistic regression trained offline
(speech/train_fallback.py); inference is numpy only, from a shipped weights file, loaded once.

Safety (the combination rule, `combine`): the rules' acceptable answers stand. Where the rules
are unsure, the model may answer only with an intent of `ANSWERABLE` and only when its
probability reaches that intent group's threshold (chosen by leave-one-batch-out
cross-validation, docs/benchmarks.md). An unsure reading the rules lean to help/unwell is never
changed. Measured result and the decision whether the gateway uses it: docs/speech.md.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimamori_wire import Intent
from speech.intents import MIN_CONFIDENCE, Classification, drop_lengthening, fold, is_acceptable
from speech.morphology import analyse

FORMAT = "mimamori-fallback-1"
WEIGHTS = Path(__file__).parent / "data" / "fallback_ja.npz"
# What the model may answer on its own where the rules are unsure. Never fine/usual/yes/no:
# a calming reading of an answer the rules could not explain is how a help/unwell answer gets
# lost (critical miss); the cross-validation measured it (docs/benchmarks.md).
ANSWERABLE = frozenset({Intent.HELP, Intent.UNWELL, Intent.TROUBLE, Intent.CALLBACK})
# An unsure reading the rules lean to these is left alone (the confirmation asks about it).
KEPT = frozenset({Intent.HELP, Intent.UNWELL})
CALMING = frozenset({Intent.FINE, Intent.USUAL, Intent.YES, Intent.NO})


def feature_strings(text: str, expect: str) -> list[str]:
    """The named features of one answer (before hashing); deterministic."""
    folded = fold(drop_lengthening(text))
    padded = f"^{folded}$"
    names = [f"e:{expect}"]
    for n in (1, 2, 3):
        names.extend(f"c{n}:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    analysis = analyse(text, fold) if folded else None
    if analysis is not None:
        lemmas = [t.lemma for t in analysis.tokens if t.pos != "記号"]
        for i, t in enumerate(analysis.tokens):
            if t.pos == "記号":
                continue
            negated = analysis.negated_after(i) is not None
            names.append(f"l:{'~' if negated else ''}{t.lemma}")
        names.extend(f"b:{a}|{b}" for a, b in itertools.pairwise(lemmas))
    names.extend([f"{expect}|{name}" for name in names if name[0] in "lb"])
    return names


def hashed(names: list[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket indices and values (a unit-length bag of hashed features)."""
    buckets = np.array([zlib.crc32(n.encode("utf-8")) % dim for n in names], dtype=np.int64)
    index, counts = np.unique(buckets, return_counts=True)
    values = counts.astype(np.float32)
    return index, values / np.float32(np.linalg.norm(values))


@dataclass(frozen=True)
class Model:
    weights: np.ndarray  # (dim, classes) float32
    bias: np.ndarray  # (classes,)
    classes: tuple[Intent, ...]
    thresholds: dict[str, float]  # per ANSWERABLE intent name; absent = never answers it

    @property
    def dim(self) -> int:
        return int(self.weights.shape[0])

    def probabilities(self, text: str, expect: str) -> np.ndarray:
        index, values = hashed(feature_strings(text, expect), self.dim)
        scores = values @ self.weights[index] + self.bias
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def best(self, text: str, expect: str) -> tuple[Intent, float]:
        p = self.probabilities(text, expect)
        k = int(np.argmax(p))
        return self.classes[k], float(p[k])


def save(path: Path, model: Model) -> None:
    np.savez_compressed(
        path,
        format=np.array(FORMAT),
        weights=model.weights.astype(np.float32),
        bias=model.bias.astype(np.float32),
        classes=np.array([c.value for c in model.classes]),
        threshold_intents=np.array(sorted(model.thresholds), dtype=str),
        threshold_values=np.array(
            [model.thresholds[k] for k in sorted(model.thresholds)], dtype=np.float32
        ),
    )


def load(path: Path = WEIGHTS) -> Model:
    with np.load(path, allow_pickle=False) as data:
        if str(data["format"]) != FORMAT:
            raise ValueError(f"{path}: format {data['format']!r}, want {FORMAT!r}")
        thresholds = dict(
            zip(
                (str(k) for k in data["threshold_intents"]),
                (float(v) for v in data["threshold_values"]),
                strict=True,
            )
        )
        return Model(
            weights=data["weights"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
            classes=tuple(Intent(str(c)) for c in data["classes"]),
            thresholds=thresholds,
        )


_lock = threading.Lock()
_model: Model | None = None


def shipped() -> Model:
    """The shipped model, loaded once."""
    global _model
    with _lock:
        if _model is None:
            _model = load()
        return _model


def combine(c: Classification, text: str, expect: str, model: Model) -> Classification:
    """The rules' reading `c`, or the model's where the rules are unsure and the model is
    confident about an intent it may answer (module docstring)."""
    if is_acceptable(c) or c.intent in KEPT:
        return c
    guess, p = model.best(text, expect)
    return decide(c, guess, p, model.thresholds)


def decide(
    c: Classification,
    guess: Intent,
    p: float,
    thresholds: dict[str, float],
    answerable: frozenset[Intent] = ANSWERABLE,
) -> Classification:
    """The combination rule given the model's best guess and its probability (pure; the
    cross-validation calls it with other `answerable` sets to measure what they would do)."""
    if is_acceptable(c) or c.intent in KEPT:
        return c
    threshold = thresholds.get(guess.value)
    if guess not in answerable or threshold is None or p < max(threshold, MIN_CONFIDENCE):
        return c
    return Classification(guess, p, (*c.evidence, f"fallback:{guess.value}:{p:.2f}"), False)
