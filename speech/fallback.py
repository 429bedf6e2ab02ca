"""The learned reading of an answer, and how it is combined with the rules (speech/intents.py).

Features: character 1-3-grams of the folded text, the morphology's lemmas (with a mark when
the predicate chain after them is negated) and lemma bigrams, each also paired with the
question context; hashed (crc32, stable across processes) into a fixed number of buckets and
scaled to unit length. Model: multinomial logistic regression trained offline
(speech/fallback_train.py) on the tuned held-out batches, the 540-line set and the training
batches (tests/speech/data/training); inference is numpy only, from a shipped weights file,
loaded once.

The combination (`decide`, property-tested), safety first:
- the rules' help stands, always (助けて is help whatever the model says);
- the rules' unwell (sure or unsure) is never lowered: the model may only raise it to help
  (a symptom word outranks every reassurance the model hears);
- the model may not originate help where the answer's help words are refused or told as a
  story (救急車なんか呼ばんでええ: `help_refused`);
- a sure reassurance of the rules (fine/usual/yes) that the model reads as help/unwell is
  acted on by neither: the answer is unclear (`disputed:`), so the dialogue asks again and
  confirms, with the model's reading as its hypothesis;
- a sure unwell of the rules that the model reads as a reassurance with at least
  DISPUTE_ALARM_MIN is disputed the other way: the dialogue asks about the rules' unwell at
  once, and only the resident's no lowers it (silence or anything unclear keeps the alarm);
- otherwise, where the rules are unsure, the model answers when its probability reaches the
  `unsure_*` threshold of its group (alarm: help/unwell/trouble/callback; calm: fine/usual/
  yes/no/repeat); where the rules are sure and the model disagrees, it answers when it reaches
  the `override_*` threshold.
The thresholds come from leave-one-batch-out cross-validation against each batch's first-pass
rules (docs/benchmarks.md); a group without a threshold is never answered by the model.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimamori_wire import Intent
from speech.intents import (
    MIN_CONFIDENCE,
    Classification,
    drop_lengthening,
    fold,
    help_words_heard,
    is_acceptable,
    is_help_phrase,
)
from speech.morphology import analyse

FORMAT = "mimamori-fallback-2"
WEIGHTS = Path(__file__).parent / "data" / "fallback_ja.npz"
# The model's two groups of answers; thresholds are per (rules sure or unsure, group).
ALARMING = frozenset({Intent.HELP, Intent.UNWELL, Intent.TROUBLE, Intent.CALLBACK})
CALMING = frozenset({Intent.FINE, Intent.USUAL, Intent.YES, Intent.NO, Intent.REPEAT})
THRESHOLD_KEYS = ("unsure_alarm", "unsure_calm", "override_alarm", "override_calm")
# A sure reassurance of the rules (fine/usual/yes: what a critical miss is read as) and the
# model's help/unwell are a dispute: the rules read negation and scope, the model reads words
# the rules lack, and only the resident can settle it (speech/dialogue.py confirms).
REASSURING = frozenset({Intent.FINE, Intent.USUAL, Intent.YES})
SERIOUS = frozenset({Intent.HELP, Intent.UNWELL})
# Evidence of a disputed reading: what the rules read and what the model read (the dialogue
# falls back to the rules' reading when the resident says no to the model's alarm).
RULES_READ = "rules:"
DISPUTED = "disputed:"
# The rules' sure unwell is disputed (never lowered) when the model reads a reassurance with at
# least this probability. CV on the training batches (today's rules never saw them): the rules'
# unwell was a false alarm on 129 of 7,511 answers; at >= 0.95 the model disputed 62 of them and
# no answer labelled unwell (at 0.9: 72, and 2 labelled unwell; docs/benchmarks.md).
DISPUTE_ALARM_MIN = 0.95


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
    thresholds: dict[str, float]  # per THRESHOLD_KEYS; absent = the model never answers so

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
    """The rules' reading `c` combined with the model's (module docstring)."""
    if c.intent == Intent.HELP:
        return c
    guess, p = model.best(text, expect)
    refused = guess == Intent.HELP and help_refused(text)
    return decide(c, guess, p, model.thresholds, help_is_refused=refused)


def help_refused(text: str) -> bool:
    """Help words that the help spotter does not take as a call for help (a refusal, a
    story, someone else's ambulance): the model may not make such an answer help."""
    return help_words_heard(text, "ja") and not is_help_phrase(text, "ja")


def decide(
    c: Classification,
    guess: Intent,
    p: float,
    thresholds: dict[str, float],
    *,
    help_is_refused: bool = False,
) -> Classification:
    """The combination rule given the model's best guess and its probability (pure; the
    cross-validation calls it with candidate thresholds)."""
    sure = is_acceptable(c)
    if c.intent == Intent.HELP or (guess == c.intent and sure) or guess == Intent.UNKNOWN:
        return c  # (the model's unknown is no opinion: the rules' reading stands)
    if guess == Intent.HELP and help_is_refused:
        return c
    if c.intent == Intent.UNWELL and guess != Intent.HELP and guess != c.intent:
        if sure and guess in REASSURING and p >= DISPUTE_ALARM_MIN:
            return _disputed(c, guess)  # the resident settles it; only their no lowers it
        return c  # an alarm is never lowered; unwell may only be raised to help
    group = "alarm" if guess in ALARMING else "calm"
    threshold = thresholds.get(f"{'override' if sure else 'unsure'}_{group}")
    if threshold is None or p < max(threshold, MIN_CONFIDENCE):
        return c
    if sure and c.intent in REASSURING and guess in SERIOUS:
        # The rules' reassurance and the model's alarm disagree: neither is acted on; the
        # dialogue asks again and confirms (the model's reading is its hypothesis).
        return _disputed(c, guess)
    return Classification(guess, p, (*c.evidence, f"fallback:{guess.value}:{p:.2f}"), False)


def _disputed(c: Classification, guess: Intent) -> Classification:
    evidence = (*c.evidence, f"{RULES_READ}{c.intent.value}", f"{DISPUTED}{guess.value}")
    return Classification(Intent.UNKNOWN, 0.0, evidence, True)


@dataclass(frozen=True)
class Dispute:
    """The two readings behind a disputed answer: one an alarm (help/unwell), one calm."""

    rules: Intent
    model: Intent

    @property
    def rules_alarm(self) -> bool:
        """Whether the alarm is the rules' (then it stands unless the resident says no)."""
        return self.rules in SERIOUS

    @property
    def alarm(self) -> Intent:
        return self.rules if self.rules_alarm else self.model

    @property
    def calm(self) -> Intent:
        return self.model if self.rules_alarm else self.rules


def disputed(c: Classification) -> Dispute | None:
    """The readings behind a disputed classification made by `decide`, if `c` is one."""
    if c.intent != Intent.UNKNOWN:
        return None
    rules = [e.removeprefix(RULES_READ) for e in c.evidence if e.startswith(RULES_READ)]
    model = [e.removeprefix(DISPUTED) for e in c.evidence if e.startswith(DISPUTED)]
    if not rules or not model:
        return None
    return Dispute(Intent(rules[-1]), Intent(model[-1]))
