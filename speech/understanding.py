"""What the product understands an answer to mean: the rules, combined with the learned reading.

`understand` is the one reader the dialogue, the voice's grammar check, the CLI and the
evaluation use. The rules (speech/intents.py) find the words, their negation and hedge scope
and the safety priority; the learned model (speech/fallback.py) reads the phrasings the lexicon
has no entry for, within the combination rule stated there (an alarm of the rules is never
lowered; the rules' help always stands). Other languages than Japanese have no model: the rules
alone. If the model cannot be used (its weights file missing or broken), the rules' reading is
returned, the fault logged and counted: understanding never fails because of the model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from mimamori_wire import Intent
from speech import fallback
from speech.intents import Classification, Lexicon, classify

log = logging.getLogger(__name__)

MODEL_LANGS = frozenset({"ja"})

# Below this probability the model's confirmable guess was right no more often than the
# safety-first default (CV over 6,168 answers, docs/benchmarks.md): the default is asked then.
GUESS_MIN_PROBABILITY = 0.4

_faults_lock = threading.Lock()
model_faults = 0  # readings that fell back to the rules alone because the model failed


def understand(
    text: str, lang: str = "ja", *, expect: str = "health", lexicon: Lexicon | None = None
) -> Classification:
    """The reading of one answer to a question of kind `expect` (health/yesno/safety/any);
    `lexicon` as for speech.intents.classify (a municipality's additions)."""
    rules = classify(text, lang, expect=expect, lexicon=lexicon)
    if lang not in MODEL_LANGS:
        return rules
    try:
        return fallback.combine(rules, text, expect, fallback.shipped())
    except Exception as exc:  # a broken model must never cost the rules' reading
        _count_fault(exc)
        return rules


def _count_fault(exc: Exception) -> None:
    global model_faults
    with _faults_lock:
        model_faults += 1
    log.error("understanding.model_fault", extra={"error": type(exc).__name__})


def best_guess(
    text: str, lang: str = "ja", *, expect: str = "health", among: Iterable[Intent]
) -> Intent | None:
    """The learned model's most probable reading of `text` among `among` (the dialogue's
    confirmation question asks about it), or None when it is less likely than
    GUESS_MIN_PROBABILITY, there is no model for the language or it failed."""
    if lang not in MODEL_LANGS:
        return None
    try:
        model = fallback.shipped()
        p = model.probabilities(text, expect)
    except Exception as exc:
        _count_fault(exc)
        return None
    allowed = set(among)
    scores = {c: float(x) for c, x in zip(model.classes, p, strict=True) if c in allowed}
    if not scores:
        return None
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= GUESS_MIN_PROBABILITY else None
