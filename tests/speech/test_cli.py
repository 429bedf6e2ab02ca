"""`python -m speech` as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "speech", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_classify_prints_one_json_object_per_line():
    done = run("classify", "--lang", "ja", stdin="元気です\n\nげんき じゃ ない\n助けて\n")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["text"], r["intent"]) for r in rows] == [
        ("元気です", "fine"),
        ("げんき じゃ ない", "unwell"),
        ("助けて", "help"),
    ]
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)


def test_classify_with_a_municipality_lexicon(tmp_path):
    extra = tmp_path / "extra.toml"
    extra.write_text('[[group]]\nintent = "fine"\nphrases = ["ちばりよー"]\n', encoding="utf-8")
    done = run("classify", "--lang", "ja", "--lexicon", str(extra), stdin="ちばりよー\n")
    assert json.loads(done.stdout)["intent"] == "fine"


def test_vocab_without_japanese_model_says_where_it_looked(tmp_path):
    import os

    env = {**os.environ, "MIMAMORI_MODEL_DIR": str(tmp_path / "none")}
    done = subprocess.run(
        [sys.executable, "-m", "speech", "vocab", "--lang", "ja"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert str(tmp_path / "none") in done.stderr


@pytest.mark.model
def test_vocab_on_korean_model_finds_every_word():
    done = run("vocab", "--lang", "ko")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["missing"] == {}
