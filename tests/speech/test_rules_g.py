"""Rules and vocabulary classes added after held-out batch G (its misses classified by kind,
docs/benchmarks.md). Every sentence here is written for these tests, with other words and
regions than the batch; each rule also has a property test over inputs it was not made from."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech import morphology
from speech.intents import classify, fold, is_help_phrase


def intent_of(text: str, expect: str = "health") -> Intent:
    return classify(text, "ja", expect=expect).intent


# --- symptoms the lexicon lacked ----------------------------------------------------------

COMPLAINTS = [
    "耳鳴りがひどうてかなわん",
    "胸焼けがしてのう",
    "脚がむずむずして寝つけん",
    "胃がきりきりするんよ",
    "何を食べても味がせん",
    "この頃目方が減ってきた",
    "餅が喉につっかえた感じがする",
    "夜通し咳しとった",
]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_dialect_complaints_are_unwell(text):
    assert intent_of(text) == Intent.UNWELL


@pytest.mark.parametrize(
    "text",
    [
        "飲んだけど 飲んだあと胸焼けがする",
        "食べたよ 何食べても味がせんかった",
        "寝たばって 夜通し耳鳴りがしとった",
    ],
)
def test_yes_then_a_complaint_is_unwell_not_yes(text):
    # the batch's two critical misses were this shape: never a silent yes
    assert intent_of(text, "yesno") == Intent.UNWELL


YES_WORDS = ["飲んだ", "食べた", "寝た", "飲みました", "食ったよ", "はい"]
CONNECTORS = ["けど", "ども", "ばって", "けんど", "。でも", "、"]
COMPLAINT_BITS = [
    "胸焼けがする",
    "耳鳴りがする",
    "味がせん",
    "胃がしくしくする",
    "頭がぐらぐらする",
    "脚がむずむずする",
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(YES_WORDS), st.sampled_from(CONNECTORS), st.sampled_from(COMPLAINT_BITS))
def test_property_any_yes_followed_by_a_complaint_is_unwell(yes, connector, complaint):
    assert intent_of(yes + connector + complaint, "yesno") == Intent.UNWELL


# --- emergency signs in dialect -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "舌がよう回らん",
        "顔の左側が下がってきた",
        "急に話しにくくなった",
        "息がぜいぜいして苦しい",
        "胸っこ苦しい",
        "鼻から地が出て",  # 地: a recogniser slip for 血
        "横になれんくらい苦しい",
    ],
)
def test_dialect_emergency_signs_are_help(text):
    assert intent_of(text) == Intent.HELP
    assert intent_of(text, "safety") == Intent.HELP


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["口が", "口も", "舌が", "口がうまく", "舌がよう", "口がうまぐ"]),
    st.sampled_from(["回らん", "回らない", "まわらへん", "回んねえ", "回らなくて"]),
    st.sampled_from(["", "。", "、来てくれ", "ようになった"]),
)
def test_property_speech_that_does_not_work_is_help(subject, negative, tail):
    text = subject + negative + tail
    assert intent_of(text) == Intent.HELP, text


# --- house damage, empty supplies, lost things, rising water (safety) ---------------------


@pytest.mark.parametrize(
    "text",
    [
        "窓ガラスが割れてしもうた",
        "納屋が潰れてしもた",
        "屋根のトタンが飛んだ",
        "米びつが空っぽじゃ",
        "財布をどこに置いたか分からん",
        "ヘルパーさんが来ない",
        "川の水が増えとる",
        "避難所がどこかも知らん",
    ],
)
def test_house_damage_and_supplies_are_trouble(text):
    assert intent_of(text, "safety") == Intent.TROUBLE


def test_a_piece_of_furniture_falling_is_not_a_fall_of_the_resident():
    assert intent_of("本棚が倒れて 皿がみんな割れた", "safety") == Intent.TROUBLE
    assert intent_of("主人が倒れた", "safety") == Intent.HELP


# --- callbacks, usual, fine, repeat -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "孫に電話するように言うてくれ",
        "息子に電話よこせって言っといて",
        "民生委員さんに相談したい",
        "娘と話してえな",
    ],
)
def test_tell_someone_to_phone_and_wishes_to_talk_are_callbacks(text):
    assert intent_of(text) == Intent.CALLBACK


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("昨日とおんなしだ", Intent.USUAL),
        ("変わりはございません", Intent.USUAL),
        ("ええあんべだ", Intent.FINE),
        ("まめに暮らしとるよ", Intent.FINE),
        ("怪我はございません", Intent.FINE),
        ("耳が遠いから大きい声で頼む", Intent.REPEAT),
        ("何の話ですか", Intent.REPEAT),
        ("え なに", Intent.REPEAT),
    ],
)
def test_dialect_usual_fine_and_repeat(text, intent):
    assert intent_of(text) == intent


def test_hard_of_hearing_is_a_request_to_repeat_not_a_complaint():
    # 遠いけん: けん is "because", not いけん (unwell)
    assert intent_of("耳が遠いけん もういっぺん") == Intent.REPEAT


# --- someone else's illness ---------------------------------------------------------------

OTHERS = ["家内", "主人", "孫", "隣のばあさん", "息子", "妹"]
ILLNESS = ["が風邪ひいて寝とる", "が熱出した", "が入院しとる", "が寝込んどる", "の具合が悪い"]
ME_FINE = ["わしは元気だ", "私は大丈夫", "うちは元気よ", "おらは達者だ"]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(OTHERS), st.sampled_from(ILLNESS), st.sampled_from(ME_FINE))
def test_property_someone_elses_illness_then_i_am_fine_is_fine(who, illness, me):
    assert intent_of(f"{who}{illness}けど {me}") == Intent.FINE


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("主人が熱出して私も熱っぽい", Intent.UNWELL),  # the resident's own complaint counts
        ("主人が倒れた", Intent.HELP),  # someone else's emergency stays help
        ("娘が来てくれたけど 腰が痛い", Intent.UNWELL),
    ],
)
def test_someone_elses_illness_counter_examples(text, intent):
    assert intent_of(text) == intent


# --- a past complaint, better now; ども ends a clause -------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "先週は腰が痛かったけど 今はもうええ",
        "咳出たども もう治った",
        "おとといは熱があったども 今日は下がってしゃんとしとる",
    ],
)
def test_a_past_complaint_that_is_better_now_is_not_unwell(text):
    assert intent_of(text) == Intent.FINE


@pytest.mark.parametrize(
    "text",
    [
        "昨日は頭が痛かったけど 今日はいい天気",
        "腰が痛いけど今日はいい",
        "昨日は腰が痛かったけど 今日は良くない",
    ],
)
def test_better_now_counter_examples_stay_unwell(text):
    assert intent_of(text) == Intent.UNWELL


def test_domo_ends_a_clause():
    analysis = morphology.analyse("熱あったども 今日は下がった", fold)
    clauses = {t.surface: t.clause for t in analysis.tokens}
    assert clauses["熱"] != clauses["下がっ"]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["昨日", "先週", "おととい", "ゆうべ"]),
    st.sampled_from(["腰が痛かった", "熱があった", "お腹こわしとった", "咳が出とった"]),
    st.sampled_from(["けど", "ども", "けんど"]),
    st.sampled_from(["今日はもうええ", "今はもういい", "今日は良い"]),
)
def test_property_past_complaint_then_better_now_is_never_unwell(when, complaint, conn, now):
    text = f"{when}は{complaint}{conn} {now}"
    assert intent_of(text) != Intent.UNWELL, text
    assert not is_help_phrase(text)


# --- a bodily sensation told with a doubled sound word ([sensation]) ----------------------


@pytest.mark.parametrize(
    "text",
    [
        "飲んだよ 手がぷるぷるする",
        "食ったども 腹がごろごろすんだ",
        "飲んだけど 指先がじんじんしとる",
    ],
)
def test_yes_then_an_unknown_bodily_sensation_is_unwell(text):
    assert intent_of(text, "yesno") == Intent.UNWELL


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("肌がつやつやしとる", Intent.FINE),  # a sound word the lexicon knows decides
        ("体がぴんぴんしとる", Intent.FINE),
    ],
)
def test_sensation_counter_examples(text, intent):
    assert intent_of(text) == intent


def test_a_negated_sensation_is_not_a_complaint():
    assert intent_of("飲んだよ 手がぷるぷるしない", "yesno") == Intent.YES


KANA = (
    "かきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもらりるれろ"
    "がぎぐげごばびぶべぼぱぴぷぺぽ"
)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["飲んだよ ", "食べたけど ", "寝たども ", "はい "]),
    st.sampled_from(["頭が", "腹が", "足の", "目が", "指先が", "胸が", "背中が"]),
    st.text(alphabet=KANA, min_size=2, max_size=2),
    st.sampled_from(["する", "すんだ", "しとる", "して眠れん", "しちょる"]),
)
def test_property_yes_then_any_doubled_sound_sensation_is_never_a_plain_yes(yes, body, sound, end):
    # sound words the writer of this test never chose: whatever the sound, after a yes it is
    # never recorded as a confident yes (a complaint, or a known word that decides)
    # (a sound word the lexicon knows as well-being, はきはき, つやつや, decides as written)
    assume(intent_of(body + sound + sound + end) not in (Intent.FINE, Intent.USUAL))
    c = classify(yes + body + sound + sound + end, "ja", expect="yesno")
    assert not (c.intent == Intent.YES and not c.ambiguous), (yes + body + sound * 2 + end, c)
