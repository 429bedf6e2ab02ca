"""Score the intent matcher on one labelled transcript file and print the figures as JSON.

Used to record first-pass accuracy on a newly written held-out batch before any lexicon
change (docs/benchmarks.md, speech). Prints figures only: utterance texts appear with
--misses, so a new batch can be scored without reading it. Usage:
    .venv/bin/python tests/speech/score_labelled.py tests/speech/data/heldout/FILE.tsv
`--time` adds the classification time per answer (CPU time, median of 5 passes), with the
morphological analysis uncached and cached (the gateway runs the classifier on a Pi).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a plain script from the repository root
    sys.path.insert(0, str(ROOT))

from speech import morphology  # noqa: E402
from speech.evaluation import Labelled, evaluate, load_labelled  # noqa: E402
from speech.intents import classify  # noqa: E402
from speech.understanding import understand  # noqa: E402


def classify_ms(
    items: list[Labelled], lang: str, reader=classify, passes: int = 5
) -> dict[str, float]:
    """Median CPU milliseconds per answer over `passes`, analysis uncached and cached."""

    def one_pass() -> float:
        started = time.process_time()
        for item in items:
            reader(item.text, lang, expect=item.expect)
        return (time.process_time() - started) * 1000 / len(items)

    uncached = []
    for _ in range(passes):
        morphology.analyse.cache_clear()
        uncached.append(one_pass())
    cached = [one_pass() for _ in range(passes)]
    return {
        "uncached": round(statistics.median(uncached), 3),
        "cached": round(statistics.median(cached), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--lang", default="ja")
    parser.add_argument(
        "--misses", action="store_true", help="list every miss (with its text) on stderr"
    )
    parser.add_argument("--time", action="store_true", help="classification ms per answer")
    parser.add_argument(
        "--rules",
        action="store_true",
        help="the rules alone (speech.intents.classify); default: the product's reader "
        "(speech.understanding.understand: rules + learned model)",
    )
    args = parser.parse_args(argv)
    items = load_labelled(args.path)
    reader = classify if args.rules else understand
    print(f"reader: {'rules alone' if args.rules else 'rules + learned model'}", file=sys.stderr)
    report = evaluate(items, args.lang, reader)
    if args.misses:
        critical_lines = {item.line for item, _ in report.critical}
        for item, got, confidence in report.misses:
            flag = " CRITICAL" if item.line in critical_lines else ""
            print(
                f"{item.line}: {item.text!r} labelled {item.intent.value}, "
                f"got {got.value} ({confidence:.2f}){flag}",
                file=sys.stderr,
            )
    figures = {
        "file": str(args.path),
        "reader": "rules" if args.rules else "rules+model",
        "utterances": len(items),
        "accuracy": round(report.accuracy, 4),
        "per_intent": report.per_intent(),
        "per_intent_counts": {
            k.value: f"{report.correct[k]}/{n}" for k, n in sorted(report.total.items())
        },
        "per_context": report.per_expect(),
        "per_context_counts": report.per_expect_counts(),
        "critical_misses": len(report.critical),
        "false_alarms": len(report.false_alarms),
        **report.miss_kinds(),
    }
    if args.time:
        figures["classify_ms_per_answer"] = classify_ms(items, args.lang, reader)
    if args.misses:  # texts only on request: a first pass is scored without reading the batch
        figures["critical"] = [f"{item.text} -> {got.value}" for item, got in report.critical]
        figures["false_alarm_texts"] = [f"{i.text} -> {g.value}" for i, g in report.false_alarms]
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
