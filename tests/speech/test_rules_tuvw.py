"""Rules and vocabulary classes added after held-out batches T, U, V and W (their misses read
and classified by kind, docs/benchmarks.md, session 9). Every sentence here is written for
these tests, with other words and regions than the batches; each rule also has a property
test over inputs it was not made from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech.intents import is_help_phrase
from tests.speech.rule_probes import CALM, SERIOUS, classified, heard

# --- kana look-alikes inside other words -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("元気やちゃ 安心してくだしまっし", "health"),  # くだし of a polite imperative
        ("雨戸に板打ちつけといたから 大丈夫や", "safety"),  # といたから, not 痛か
        ("元気だがね 孫と散歩してきたでよ", "health"),  # Nagoya copula, not "but"
        ("元気だがや 畑で大根抜いてきたわ", "health"),
    ],
)
def test_look_alikes_inside_other_words_are_not_complaints(text, expect):
    assert heard(text, expect) == Intent.FINE, classified(text, expect)


def test_because_i_want_to_is_not_ikenai():
    assert heard("孫の顔見たいけん 電話ちょうだい") == Intent.CALLBACK
    assert heard("片付けがたいへんやけど 怪我はない", "safety") == Intent.TROUBLE


def test_a_real_complaint_with_the_same_endings_stays_unwell():
    assert heard("腰がいたいけん 寝とる") == Intent.UNWELL
    assert heard("腹をくだしてしもうた") == Intent.UNWELL
    assert heard("体調を崩してしもうて") == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["元気や", "大丈夫や", "元気しとる", "なんともない"]),
    st.sampled_from(["心配せんといてくだしまっし", "板打っといたから", "戸締りしといたから"]),
)
def test_property_a_reassurance_with_a_polite_or_done_ending_is_never_serious(calm, ending):
    assert classified(f"{calm} {ending}", "safety").intent not in SERIOUS


# --- asking again, with its reason -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "耳が遠いもんで もう一回言うてもらえますか",
        "耳の遠かけん もう一度お願いします",
        "何の話だったかな 最初から話してくれんか",
        "あんだって",
    ],
)
def test_hard_of_hearing_as_the_reason_for_asking_again_is_repeat(text):
    assert heard(text) == Intent.REPEAT, classified(text)


def test_hearing_as_a_complaint_is_unwell():
    assert heard("耳がきーんって鳴りっぱなしでな") == Intent.UNWELL
    assert heard("耳が遠うなってしもうた") == Intent.UNWELL


# --- a call asked for beside unease; loneliness as a feeling ---------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "夜は落ち着かんで 娘に電話してもろてええか",
        "三日も誰とも口きいとらん 誰か電話くれんかの",
        "息子さ電話っこかけでけねが",
        "娘の声聞きてえから 電話つないでもらえんか",
    ],
)
def test_an_explicit_call_request_is_callback(text):
    assert heard(text) == Intent.CALLBACK, classified(text)


def test_loneliness_as_a_feeling_or_with_no_request_stays_unwell():
    assert heard("寂しゅうてな 誰か電話くれんか") == Intent.UNWELL
    assert heard("誰とも口きいとらん") == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["胸が痛い", "頭がずきずきする", "熱がある", "腰が痛うて", "足がしびれて"]),
    st.sampled_from(["誰か電話してくれへんか", "娘に電話してもろて", "電話ちょうだい"]),
)
def test_property_a_symptom_beside_a_call_request_is_never_eased(symptom, call):
    assert classified(f"{symptom} {call}").intent in SERIOUS


# --- things and other people's houses falling; feared and it was not -------------------------


@pytest.mark.parametrize(
    "text",
    [
        "近所の塀が倒れとったけど うちは無事や",
        "向かいのおばあさんが昨日救急車で運ばれたけど 私は元気です",
        "火事かと思うたら 隣の焚き火の煙じゃった なんともない",
        "閉じ込められたかと思ったけど すぐ開いたよ 大丈夫",
        "瓦一枚落ちんかったわ",
        "電気も水道も止まらんかったよ",
    ],
)
def test_others_falls_and_feared_emergencies_are_not_help(text):
    assert heard(text, "safety") == Intent.FINE, classified(text, "safety")
    assert not is_help_phrase(text, "ja")


def test_a_fallen_thing_that_hurt_the_resident_is_the_hurt():
    assert heard("倒れた棚に足ぶつけて あざができた", "safety") == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["主人が", "ばあちゃんが", "わしが", "隣のじいさんが家の中で"]),
    st.sampled_from(["倒れた", "倒れてしもた", "倒れちゃった"]),
)
def test_property_a_person_collapsing_stays_help(who, fell):
    assert is_help_phrase(f"{who}{fell}", "ja")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["火事", "ガスの臭い", "煙"]),
    st.sampled_from(["かと思ったら なんともなかった", "かと思いましたけど 違いました"]),
)
def test_property_feared_and_it_was_not_is_never_help(emergency, turned_out):
    assert not is_help_phrase(f"{emergency}{turned_out}", "ja")
    assert is_help_phrase(f"{emergency}や 早よ来て", "ja")


# --- damage, and where help begins -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "物置が流されてしもうた 私はなんともない",
        "水道管が破れて 台所が水浸し 誰か呼んでくれんか",
        "床下がびしょびしょで 畳がだめになった",
        "湯沸かし器が止まって お湯が出えへん",
        "道に木が倒れとって 買い物に出られへん",
    ],
)
def test_damage_with_no_danger_to_the_person_is_trouble(text):
    assert heard(text, "safety") == Intent.TROUBLE, classified(text, "safety")


@pytest.mark.parametrize(
    "text",
    [
        "一階はもう水に浸かっとる 二階におるけど",
        "川の水が来よる",
        "ばあちゃんが崩れた塀の下におる",
        "じいさんが寝たきりで わし一人では動かせん",
        "家内がトイレで立ち上がれなくて そのままなんです",
        "避難所に行こうにも 道が川になっとって行かれん",
    ],
)
def test_water_in_the_house_trapped_or_unable_to_move_is_help(text):
    assert heard(text, "safety") == Intent.HELP, classified(text, "safety")
    assert is_help_phrase(text, "ja")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["火事や", "家ん中に水が入ってきた", "主人が倒れた", "血が止まらん"]))
def test_property_a_call_for_someone_with_an_emergency_stays_help(emergency):
    assert is_help_phrase(f"水道管が破れて {emergency} 誰か呼んでくれ", "ja")


# --- a stranger at the door ------------------------------------------------------------------


def test_a_stranger_and_fear_or_banging_together_are_help():
    assert is_help_phrase("知らん人が玄関の戸ガンガン叩いとる", "ja")
    assert is_help_phrase("見知らぬ男が外におって 怖くて開けられん", "ja")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["知らん男が来とる", "戸をどんどん叩いとる", "風で戸がどんどん鳴る"]))
def test_property_one_sign_alone_is_never_help(one):
    assert not is_help_phrase(one, "ja")


# --- dialect negations, resolved complaints, neither good nor bad, age ---------------------


@pytest.mark.parametrize(
    ("text", "expect", "intent"),
    [
        ("怪我はしちゃあせんき 安心して", "safety", Intent.FINE),
        ("停電もねがったし 大丈夫だ", "safety", Intent.FINE),
        ("ゆうべは熱があったけど 今朝はすっかりええわ", "health", Intent.FINE),
        ("何事もおへん", "safety", Intent.FINE),
        ("まめでやっとるよ", "health", Intent.FINE),
        ("良うも悪うもおへん", "health", Intent.USUAL),
        ("悪かねえけど 良くもねえな", "health", Intent.USUAL),
        ("まあ年相応ですわ", "health", Intent.USUAL),
        ("いづもとおんなじだ", "health", Intent.USUAL),
    ],
)
def test_dialect_verdicts(text, expect, intent):
    assert heard(text, expect) == intent, classified(text, expect)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(
        ["昨日は頭が重かったけど", "ゆうべは熱っぽかったけんど", "夕べは腹が痛かったが"]
    ),
    st.sampled_from(["一晩寝たらすっきりした", "寝たらすっきりいたしました", "今朝はさっぱりした"]),
)
def test_property_a_past_complaint_then_refreshed_is_fine(past, refreshed):
    assert classified(f"{past} {refreshed}").intent == Intent.FINE


@pytest.mark.parametrize(
    "text", ["頭が重いけど すっきりしたい", "昨日は腰が痛かったけど すっきりせん"]
)
def test_refreshed_wished_or_negated_keeps_the_complaint(text):
    assert classified(text).intent == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["年相応や", "歳ですから", "良うも悪うもない", "いづもとおんなじ"]),
    st.sampled_from(["腰が痛い", "熱がある", "めまいがする", "膝がうずく"]),
)
def test_property_usual_words_never_hide_a_symptom(usual, symptom):
    assert classified(f"{usual} けど {symptom}").intent == Intent.UNWELL
    assert classified(f"{symptom} {usual}").intent == Intent.UNWELL


# --- yes / no with a symptom or an appetite complaint; dialect yes/no ----------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("飲んだけんど 飲んでから腹ぁしくしくする", Intent.UNWELL),
        ("食べとらん 食べる気ぃ起こらんのよ", Intent.UNWELL),
        ("便所行っても出ねえ もう三日だ", Intent.UNWELL),
        ("食べたけど 口が苦うて半分も食べれんかった", Intent.UNWELL),
        ("寝だなし", Intent.YES),
        ("ままっこ いっぺぇ けだ", Intent.YES),
        ("お風呂はもう入りました", Intent.YES),
        ("飯どころでねかった", Intent.NO),
    ],
)
def test_yes_no_answers_in_dialect_and_with_complaints(text, intent):
    assert heard(text, "yesno") == intent, classified(text, "yesno")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["飲んだ", "食べた", "飲んだけど", "食べたけんど"]),
    st.sampled_from(["腹ぁしくしくする", "胃がにがる", "口が苦うて", "膝がうずく"]),
)
def test_property_a_yes_beside_a_complaint_is_never_calm(yes, complaint):
    assert classified(f"{yes} {complaint}", "yesno").intent not in CALM
