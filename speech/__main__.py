"""Command line: `python -m speech classify --lang ja` and `python -m speech vocab --lang ja`.

classify: reads utterances one per line on stdin, prints one JSON object per line
  {"text", "intent", "confidence", "evidence", "ambiguous"} as the gateway reads them (the
  rules combined with the learned model, speech.understanding; `--rules` for the rules
  alone); bad lines never stop the loop.
vocab: checks every lexicon grammar word against the installed vosk model and lists the
  missing ones by name (exit status 1 when some are missing).
"""

from __future__ import annotations

import argparse
import json
import sys

from speech.intents import EXPECTS, classify, configure
from speech.understanding import understand


def _classify(args: argparse.Namespace) -> int:
    if args.lexicon:
        configure(args.lang, args.lexicon)
    errors = 0
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            reader = classify if args.rules else understand
            c = reader(text, args.lang, expect=args.expect)
            out = {
                "text": text,
                "intent": c.intent.value,
                "confidence": c.confidence,
                "evidence": list(c.evidence),
                "ambiguous": c.ambiguous,
            }
        except Exception as exc:  # one bad line must not stop the rest
            errors += 1
            out = {"text": text, "intent": None, "confidence": 0.0, "error": str(exc)}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return 1 if errors else 0


def _vocab(args: argparse.Namespace) -> int:
    from speech.intents import get_lexicon
    from speech.recognition import ModelNotFoundError, check_vocabulary, get_model

    try:
        model = get_model(args.lang, args.model)
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = check_vocabulary(model, get_lexicon(args.lang).spoken_phrases())
    print(
        json.dumps(
            {
                "lang": args.lang,
                "grammar_phrases": len(report.grammar),
                "segmented": len(report.segmented),
                "missing": report.missing,
            },
            ensure_ascii=False,
        )
    )
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speech", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("classify", help="classify utterances read from stdin, one per line")
    p.add_argument("--lang", default="ja")
    p.add_argument("--expect", default="any", choices=EXPECTS, help="the question answered")
    p.add_argument("--lexicon", action="append", default=[], help="extra lexicon TOML file")
    p.add_argument("--rules", action="store_true", help="the rules alone (no learned model)")
    p.set_defaults(func=_classify)
    v = sub.add_parser("vocab", help="check lexicon words against the vosk model")
    v.add_argument("--lang", default="ja")
    v.add_argument("--model", default=None, help="model directory (default: configured)")
    v.set_defaults(func=_vocab)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
