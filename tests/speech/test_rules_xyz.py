"""Rules and vocabulary classes added after held-out batches X, Y and Z (their misses read and
grouped by kind, docs/benchmarks.md, "X, Y and Z tuned"). Every sentence here is written for
these tests, with other words and regions than the batches; each rule also has a property test
over inputs it was not made from."""

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
        ("ストーブの火が布団に燃え移ったんや", "safety"),
        ("袖に火がついて 消えへん", "safety"),
        ("頭が割れそうなくらい痛うて 吐き気がする", "health"),
        ("風呂場でこけて そのまま起き上がれんのや", "health"),
        ("津波が来るっちゅうのに 足が悪うて 山まで逃げられん", "safety"),
        ("指をざっくり切って どくどく出てきて止まらん", "health"),
        ("口の端っこが垂れてきとる", "health"),
        ("顔の右っかわが動かんのよ", "health"),
        ("舌のうまく回らんとです", "health"),
        ("家が潰れて 出られん 助けちゃって", "safety"),
    ],
)
def test_emergency_signs_in_other_words_are_help(text, expect):
    assert heard(text, expect) == Intent.HELP, classified(text, expect)
    assert is_help_phrase(text, "ja")


@pytest.mark.parametrize(
    "text",
    ["火はカーテンに燃え移っとらん 大丈夫", "火事にもならんかった 火はすぐ消えた"],
)
def test_a_negated_fire_is_not_help(text):
    assert not is_help_phrase(text, "ja")
    assert heard(text, "safety") != Intent.HELP


def test_evacuation_needed_and_no_car_add_up_to_help():
    assert heard("避難せなあかんけど 車もないし", "safety") == Intent.HELP
    assert heard("避難せんといかんのよ", "safety") == Intent.TROUBLE
    assert heard("車がないけん 買い物に行けん", "safety") == Intent.TROUBLE


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["避難せんといかん", "避難しないといけない", "避難せにゃならん"]),
    st.sampled_from(["車がないから", "車もなかけん", "避難所まで遠うて"]),
)
def test_property_two_obstacles_to_evacuating_are_help(need, obstacle):
    text = f"{need}けど {obstacle}"
    assert classified(text, "safety").intent == Intent.HELP, classified(text, "safety")


# --- damage with no danger, and where help begins ----------------------------------------------


def test_rain_blown_in_is_a_trouble_but_a_person_in_danger_decides():
    assert heard("窓が割れて 雨が吹き込んでくる", "safety") == Intent.TROUBLE
    assert heard("雨戸が飛んで 風が吹き込んどる", "safety") == Intent.TROUBLE
    assert heard("雨が吹き込んで 主人が倒れて動けん", "safety") == Intent.HELP
    assert heard("窓ガラスが割れて 雨が入ってきよる", "safety") == Intent.HELP  # batch A's help


def test_only_one_way_out_and_a_stopped_lift_are_troubles():
    assert heard("勝手口からしか出入りできん", "safety") == Intent.TROUBLE
    assert heard("表が雪でふさがって 裏からしか出られん", "safety") == Intent.TROUBLE
    assert heard("エレベーターが止まって 十階から降りられん", "safety") == Intent.TROUBLE
    assert heard("二階から降りられへん 水が来とる", "safety") == Intent.HELP


def test_troubles_in_other_words():
    assert heard("人手が足りんで 誰か手伝いに来てほしい", "safety") == Intent.TROUBLE
    assert heard("庭が泥だらけで どうにもならん", "safety") == Intent.TROUBLE
    assert heard("柿の木が倒れて 物置が潰れた", "safety") == Intent.TROUBLE
    assert heard("雨樋が外れてしもうて 直してくれる人がおらん", "safety") == Intent.TROUBLE


# --- look-alikes --------------------------------------------------------------------------------


def test_kana_look_alikes_are_not_emergencies():
    assert heard("朝は指がかじかんで 感覚がのうなる") == Intent.UNWELL
    assert not is_help_phrase("朝は指がかじかんで 感覚がのうなる", "ja")
    text = "消防車のサイレンで一回起きたけど そのあとはよう寝た"
    assert heard(text, "yesno") == Intent.YES
    assert not is_help_phrase(text, "ja")
    assert heard("大丈夫って言いたいけど 屋根が飛ばされて 雨が吹き込んどる", "safety") == (
        Intent.TROUBLE
    )


# --- low mood, the stomach -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "張り合いがのうて 何もする気がせん",
        "このごろやる気が出んのよ",
        "何食べても美味くない",
        "体はなんともねえけど 張り合いがねえ",
    ],
)
def test_low_mood_in_other_words_is_unwell(text):
    assert heard(text) == Intent.UNWELL, classified(text)


def test_fullness_after_eating_is_unwell_not_yes():
    assert heard("食べたけど 食べるとすぐ腹が張る", "yesno") == Intent.UNWELL
    assert heard("食べたよ でも胃の上のへんが重たい", "yesno") == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["元気やけど", "なんともねえけど", "大丈夫だけど", "体は平気やけど"]),
    st.sampled_from(["張り合いがない", "やる気が出ん", "飯もうまくねえ", "あんまり動けん"]),
)
def test_property_a_reassurance_then_low_mood_is_never_calm(calm, mood):
    assert classified(f"{calm} {mood}").intent not in CALM


# --- someone else's trouble, the resident's own verdict --------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("姉のとこが水に浸かったけど わしはなんともない", "safety"),
        ("隣の婆さま入院したども おらはなんともねぇ", "health"),
        ("わしは元気よ 弟が心配じゃがの", "health"),
    ],
)
def test_someone_elses_trouble_then_my_verdict_is_fine(text, expect):
    assert heard(text, expect) == Intent.FINE, classified(text, expect)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["妹が心配やけど", "隣の爺さま入院したども", "家内が病院に入っとるけど"]),
    st.sampled_from(["わしは胸が苦しい", "おらは腰が痛え", "わたしは熱がある"]),
)
def test_property_someone_elses_trouble_never_hides_my_symptom(other, mine):
    assert classified(f"{other} {mine}").intent in SERIOUS


# --- the weather's えらい, things back to normal -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "雨えらい降ったけど うちは何ともない",
        "えらい風やったけど 無事です",
        "停電ももう直っとる 大丈夫や",
        "除雪車が来てくれたで 道も通れるし 心配ない",
        "廊下でつまずいたけど 自分で起きれたし どこも痛ぐねえ",
    ],
)
def test_a_severe_event_or_a_done_trouble_then_a_verdict_is_fine(text):
    assert heard(text, "safety") == Intent.FINE, classified(text, "safety")


def test_the_residents_own_eraí_stays_a_complaint():
    assert heard("えらいわ 体がだるうて") == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["台風えらかったけど", "雨えらいこと降ったけど", "えらい波やったけど"]),
    st.sampled_from(["足をくじいた", "胸が苦しい", "頭を打って血が出とる"]),
)
def test_property_the_weathers_erai_never_hides_a_symptom(event, symptom):
    assert classified(f"{event} {symptom}", "safety").intent in SERIOUS


# --- yes and no with their circumstances ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "薬 飲みもした",
        "ご飯 いただいたよ",
        "夢も見んと 朝までぐっすり",
        "七時まで目が覚めんかった",
        "飲んだよ 手帳に印つけといた",
    ],
)
def test_yes_in_dialect_and_with_its_circumstances(text):
    assert heard(text, "yesno") == Intent.YES, classified(text, "yesno")


@pytest.mark.parametrize(
    "text",
    [
        "まだや 朝ごはん食べてから飲む",
        "飲んだつもりやったけど 袋に残っとった",
        "飲んでない 先生がもう飲まんでええって",
    ],
)
def test_a_plan_a_mistaken_belief_or_no_need_is_no(text):
    assert heard(text, "yesno") == Intent.NO, classified(text, "yesno")


# --- asking again, with its reason -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "耳がちょっと遠いもんで もう一度",
        "耳が遠なってな 何て言うた?",
        "補聴器外しとって 何て言うた",
        "よう聞こえんかった もう一回",
        "何でございますか",
        "もう少しゆっくり話してもらえますか",
    ],
)
def test_asking_again_with_its_reason_is_repeat(text):
    assert heard(text) == Intent.REPEAT, classified(text)


def test_hearing_loss_with_no_request_stays_unwell():
    assert heard("耳が遠なってしもうてなあ") == Intent.UNWELL


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["耳が遠なってな", "補聴器外しとって"]),
    st.sampled_from(["胸が痛い", "熱がある", "足がしびれて"]),
    st.sampled_from(["もう一回言うて", "何て言うた"]),
)
def test_property_a_symptom_beside_a_repeat_request_stays_serious(hearing, symptom, ask):
    assert classified(f"{hearing} {symptom} {ask}").intent in SERIOUS


# --- usual, fine, callback, loneliness ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "良くもなし悪くもなしだ",
        "ええことも悪いことも別にないわ",
        "元気いっぱいってわけでもない",
        "元気っちゃ元気やけどな",
        "調子のええ日もあれば悪い日もある",
    ],
)
def test_neither_good_nor_bad_in_more_words_is_usual(text):
    assert heard(text) == Intent.USUAL, classified(text)


@pytest.mark.parametrize(
    "text",
    [
        "先生に血圧もいいって言われたよ",
        "若いもんには負けんよ",
        "調子はよろしゅうございます",
        "元気すぎて困っとるくらいや",
    ],
)
def test_fine_in_other_words(text):
    assert heard(text) == Intent.FINE, classified(text)


@pytest.mark.parametrize(
    "text",
    [
        "用事があるけん 電話ばしてくれんね",
        "暇やさかい 電話でもしてくれへんか",
        "どなたか話し相手になってもらえませんか",
    ],
)
def test_a_call_asked_for_in_more_words_is_callback(text):
    assert heard(text) == Intent.CALLBACK, classified(text)


def test_loneliness_said_as_nobody_coming_is_unwell():
    assert heard("誰も来んけん 一日テレビと話しとる") == Intent.UNWELL
    assert heard("話し相手がおらんでなあ") == Intent.UNWELL


def test_cold_and_stiff_and_forgetting_are_complaints():
    assert heard("手足が冷とうて 夜眠れん") == Intent.UNWELL
    assert heard("首が固まって振り向けん") == Intent.UNWELL
    assert heard("眼鏡をどこに置いたかすぐ忘れる") == Intent.UNWELL
