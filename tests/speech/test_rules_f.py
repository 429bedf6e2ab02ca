"""Rules and vocabulary classes added after held-out batch F (its misses classified by kind,
docs/benchmarks.md). Every sentence here is written for these tests, with other words and
regions than the batch; each rule also has a property test over inputs it was not made from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech import morphology
from speech.evaluation import load_labelled
from speech.intents import classify, drop_lengthening, fold, is_help_phrase

DATA = Path(__file__).parent / "data"


def intent_of(text: str, expect: str = "health") -> Intent:
    return classify(text, "ja", expect=expect).intent


# --- known wrong readings, fixed as classes ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        ("娘と電話で話した", "yesno", Intent.YES),
        ("娘と電話で話した", "health", Intent.FINE),
        ("昨日、息子から電話がありました", "yesno", Intent.YES),
        ("孫が電話してくれたよ", "yesno", Intent.YES),
        ("妹と話したけん", "yesno", Intent.YES),
    ],
)
def test_a_call_told_in_the_past_is_a_story_not_a_request(text, expect, intent):
    assert intent_of(text, expect) == intent


@pytest.mark.parametrize(
    "text",
    ["息子に電話してほしい", "娘と話したいなあ", "電話してくれたら助かる", "孫から電話がほしい"],
)
def test_a_wish_or_request_for_a_call_stays_a_callback(text):
    assert intent_of(text) == Intent.CALLBACK


@pytest.mark.parametrize(
    "text",
    [
        "胸の痛みは治まった",
        "胸の締め付けはもう取れた",
        "息苦しかったけど、今は治まった",
        "胸が痛かったけど、さっき収まりました",
        "さっき胸が締め付けられたけど、今は落ち着いた",
        "ろれつが回らんかったけど、もう治った",
    ],
)
def test_an_emergency_sign_that_stopped_is_unwell_not_fine_or_help(text):
    # safety first: not `fine` (it was there) and not an alarm (it stopped): followed up
    c = classify(text, "ja", expect="health")
    assert c.intent == Intent.UNWELL
    assert not is_help_phrase(text)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("胸が痛い", Intent.HELP),
        ("胸の痛みはない", Intent.FINE),
        ("腰の痛みは治まった", Intent.FINE),
    ],
)
def test_stopped_sign_counter_examples(text, intent):
    assert intent_of(text) == intent


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        ("治ったー", "health", Intent.FINE),
        ("熱は下がったー", "health", Intent.FINE),
        ("風邪はもう治ったよー", "health", Intent.FINE),
        ("元気だよー、心配いらんよー", "health", Intent.FINE),
        ("えー?", "health", Intent.REPEAT),
        ("主人が倒れとー", "safety", Intent.HELP),
        ("息がぜーぜー", "health", Intent.UNWELL),
        ("レスキュー", "safety", Intent.HELP),
    ],
)
def test_a_lengthened_last_vowel_says_nothing(text, expect, intent):
    assert intent_of(text, expect) == intent


def test_drop_lengthening_keeps_katakana_words():
    assert drop_lengthening("治ったー") == "治った"
    assert drop_lengthening("そうだよー、元気") == "そうだよ、元気"
    assert drop_lengthening("コーヒー") == "コーヒー"
    assert drop_lengthening("ストーブがつかん") == "ストーブがつかん"


# Every labelled answer of the tuned sets, with its last vowel lengthened (before any final
# punctuation): the intent must not change. Input the rule was not made from. Untuned
# held-out batches are left out: they stay unread until their first pass is recorded.
_TUNED = [
    DATA / "heldout" / batch["file"]
    for batch in tomllib.loads((DATA / "heldout" / "manifest.toml").read_text("utf-8"))["batch"]
    if "tuned_since" in batch
]
_LABELLED = [
    (item.text, item.expect)
    for path in [DATA / "ja_labelled.tsv", *_TUNED]
    for item in load_labelled(path)
]
_TAIL_RE = re.compile(r"^(.*?)([?？!！、。…\s]*)$")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_LABELLED), st.integers(min_value=1, max_value=3))
def test_property_lengthening_the_last_vowel_never_changes_the_intent(item, marks):
    text, expect = item
    head, tail = _TAIL_RE.match(text).groups()
    if not head or not re.search(r"[\u3041-\u309f\u4e00-\u9fff]$", head):
        return  # nothing to lengthen (ends in katakana, a digit or punctuation only)
    assert intent_of(head + "ー" * marks + tail, expect) == intent_of(text, expect)


# --- dialect negatives found by morphology ------------------------------------------------------


_TE_VERBS = [
    "壊れて",
    "割れて",
    "落ちて",
    "変わって",
    "濡れて",
    "汚れて",
    "腫れて",
    "休んで",
    "曲がって",
]
_NEGATIVE_POLARITY = ["なんも", "何も", "どこも", "全然", "ちっとも", "誰も"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_TE_VERBS), st.sampled_from(_NEGATIVE_POLARITY))
def test_property_eastern_nee_is_a_negative_only_after_a_negative_polarity_word(verb, npi):
    # 何も壊れてねえ = 壊れていない; 壊れてねえ alone may be a sigh (壊れてね, ええ)
    negated = morphology.analyse(f"{npi}{verb}ねえ", fold)
    plain = morphology.analyse(f"{verb}ねえ", fold)
    assert negated is not None and plain is not None
    assert any(t.is_negative for t in negated.tokens)
    assert not any(t.is_negative for t in plain.tokens)


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        ("大丈夫、どこも壊れてねえ", "safety", Intent.FINE),
        ("膝が腫れてねえ", "health", Intent.UNWELL),  # a sigh, not a negative
        ("ゆうべは眠れやんかった", "yesno", Intent.NO),  # Ise/Kishu やん
        ("水道が出んもんで", "safety", Intent.TROUBLE),  # fused 出ん before もんで
        ("膝が痛うて歩けん", "health", Intent.UNWELL),  # fused 歩けん at the end
        ("ゆうべは寝られざった", "yesno", Intent.NO),  # Tosa ざった
        ("けがなかよ", "safety", Intent.FINE),
    ],
)
def test_dialect_negatives(text, expect, intent):
    assert intent_of(text, expect) == intent


def test_dialect_negative_tokens():
    def negatives(text: str) -> list[str]:
        analysis = morphology.analyse(text, fold)
        assert analysis is not None
        return [t.surface for t in analysis.tokens if t.is_negative]

    assert negatives("足が歩けやん") == ["やん"]
    assert negatives("ええやん") == []
    assert negatives("行くやん") == []
    fused = morphology.analyse("水が出んもんで", fold)
    assert fused is not None and any(t.fused_negative for t in fused.tokens)
    explanatory = morphology.analyse("水が出んだよ", fold)  # 出るんだ or 出ないんだ: not fused
    assert explanatory is not None and not any(t.fused_negative for t in explanatory.tokens)


def test_a_lengthened_one_kanji_noun_keeps_its_lemma():
    analysis = morphology.analyse("目ぇ回る", fold)
    assert analysis is not None
    assert analysis.tokens[0].lemma == "目"
    assert intent_of("朝から目ぇ回っとる") == Intent.UNWELL


# --- lemma entries skip what stands between their words ---------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(
        ["ぎょうさん", "いっぱい", "たくさん", "朝から", "さっきから", "だいぶ", "ずっと"]
    )
)
def test_property_words_between_the_lemmas_of_an_entry_are_skipped(between):
    assert intent_of(f"血が{between}出て止まらん", "safety") == Intent.HELP


def test_bleeding_that_stopped_is_not_help():
    assert intent_of("血が出たけどすぐ止まった", "safety") != Intent.HELP


# --- warning signs of one family add up ---------------------------------------------------------

_ONE_SIDE = [
    "右の手がしびれて",
    "左の足を引きずって",
    "右足がもつれて",
    "左手がしびれて",
    "右の腕が重たくて",
]
_CANNOT = ["うまく歩けん", "字が書けない", "手が上がらん", "歩けません"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_ONE_SIDE), st.sampled_from(_CANNOT))
def test_property_two_stroke_signs_together_are_help(side, cannot):
    assert intent_of(side) == Intent.UNWELL
    assert intent_of(cannot) == Intent.UNWELL
    assert intent_of(side + cannot) == Intent.HELP


def test_one_sign_and_another_complaint_stay_unwell():
    assert intent_of("膝が痛うて歩けん") == Intent.UNWELL
    assert intent_of("右の足を引きずるようになった") == Intent.UNWELL


# --- a help word partly covered by a reassurance -------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["胸の痛み", "胸の苦しさ", "胸の締め付け", "息苦しさ", "胸の圧迫感"]),
    st.sampled_from(
        ["は治まった", "はもう治まった", "は取れた", "はおさまった", "はすっかり引いた"]
    ),
)
def test_property_a_stopped_emergency_sign_is_never_fine_nor_help(sign, stopped):
    assert intent_of(sign + stopped) == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["娘", "息子", "孫", "嫁", "家族", "友達"]),
    st.sampled_from(["と電話で話した", "から電話があった", "に電話した", "と話しました"]),
    st.sampled_from(["yesno", "health"]),
)
def test_property_a_call_told_in_the_past_is_never_a_callback(person, told, expect):
    intent = intent_of(person + told, expect)
    assert intent != Intent.CALLBACK
    assert intent == (Intent.YES if expect == "yesno" else Intent.FINE)


# --- vocabulary classes (new sentences, other regions) -------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        # no will or appetite; tiredness, sleepiness, fear in dialect
        ("散歩に行く気にならんのよ", "health", Intent.UNWELL),
        ("料理を作る気がせえへん", "health", Intent.UNWELL),
        ("風呂に入る気もしねえ", "yesno", Intent.UNWELL),
        ("なーんもしたくねえ", "health", Intent.UNWELL),
        ("飲みとうない", "yesno", Intent.UNWELL),
        ("眠とうてしょうがない", "health", Intent.UNWELL),
        ("もうくたびれてしもうた", "health", Intent.UNWELL),
        ("夜が来るのがえずい", "safety", Intent.UNWELL),
        ("夜中に何度もトイレに起きる", "health", Intent.UNWELL),
        # recogniser slip 居たい after a body part
        ("腰が居たい", "health", Intent.UNWELL),
        # よう + negative = cannot
        ("坂がよう上がらん", "health", Intent.UNWELL),
        ("転んでよう立たん", "safety", Intent.HELP),
        ("手首をひねってしもうた", "health", Intent.UNWELL),
        ("足をくじいた", "health", Intent.UNWELL),
        # someone collapsed, trapped, disoriented; stroke signs in dialect
        ("主人が倒れて動かない", "safety", Intent.HELP),
        ("じいちゃんが倒れちょっ", "safety", Intent.HELP),
        ("屋根が潰れて", "safety", Intent.HELP),
        ("隣の人が出てこられん", "safety", Intent.HELP),
        ("母が今がいつか分からんようになって", "health", Intent.HELP),
        ("息っこできねえ", "health", Intent.HELP),
        ("食べたけど口の左っかたから汁がこぼれる", "yesno", Intent.HELP),
        # water or snow coming in
        ("泥水がじわじわ入ってきとる", "safety", Intent.HELP),
        ("雪がどんどん入り込んでくる", "safety", Intent.HELP),
        # troubles: doors, appliances, outages, supplies, access
        ("雨戸が閉まらん", "safety", Intent.TROUBLE),
        ("鍵がかからねえ", "safety", Intent.TROUBLE),
        ("コンロがつかへん", "yesno", Intent.TROUBLE),
        ("電気が止まってしもうた", "safety", Intent.TROUBLE),
        ("雪に埋もれて車が出せん", "safety", Intent.TROUBLE),
        ("駅まで行けんようになった", "safety", Intent.TROUBLE),
        ("病院さ行げねえ", "health", Intent.TROUBLE),
        ("水道の出らん", "safety", Intent.TROUBLE),
        ("米がなぐなった", "safety", Intent.TROUBLE),
        ("飲み水がもうない", "safety", Intent.TROUBLE),
        ("明日の分がない", "yesno", Intent.TROUBLE),
        ("乗せてくれる人がおらん", "health", Intent.TROUBLE),
        ("電車が一時間に一本しかない", "health", Intent.TROUBLE),
        # a disaster word heard as a report is not an emergency
        ("火事のサイレンが鳴ったけど、うちは何ともない", "safety", Intent.FINE),
        ("津波の警報が出た、家に水が入ってきた", "safety", Intent.HELP),
        # usual / recovered / repeat in dialect
        ("いつもん通りですたい", "health", Intent.USUAL),
        ("先週は熱があったけど、もうすっかり良くなりました", "health", Intent.FINE),
        ("腰の痛いのも楽になった", "health", Intent.FINE),
        ("なんち言いよった?", "yesno", Intent.REPEAT),
        ("え、なんな?", "yesno", Intent.REPEAT),
        ("いいや、まだ", "yesno", Intent.NO),
    ],
)
def test_vocabulary_added_from_batch_f_classes(text, expect, intent):
    assert intent_of(text, expect) == intent


@pytest.mark.parametrize(
    ("text", "expect", "wrong"),
    [
        ("雨の音は気にならんよ", "health", Intent.UNWELL),
        ("ずっと家に居たい", "health", Intent.UNWELL),
        ("よう歩いとる", "health", Intent.UNWELL),
        ("水は入ってこんかった", "safety", Intent.HELP),
        ("電気は止まっとらん", "safety", Intent.TROUBLE),
        ("バスがいつ来るか分からん", "safety", Intent.REPEAT),  # a question, not "say again"
        ("バスがいつ来るか分からん", "safety", Intent.HELP),
        ("どうしたらいいや", "yesno", Intent.NO),  # いや inside いいや is not "no"
    ],
)
def test_batch_f_classes_counter_examples(text, expect, wrong):
    assert intent_of(text, expect) != wrong


@pytest.mark.parametrize(
    ("text", "is_help"),
    [
        ("泥水がじわじわ入ってきとる", True),
        ("主人が倒れて動かない", True),
        ("左手がしびれて字が書けん", True),
        ("津波の放送があったけど、うちは高台で無事", False),
        ("胸の痛みは治まった", False),
        ("水は入ってこんかった", False),
    ],
)
def test_help_spotter_agrees_with_batch_f_classes(text, is_help):
    assert is_help_phrase(text) is is_help


# --- a complaint feared or avoided is not one the resident has --------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["膝が痛く", "腰が悪く", "トイレが近く", "足がだるく", "お腹が痛く"]),
    st.sampled_from(["なるのが嫌で", "なるのが心配で", "なるんが怖いけえ", "なるのやだから"]),
)
def test_property_a_feared_complaint_is_not_a_complaint(complaint, feared):
    assert intent_of(complaint + "て") == Intent.UNWELL
    assert intent_of(complaint + feared, "yesno") != Intent.UNWELL


def test_a_feared_complaint_with_a_present_one_stays_unwell():
    assert intent_of("膝が痛くなるのが心配やけど、今も痛い") == Intent.UNWELL
    assert intent_of("風邪をひくのが心配で") != Intent.UNWELL
