"""classify / is_help_phrase never raise on what a resident may say (regression: an answer
ending in punctuation after a complaint raised IndexError in the [resolved] rule, because
punctuation tokens fold to nothing and sat past the end of Analysis.clause_of)."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech.intents import (
    EXPECTS,
    LEXICON_DIR,
    classify,
    expand,
    fold,
    help_words_heard,
    is_help_phrase,
)
from speech.morphology import analyse


def _lexicon_phrases() -> list[str]:
    """Every phrase of ja.toml as written (alternatives expanded), read from the file itself."""
    data = tomllib.loads((LEXICON_DIR / "ja.toml").read_text(encoding="utf-8"))
    out: set[str] = set()
    for group in data.get("group", []):
        for phrase in group.get("phrases", []):
            out.update(p.strip("^$") for p in expand(phrase))
    return sorted(p for p in out if p)


PHRASES = _lexicon_phrases()
KANA = [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)]
KANJI = list("頭痛熱胸腰足手目息薬食飯寝眠元気具合悪苦風邪治直救急車呼来助倒転動立雪停電")
MARKS = [
    *"、。，．,.!！?？・…‥「」『』（）()〜~ｰ―-ーーっッぁぃぅぇぉゃゅょァィゥェォ",
    *(" ", "\u3000", "……", "ーー", "！？"),
]
FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + [chr(c) for c in range(0xFF61, 0xFF9F)]
PIECE = st.one_of(
    st.sampled_from(PHRASES),
    st.sampled_from(KANA),
    st.sampled_from(KANJI),
    st.sampled_from(MARKS),
    st.sampled_from(FULL_WIDTH),
)
ANSWERS = st.lists(PIECE, min_size=1, max_size=8).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS, st.sampled_from(EXPECTS))
def test_classify_never_raises_on_lexicon_words_mixed_with_anything(text, expect):
    c = classify(text, "ja", expect=expect)
    assert isinstance(c.intent, Intent)
    assert 0.0 <= c.confidence <= 1.0
    assert isinstance(is_help_phrase(text, "ja"), bool)
    assert isinstance(help_words_heard(text, "ja"), bool)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PHRASES), st.lists(st.sampled_from(MARKS), min_size=1, max_size=4))
def test_a_lexicon_phrase_followed_by_punctuation_never_raises(phrase, marks):
    text = phrase + "".join(marks)
    for expect in EXPECTS:
        classify(text, "ja", expect=expect)
    is_help_phrase(text, "ja")


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        ("頭が痛い。", "health", Intent.UNWELL),
        ("頭痛いよぉ…", "health", Intent.UNWELL),
        ("痛い〜", "health", Intent.UNWELL),
        ("熱がある！", "health", Intent.UNWELL),
        ("具合悪い、助けて。", "safety", Intent.HELP),
        ("腰が痛うて動けん…", "safety", Intent.HELP),
        ("停電しとる。", "safety", Intent.TROUBLE),
    ],
)
def test_complaints_ending_in_punctuation_are_read_not_raised(text, expect, intent):
    assert classify(text, "ja", expect=expect).intent == intent
    # punctuation folds away: the same answer without it means the same
    assert (
        classify(text, "ja", expect=expect).intent
        == classify(fold(text), "ja", expect=expect).intent
    )


@pytest.mark.parametrize("text", ["風邪ひいとったけど治った", "停電もすぐ直った"])
@pytest.mark.parametrize("ending", ["", "。", "…", "！", "。。"])
def test_a_resolved_complaint_stays_resolved_whatever_ends_the_sentence(text, ending):
    c = classify(text + ending, "ja", expect="health")
    assert c.intent not in (Intent.UNWELL, Intent.TROUBLE)


def test_punctuation_tokens_are_zero_width_and_keep_their_clause():
    text = "具合悪い、助けて。"
    analysis = analyse(text, fold)
    assert analysis is not None
    folded = fold(text)
    assert len(analysis.clause_of) == len(folded)
    marks = [t for t in analysis.tokens if t.start == t.end]
    assert [t.start for t in marks] == [4, len(folded)]  # 、 inside, 。 past the last char
    assert marks[0].clause == 0  # 、 ends the first clause
    assert marks[-1].clause == analysis.clause_at(len(folded) - 1)
    assert analysis.clause_at(len(folded)) == analysis.tokens[-1].clause
    for t in analysis.tokens:
        if t.end > t.start:
            assert all(analysis.clause_of[i] == t.clause for i in range(t.start, t.end))
