"""Rules and vocabulary classes added after held-out batches AF-AK (their misses read and
grouped by kind, docs/benchmarks.md, "AF-AK tuned"). Every sentence here is written for these
tests, with other words and regions than the batches; each rule also has a property test over
inputs it was not made from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech.intents import is_help_phrase
from tests.speech.rule_probes import CALM, SERIOUS, classified, heard

# --- emergency signs in other words ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("じいちゃんが台所で倒れて 揺すっても目を開けん", "safety"),
        ("母が声かけにも答えず ぐったりしとる", "safety"),
        ("転んで 膝から血がだらだら出て止まらんのよ", "health"),
        ("庭で転んでしもうて 立ち上がられんのです", "health"),
        ("朝から息がようできひん", "health"),
        ("テレビの字がふたつに見えるんよ", "health"),
        ("くぢがもつれでしゃべりにぐい", "health"),
        ("胸を押しつぶされるような痛みがある", "health"),
        ("避難所まで一人でたどり着けんと思う", "safety"),
        ("床下まで水が来とる", "safety"),
        ("崩れた物置の下から父ちゃんが出てこられん", "safety"),
    ],
)
def test_emergency_signs_in_other_words_are_help(text, expect):
    assert heard(text, expect) == Intent.HELP, classified(text, expect)
    assert is_help_phrase(text, "ja")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["避難所に行きたいけど", "高台さ行ぎてえども", "避難所に逃げたいけど"]),
    st.sampled_from(["車がないのよ", "歩きじゃ無理じゃ", "避難所まで遠い"]),
)
def test_property_wanting_to_evacuate_and_an_obstacle_are_help(wish, obstacle):
    text = f"{wish} {obstacle}"
    assert classified(text, "safety").intent == Intent.HELP, classified(text, "safety")


def test_one_evacuation_obstacle_alone_stays_a_trouble():
    assert heard("避難所に行きたいけど 道がわからんのよ", "safety") == Intent.TROUBLE
    assert heard("車がないんじゃ", "safety") == Intent.TROUBLE


def test_a_negated_or_told_sign_is_no_call():
    assert heard("胸も苦しゅうない") == Intent.FINE
    assert not is_help_phrase("言葉もうまく出てこんことはない 元気よ", "ja")
    assert heard("床下に水が入ったけど もう引いた", "safety") != Intent.HELP


# --- someone else's emergency or complaint is news -------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "駅の方は水が入ってきとるけど うちは高台やけん大丈夫",
        "妹のとこが床上まで水が来たって聞いたけど うちはなんともない",
        "川があふれるって言いよったけど うちは何ともないです",
    ],
)
def test_an_emergency_elsewhere_with_an_own_verdict_is_no_alarm(text):
    c = classified(text, "safety")
    assert c.intent != Intent.HELP, c
    assert not is_help_phrase(text, "ja")


@pytest.mark.parametrize(
    "text",
    [
        "となりが火事でな 消防車が来とったけど もう消えた わしは無事じゃ",
        "お隣さんで小火があったみたいやけど うちは何ともあらへん",
        "夜中に近所で救急車が来とったけど 私は元気にしとります",
        "向かいの家が床上まで浸かったげな うちは大丈夫やった",
    ],
)
def test_the_neighbours_emergency_with_an_own_verdict_is_no_alarm(text):
    # The neighbours are someone else's place (session 10, tried as a resident would).
    assert classified(text, "safety").intent in CALM, classified(text, "safety")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["隣が", "お隣さんで", "近所で", "向かいの家が"]),
    st.sampled_from(["火事で", "燃えとって", "水が入ってきて"]),
    st.sampled_from(["助けて", "煙がこっちまで来とる", "うちにも火が移りそうや", ""]),
)
def test_property_the_neighbours_emergency_without_an_own_verdict_stays_help(place, event, tail):
    text = f"{place}{event} {tail}".strip()
    assert classified(text, "safety").intent == Intent.HELP, classified(text, "safety")


def test_an_emergency_at_ones_own_place_stays_help():
    assert heard("うちの方は水が入ってきとる", "safety") == Intent.HELP
    assert heard("隣の家が浸水しとる 大丈夫かな", "safety") == Intent.HELP  # no verdict


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["町の方は", "娘のとこが", "兄さんの家が"]),
    st.sampled_from(["浸水しとる", "水が入ってきたらしい", "床上まで水が来た"]),
    st.sampled_from(["", "けど"]),
)
def test_property_elsewhere_without_a_verdict_stays_help(place, event, tail):
    text = f"{place}{event}{tail}"
    assert classified(text, "safety").intent == Intent.HELP, classified(text, "safety")


@pytest.mark.parametrize(
    "text",
    [
        "わしは元気じゃ 家内が腰痛えって言うとるけどな",
        "息子が風邪ひいて寝とるけど 私はなんともないです",
        "隣のじいさんが入院したけど おらは元気だ",
    ],
)
def test_someone_elses_complaint_beside_a_verdict_is_fine(text):
    assert heard(text) == Intent.FINE, classified(text)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["孫が来て", "娘が帰ってきて", "主人と出かけて"]),
    st.sampled_from(["腰が痛い", "だるい", "頭が痛うて", "熱がある"]),
)
def test_property_a_story_about_others_never_hides_the_residents_symptom(story, symptom):
    text = f"元気やけど {story} {symptom}"
    assert heard(text) in SERIOUS, classified(text)


# --- usual, callback, repeat, over now ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ようもなく悪くもなく まあまあじゃ",
        "良くもなく悪くもなく",
        "よかともなかし 悪かともなかです",
    ],
)
def test_neither_good_nor_bad_in_dialect_is_usual(text):
    assert heard(text) == Intent.USUAL, classified(text)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["よくもなく", "良ぐもねえし"]), st.sampled_from(["腰が痛い", "熱がある"]))
def test_property_not_good_with_a_symptom_is_never_calm(half, symptom):
    text = f"{half} {symptom}"
    assert heard(text) not in CALM, classified(text)


@pytest.mark.parametrize(
    "text",
    [
        "誰か電話くれへんかな",
        "息子に電話かけてくんねえか",
        "役場の人に電話よごしてもらえんべか",
        "誰かわしの話聞いてくれんかのう",
    ],
)
def test_a_call_asked_in_any_request_form_is_callback(text):
    assert heard(text) == Intent.CALLBACK, classified(text)


def test_a_call_told_as_not_made_is_no_request():
    assert heard("娘は電話くれへんかった") != Intent.CALLBACK


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("何を食べたかって?", "yesno"),
        ("いま何をお尋ねでしたか", "yesno"),
        ("なにを言うとられたんか", "health"),
        ("なんやて? もういっぺん", "yesno"),
    ],
)
def test_the_question_echoed_back_is_repeat(text, expect):
    assert heard(text, expect) == Intent.REPEAT, classified(text, expect)


def test_a_trouble_over_now_is_still_asked_again():
    """The convention of test_rules.py (a trouble over is asked again) is kept, although AG
    and AJ label 停電したけど もう点いた fine (docs/benchmarks.md, AF-AK tuned)."""
    assert heard("停電したけど もう電気点いたわ", "safety") == Intent.UNKNOWN


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["停電したけど もう点いた", "熱が出たけど もう下がった"]),
    st.sampled_from(["腰が痛い", "水が出ん", "胸が苦しい"]),
)
def test_property_something_still_wrong_is_never_over(over, still):
    text = f"{over} {still}"
    assert heard(text, "safety") not in CALM, classified(text, "safety")


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        ("寝られんかった 孫の世話でもう限界じゃ", "yesno", Intent.UNWELL),
        ("食べとらん 何も食べる気にならんのよ", "yesno", Intent.UNWELL),
        ("食べたけど 半分しか食べられんかった", "yesno", Intent.UNWELL),
        ("大雨やったけど なんてことなかったで", "safety", Intent.FINE),
    ],
)
def test_a_plain_answer_with_a_complaint_or_a_harmless_event(text, expect, intent):
    assert heard(text, expect) == intent, classified(text, expect)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("ええことも悪いこともおまへん いつも通りや", Intent.USUAL),
        ("よかとも悪かとも言えんばい", Intent.USUAL),
        ("すねがむぐんで 長靴が入らねえ", Intent.UNWELL),
    ],
)
def test_neither_named_together_and_swelling_in_other_words(text, intent):
    assert heard(text) == intent, classified(text)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("飲んどらん 切れてしもうた 薬局まで送ってもらえんやろか", "yesno"),
        ("雪で薬を取りに行けんのよ", "safety"),
        ("雷のあと 電話が通じんようになった", "safety"),
        ("医者に行かんといけんけど 足がないけん", "health"),
    ],
)
def test_errands_made_impossible_are_troubles(text, expect):
    assert heard(text, expect) == Intent.TROUBLE, classified(text, expect)


def test_legs_that_do_not_move_are_not_no_transport():
    assert heard("足が動かん") == Intent.HELP
    assert heard("足がないと困る") != Intent.HELP


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("重い物持ってぎっくり腰になってしもた", Intent.UNWELL),
        ("胃がもたれて 昼も食べとうない", Intent.UNWELL),
        ("この頃は腰がぎしぎしして かなわん", Intent.UNWELL),
        ("介護で わしのほうが参ってしもうた", Intent.UNWELL),
        ("胃ももたれないし 元気じゃ", Intent.FINE),
        ("何ちゃあない 元気しちゅう", Intent.FINE),
    ],
)
def test_everyday_complaints_in_other_words(text, intent):
    assert heard(text) == intent, classified(text)


def test_a_creaking_roof_is_no_body_complaint():
    assert heard("雪で屋根がみしみしいうとる 誰か雪下ろし頼めんかね", "safety") != Intent.UNWELL
