"""Accuracy of the intent matcher on a labelled transcript set (tests and bench share it).

File format: `text<TAB>intent` per line; `# expect: health|yesno|safety|any` sets the
question the following lines answer; other `#` lines are comments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mimamori_wire import Intent
from speech.intents import EXPECTS, Classification, is_acceptable, is_help_phrase
from speech.understanding import understand

CRITICAL_LABELS = frozenset({Intent.HELP, Intent.UNWELL})
REASSURING = frozenset({Intent.FINE, Intent.USUAL})
# A critical miss: a help/unwell answer read as one of these (nobody would be told).
CALMING = frozenset({Intent.FINE, Intent.USUAL, Intent.YES})


@dataclass(frozen=True)
class Labelled:
    text: str
    intent: Intent
    expect: str
    line: int


@dataclass
class Report:
    total: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    misses: list[tuple[Labelled, Intent, float]] = field(default_factory=list)
    critical: list[tuple[Labelled, Intent]] = field(default_factory=list)
    false_alarms: list[tuple[Labelled, Intent]] = field(default_factory=list)
    by_expect_total: Counter = field(default_factory=Counter)
    by_expect_correct: Counter = field(default_factory=Counter)

    @property
    def accuracy(self) -> float:
        n = sum(self.total.values())
        return sum(self.correct.values()) / n if n else 0.0

    def per_expect(self) -> dict[str, float]:
        """Accuracy per question context (health / yesno / safety / any)."""
        return {
            k: round(self.by_expect_correct[k] / n, 4)
            for k, n in sorted(self.by_expect_total.items())
        }

    def per_expect_counts(self) -> dict[str, str]:
        return {
            k: f"{self.by_expect_correct[k]}/{n}" for k, n in sorted(self.by_expect_total.items())
        }

    def per_intent(self) -> dict[str, float]:
        return {k.value: round(self.correct[k] / n, 4) for k, n in sorted(self.total.items())}

    def miss_kinds(self) -> dict[str, int]:
        """Misses split by what the dialogue does next: `asked_again` (heard as unknown: the
        re-ask and the confirmation turn follow, nothing is acted on) and `acted_wrong` (a
        confident other intent: the dialogue moves on with it)."""
        asked = sum(1 for _, acted, _ in self.misses if acted == Intent.UNKNOWN)
        return {"asked_again": asked, "acted_wrong": len(self.misses) - asked}


def load_labelled(path: Path | str) -> list[Labelled]:
    items: list[Labelled] = []
    expect = "health"
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("# expect:"):
            expect = line.split(":", 1)[1].strip()
            if expect not in EXPECTS:
                raise ValueError(f"{path}:{number}: unknown expect {expect!r}")
            continue
        if not line or line.startswith("#"):
            continue
        try:
            text, label = raw.split("\t")
            items.append(Labelled(text.strip(), Intent(label.strip()), expect, number))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: want text<TAB>intent, got {raw!r}") from exc
    return items


Reader = Callable[..., Classification]  # reader(text, lang, expect=...)


def evaluate(items: list[Labelled], lang: str = "ja", reader: Reader = understand) -> Report:
    """Score what the dialogue would act on: a classification it would not accept (low
    confidence, ambiguous) counts as `unknown`. A critical miss is a help/unwell answer
    whose best intent is fine/usual/yes, accepted or not; a false alarm is a fine/usual
    answer whose best intent is help. `reader` is the product's (rules + learned model) unless
    a test asks for the rules alone (speech.intents.classify)."""
    report = Report()
    for item in items:
        c = reader(item.text, lang, expect=item.expect)
        acted = c.intent if is_acceptable(c) else Intent.UNKNOWN
        report.total[item.intent] += 1
        report.by_expect_total[item.expect] += 1
        if acted == item.intent:
            report.correct[item.intent] += 1
            report.by_expect_correct[item.expect] += 1
        else:
            report.misses.append((item, acted, c.confidence))
        if item.intent in CRITICAL_LABELS and c.intent in CALMING:
            report.critical.append((item, c.intent))
        if item.intent in REASSURING and c.intent == Intent.HELP:
            report.false_alarms.append((item, c.intent))
    return report


def load_lines(path: Path | str) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def help_false_triggers(lines: list[str], lang: str = "ja") -> list[str]:
    return [s for s in lines if is_help_phrase(s, lang)]
