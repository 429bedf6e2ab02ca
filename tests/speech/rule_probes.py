"""What the rule tests of each tuned batch (test_rules_lmn/tuvw/xyz.py) share: the reading
of a probe sentence, and what the dialogue would act on."""

from __future__ import annotations

from mimamori_wire import Intent
from speech.intents import MIN_CONFIDENCE, Classification, classify

CALM = {Intent.FINE, Intent.USUAL, Intent.YES}
SERIOUS = {Intent.HELP, Intent.UNWELL}


def classified(text: str, expect: str = "health") -> Classification:
    return classify(text, "ja", expect=expect)


def heard(text: str, expect: str = "health") -> Intent:
    """What the dialogue acts on: below the confidence floor it asks again (unknown)."""
    c = classified(text, expect)
    return c.intent if c.confidence >= MIN_CONFIDENCE else Intent.UNKNOWN
