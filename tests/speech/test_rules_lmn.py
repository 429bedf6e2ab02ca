"""Rules and vocabulary classes added after held-out batches L, M and N (their misses read and
classified by kind, docs/benchmarks.md). Every sentence here is written for these tests, with
other words and regions than the batches; each rule also has a property test over inputs it
was not made from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech.intents import is_help_phrase
from tests.speech.rule_probes import CALM, SERIOUS, classified, heard

# --- nothing the matter, in more dialect forms ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("なんちゃないき 心配せんとき", "health"),
        ("何ちゃなかったぞな", "safety"),
        ("なんとんなかばい", "safety"),
        ("どうもないで", "health"),
        ("怪我ひとつしとらんよ", "safety"),
        ("心配ねえっす", "safety"),
        ("気にせんでええよ 元気や", "health"),
        ("物ひとつ倒れなかったよ", "safety"),
        ("何も割れんかったわ", "safety"),
        ("夜中やったけど気づかんかったわ", "safety"),
        ("寝てたから分からなかったよ", "safety"),
        ("屋根も飛ばされんかったし大丈夫", "safety"),
        ("目覚めがええわ 今朝は", "health"),
        ("晴れ晴れした気分やで", "health"),
    ],
)
def test_more_reassurance_forms_are_fine(text, expect):
    assert heard(text, expect) == Intent.FINE, classified(text, expect)


@pytest.mark.parametrize(
    "text",
    ["いっつもと一緒や", "毎日同じやなあ", "良くも悪くもないわ", "ええこともわるいこともないわ"],
)
def test_always_the_same_and_neither_good_nor_bad_are_usual(text):
    assert heard(text) == Intent.USUAL, classified(text)


NEW_REASSURANCES = [
    "なんちゃないけど",
    "どうもないけど",
    "怪我ひとつないけど",
    "心配ねえって言いてえけど",
    "揺れたけど皿が一枚割れたぐらいで",
    "変わったことはないけど",
    "気がつかなかったけど",
    "屋根も飛ばされなかったけど",
]
SYMPTOMS = [
    "腰が痛うてのう",
    "頭がふらふらする",
    "胸が苦しい",
    "熱が三十八度ある",
    "足の先がしびれる",
]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(NEW_REASSURANCES),
    st.sampled_from(SYMPTOMS),
    st.sampled_from(["health", "safety"]),
)
def test_property_a_new_reassurance_never_hides_a_symptom(reassurance, symptom, expect):
    assert heard(f"{reassurance} {symptom}", expect) in SERIOUS


# --- illness told by a doctor or a reading; dialect symptoms -------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("熱測ったら三十九度あったんよ", "health"),
        ("血圧が百六十もあって", "health"),
        ("先生に肺炎や言われてな", "health"),
        ("飲んだけど 計ったら百九十あってなあ", "yesno"),
        ("脱水やて言われた", "health"),
        ("腕にギプスしとるんよ", "health"),
        ("腰っこやめでな", "health"),
        ("朝から目ぇ回っとる", "health"),
        ("背中がぞくぞくするんや", "health"),
        ("肩が張っとってなあ", "health"),
        ("胃のあたりが重たいのよ", "health"),
        ("ご飯が喉を通らんのよ", "health"),
        ("膝に水が溜まっとる", "health"),
        ("寝れんかった 腹が", "yesno"),
        ("食べたけど 胃のあたりがむかむかする", "yesno"),
    ],
)
def test_complaints_of_batch_lmn_kinds_are_unwell(text, expect):
    assert heard(text, expect) == Intent.UNWELL, classified(text, expect)


def test_the_numbness_after_i_do_not_know_is_kept():
    # the known gap: ようわからんけど + a tingling foot was read as "say it again"
    for text in (
        "ようわからんけど足の先がじんじんする",
        "よう分からんけど指の先がぴりぴりする",
        "ようわからんけど、足の裏がびりびりして",
    ):
        assert heard(text) == Intent.UNWELL, classified(text)


PLACES = ["足の先", "手の甲", "足の裏", "胃のあたり", "指の先"]
SOUNDS = ["じんじん", "ぴりぴり", "びりびり", "ちくちく"]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["ようわからんけど", "飲んだけど", "元気やけど", ""]),
    st.sampled_from(PLACES),
    st.sampled_from(SOUNDS),
)
def test_property_a_sensation_on_a_place_of_the_body_is_a_complaint(before, place, sound):
    assert heard(f"{before}{place}が{sound}する", "yesno") == Intent.UNWELL


def test_a_partial_recovery_keeps_the_complaint_a_full_one_ends_it():
    assert heard("めまいがして 少し落ち着いた") == Intent.UNWELL
    assert heard("熱はちょっと下がったけど") == Intent.UNWELL
    assert heard("ちょっと楽になったけど まだ頭が痛い") == Intent.UNWELL
    assert heard("熱が出とったけど すっかり下がった") not in SERIOUS


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["めまいがして", "熱が出て", "腰が痛うて", "咳が出て"]),
    st.sampled_from(["少し", "ちょっと", "ちいと", "ちったあ", "多少"]),
    st.sampled_from(["落ち着いた", "治まった", "楽になった", "ようなった"]),
)
def test_property_a_partial_recovery_is_never_calm(complaint, little, recovery):
    assert heard(f"{complaint} {little}{recovery}") not in CALM


# --- emergencies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("胸っこ痛くてたまらね", "health"),
        ("顔の右側がしびれて動かしにくい", "health"),
        ("口の端が垂れてきとる", "health"),
        ("息がしづらくなってきた", "health"),
        ("酸素ボンベが切れそうで", "safety"),
        ("脚立から落ちて動げね", "safety"),
        ("火が消えんのよ 台所", "safety"),
        ("部屋の中まで水が入ってきよる", "safety"),
        ("血がいっぱい出て止まらへん", "safety"),
        ("知らない人がずっとうろうろしとる", "safety"),
        ("外に出られへん 戸が開かん", "safety"),
        ("避難所は遠いし 車もないし", "safety"),
        ("車もないし 避難所も遠い", "safety"),
        # a dragging leg and numbness round the mouth add up (stroke signs)
        ("右足を引きずるし 口の周りがしびれとる", "health"),
    ],
)
def test_emergency_signs_of_batch_lmn_kinds_are_help(text, expect):
    assert heard(text, expect) == Intent.HELP, classified(text, expect)
    assert is_help_phrase(text)


def test_one_evacuation_obstacle_is_a_trouble_two_are_help():
    assert heard("車がないから 買い物に行けん") == Intent.TROUBLE
    assert heard("避難所は遠いけど 車で行ける", "safety") == Intent.TROUBLE
    assert heard("避難所は遠いし 車もないし", "safety") == Intent.HELP


# --- context: shut in + a chore request, hearsay + own verdict, a refusal, a hedge ----------

SHUT_IN = ["雪で玄関から出られん", "雪がすごくて家から出られへん", "雪で戸口から出られねえ"]
CHORES = ["誰か除雪してくれんかね", "誰か雪かきに来てくれんかな", "誰か雪はねしてくんねえべか"]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SHUT_IN), st.sampled_from(CHORES))
def test_property_shut_in_by_snow_with_a_chore_request_is_a_trouble(shut_in, chore):
    assert heard(f"{shut_in} {chore}", "safety") == Intent.TROUBLE


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(SHUT_IN),
    st.sampled_from(["胸が苦しい", "転んで動けん", "息ができん"]),
    st.sampled_from(CHORES),
)
def test_property_shut_in_with_an_emergency_stays_help(shut_in, emergency, chore):
    assert heard(f"{shut_in} {emergency} {chore}", "safety") == Intent.HELP


def test_shut_in_without_a_chore_request_stays_help():
    for text in ("雪で出られん", "外に出られへん 戸が開かん", "戸が開かんで 出られへん"):
        assert heard(text, "safety") == Intent.HELP, classified(text, "safety")


NEWS = ["川があふれたらしいって聞いた", "隣が火事やって聞いた", "裏の堤防が切れたって聞いた"]
VERDICTS = ["うちはなんともない", "こっちは大丈夫や", "うちは高台やけん心配ねえ"]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(NEWS), st.sampled_from(VERDICTS))
def test_property_hearsay_with_a_verdict_about_home_is_fine(news, verdict):
    assert heard(f"{news}けど {verdict}", "safety") == Intent.FINE


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(NEWS),
    st.sampled_from(["避難所まで行けん", "煙がこっちに来とる", "水が家の中に入ってきた"]),
)
def test_property_hearsay_without_a_verdict_keeps_the_emergency(news, emergency):
    assert heard(f"{news} {emergency}", "safety") == Intent.HELP


def test_forbidding_the_ambulance_is_a_refusal_asking_for_it_is_not():
    assert heard("救急車なんか呼ぶなよ ちょっと擦りむいただけだ", "safety") == Intent.UNWELL
    assert not is_help_phrase("救急車呼ぶな 大げさや")
    assert is_help_phrase("救急車を呼んでな")
    assert is_help_phrase("救急車呼んでくれ")
    assert is_help_phrase("助けて 呼ぶな言われても")


def test_a_hedge_is_explained_by_a_named_trouble_not_by_nothing():
    assert heard("一応大丈夫やけど 停電しとるんよ", "safety") == Intent.TROUBLE
    assert heard("大丈夫と思うけど 水道が出えへんのよ", "safety") == Intent.TROUBLE
    assert heard("大丈夫と思うけど", "safety") == Intent.UNWELL
    assert heard("大丈夫やと思うけど 頭が痛い") == Intent.UNWELL


# --- troubles, callbacks, asking back, yes and no ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("誰か雪かきしてくれんかな", "safety"),
        ("誰か片付け手伝うてくれんかな", "safety"),
        ("灯油持ってきてくれんね", "health"),
        ("薬を取りに行ってもらえんやろか", "health"),
        ("雨戸が歪んで閉まらんのよ", "safety"),
        ("天井に穴があいとる", "safety"),
        ("雨漏りしとるんよ", "safety"),
        ("裏の崖が崩れてきた 家は無事", "safety"),
        ("水道の水が濁っとる", "safety"),
        ("停電で冷蔵庫のもんがあかんようになる", "safety"),
    ],
)
def test_troubles_of_batch_lmn_kinds(text, expect):
    assert heard(text, expect) == Intent.TROUBLE, classified(text, expect)


@pytest.mark.parametrize(
    "text",
    [
        "息子に電話するように言うてもらえんか",
        "電話よこすように伝えてくれ",
        "電話かけてくれる人おらんかな",
        "お電話をいただけませんか",
        "誰かとしゃべりたいわ",
        "寂しくて誰かと話がしたい",
        "元気やけど 電話よこすように息子に言うて",
    ],
)
def test_callbacks_of_batch_lmn_kinds(text):
    assert heard(text) == Intent.CALLBACK, classified(text)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["寂しくて誰かと話がしたい", "誰かとしゃべりたいわ", "電話よこすように言うて"]),
    st.sampled_from(["胸が苦しい", "熱が三十九度ある", "腰が痛い"]),
)
def test_property_a_wish_to_talk_never_hides_a_complaint(wish, complaint):
    assert heard(f"{wish} {complaint}") in SERIOUS


@pytest.mark.parametrize("text", ["もう一遍頼むわ", "いっぺん言うてみて", "なに 聞ごえね"])
def test_asking_back_is_repeat(text):
    assert heard(text) == Intent.REPEAT, classified(text)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("水で流し込んだよ", Intent.YES),
        ("いただいたよ", Intent.YES),
        ("さっき飲んだの 昼の後で", Intent.YES),
        ("食べたない", Intent.YES),  # Yamagata ない after a past form is a particle
        ("雪下ろしの夢を見てな よう寝た", Intent.YES),
        ("飲まなんだわ", Intent.NO),
        ("まんだだよ", Intent.NO),
        ("棚に置いたまんまや", Intent.NO),
        ("まだや", Intent.NO),
        ("食べたくない", Intent.UNWELL),
    ],
)
def test_yes_and_no_of_batch_lmn_kinds(text, intent):
    assert heard(text, "yesno") == intent, classified(text, "yesno")


@pytest.mark.parametrize(
    ("text", "intent", "expect"),
    [
        ("元気だよ 犬と散歩して帰ってきた", Intent.FINE, "health"),
        ("大丈夫 船は浜に上げといたけん", Intent.FINE, "safety"),
        ("食べたよ 鮎の甘露煮", Intent.YES, "yesno"),
        ("大丈夫だ 娘のほうが心配だわ", Intent.FINE, "safety"),
        ("揺れたけど 本が一冊落ちただけや", Intent.FINE, "safety"),
        ("揺れたけど 茶碗が一個割れたぐらいだよ", Intent.FINE, "safety"),
        ("平気だよ 一晩中ラジオ聞いとった", Intent.FINE, "safety"),
        ("まだ元気や", Intent.FINE, "health"),
    ],
)
def test_everyday_talk_of_batch_lmn_kinds_explains_itself(text, intent, expect):
    assert heard(text, expect) == intent, classified(text, expect)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["揺れたけど", "台風やったけど", "風は強かったけど"]),
    st.sampled_from(["皿が一枚割れただけや", "植木鉢が転がっただけや", "湯呑み一個だけや"]),
    st.sampled_from(["足を切った", "腰を打って痛い", "頭を打った", "血が止まらん"]),
)
def test_property_only_a_small_thing_never_hides_an_injury(event, small, injury):
    assert heard(f"{event} {small} {injury}", "safety") in SERIOUS


# --- a past occasion after a demonstrative; a lengthened word before a space ---------------


def test_a_past_occasion_after_a_demonstrative_is_a_comparison():
    assert heard("あの時の地震じゃ 瓦が落ちたけど 今度はなんともない", "safety") == Intent.FINE
    # without a verdict about now the story counts
    assert heard("その時は 家が流されて 大変やった", "safety") == Intent.HELP
    assert heard("あん時の台風で屋根飛んだ 今も雨漏りしとる", "safety") == Intent.TROUBLE


def test_a_lengthened_word_before_a_space_keeps_its_meaning():
    # drop_lengthening takes the ー off before a space too; a long stem still matches
    assert heard("ちゃーがんじゅー やさ") == Intent.FINE
    assert heard("ちゃーがんじゅー やしが 膝が痛い") == Intent.UNWELL
    # a short stem does not match inside another word (飲んじょー is not 飲んじょらん)
    assert heard("飲んじょらんのよ 今から飲む", "yesno") == Intent.NO


def test_banging_on_the_door_is_help_with_a_person_a_trouble_without():
    assert heard("変な男が戸をがんがん叩きよる", "safety") == Intent.HELP
    assert heard("知らない人が玄関の前をうろうろしとる", "safety") == Intent.HELP
    assert heard("風が戸ぉどんどん叩いとる", "safety") == Intent.TROUBLE
    assert not is_help_phrase("風が戸を叩きよる")


def test_a_fire_that_started_is_help_a_fire_feared_is_not():
    assert heard("ストーブがひっくり返って 火出た 消えん", "safety") == Intent.HELP
    assert not is_help_phrase("火出たら困るけん 早よ寝る")
