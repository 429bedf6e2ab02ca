"""Rules and vocabulary classes added after held-out batch K (its misses classified by kind,
docs/benchmarks.md). Every sentence here is written for these tests, with other words and
regions than the batch; each rule also has a property test over inputs it was not made from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_wire import Intent
from speech.intents import classify, is_help_phrase

CALM = {Intent.FINE, Intent.USUAL, Intent.YES}


def classified(text: str, expect: str = "health"):
    return classify(text, "ja", expect=expect)


# --- more everyday actions explain what and who (walk, pull up, send, hand round, warm up,
# live, shut, open, repair, prune with an adverb between the noun and its verb) -------------


@pytest.mark.parametrize(
    ("text", "intent", "expect"),
    [
        ("元気だよ 朝は川べりを歩いてきた", Intent.FINE, "health"),
        ("元気やで 畑で人参抜いて 近所に配ったんや", Intent.FINE, "health"),
        ("達者だよ 娘が林檎送ってくれたんだ", Intent.FINE, "health"),
        ("食べたよ 煮しめの残り温めて食べた", Intent.YES, "yesno"),
        ("元気だがね 松の手入れ 少しずつやっとる", Intent.FINE, "health"),
        ("大丈夫です 山の上に住んどりますけん", Intent.FINE, "safety"),
        ("大丈夫だよ 戸はみんな閉めといたから", Intent.FINE, "safety"),
    ],
)
def test_more_everyday_actions_explain_what_and_who(text, intent, expect):
    c = classified(text, expect)
    assert c.intent == intent and not c.ambiguous, c


# --- dialect endings MeCab reads as content words ------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "expect"),
    [
        # Echigo すけ after a past (来たすけ: たすける), Chugoku じゃけえ (こい), Tohoku たけえ
        ("元気だよ 寒くなってきたすけ 家におる", Intent.FINE, "health"),
        ("大丈夫じゃけえ 心配いらんよ", Intent.FINE, "safety"),
        # Kyushu ごたる, Mikawa てまった: the life is the same as ever
        ("まあまあたい 毎日同じごたる暮らしたい", Intent.USUAL, "health"),
    ],
)
def test_dialect_endings_are_not_unknown_words(text, intent, expect):
    c = classified(text, expect)
    assert c.intent == intent and not c.ambiguous, c


# --- small talk: calm sea, no wind, getting colder, last night, flowers, enough supplies ----


@pytest.mark.parametrize(
    ("text", "intent", "expect"),
    [
        ("元気だよ 今日は海がないでおるすけ 気持ちええ", Intent.FINE, "health"),
        ("よう寝たよ 夕べは風もなかったし", Intent.YES, "yesno"),
        ("大丈夫だべ 灯油もたっぷりあるし", Intent.FINE, "safety"),
        ("元気ですよ 庭の桜もまだ咲いとります", Intent.FINE, "health"),
        ("食べたよ 鍋こしらえてな うまかった", Intent.YES, "yesno"),
        ("大丈夫だ 雨は強かったけど 家は何もなかった", Intent.FINE, "safety"),
    ],
)
def test_small_talk_is_not_a_complaint(text, intent, expect):
    c = classified(text, expect)
    assert c.intent == intent and not c.ambiguous, c


# --- a small thing is all that happened; a tree down; the house fine ------------------------


@pytest.mark.parametrize(
    "text",
    [
        "大丈夫だよ 皿が一枚割れたぐらいで あとはなんともねえ",
        "無事ですよ 植木が倒れたくらいで",
        "大丈夫や 裏の木が一本折れとったけど 家はなんもない",
        "なんもあらへんよ 風はきつかったけど",
    ],
)
def test_a_small_damage_with_the_house_fine_is_fine(text):
    c = classified(text, "safety")
    assert c.intent == Intent.FINE and not c.ambiguous, c


SMALL_DAMAGE = ["皿が一枚割れたくらいで", "鉢が倒れたぐらいで", "庭の木が一本折れたけど"]
SYMPTOMS_NOW = ["胸が苦しい", "頭が痛い", "足がしびれとる", "熱がある", "腰が痛うて動けん"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SMALL_DAMAGE), st.sampled_from(SYMPTOMS_NOW))
def test_property_a_small_damage_never_hides_a_complaint(damage, symptom):
    c = classified(f"大丈夫 {damage} {symptom}", "safety")
    assert c.intent not in CALM, c


# --- yes/no: slept until morning, did not forget, sentence-final いや, did not feel slept ---


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("寝たよ 九時に布団入って 朝まで目ぇ覚めんかった", Intent.YES),
        ("飲んだよ 昼もちゃんと飲んだ 忘れとらん", Intent.YES),
        ("飲んだいや 朝も晩もな", Intent.YES),
        ("寝た気がせんかった", Intent.NO),
    ],
)
def test_sleep_and_medicine_answers(text, intent):
    c = classified(text, "yesno")
    assert c.intent == intent and not c.ambiguous, c


def test_forgot_is_still_no():
    assert classified("飲み忘れた 朝バタバタしとって", "yesno").intent == Intent.NO


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["飲んだ", "食べた", "寝た", "飲みました"]), st.sampled_from(["いや", "だいや"])
)
def test_property_a_final_iya_after_a_yes_is_never_no(yes, particle):
    c = classified(f"{yes}{particle}", "yesno")
    assert c.intent == Intent.YES, c


# --- complaints: toilet count told first, cramps, black stool, taste lost, a sore ----------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("寝たけど 便所に何べんも起きてな", "yesno"),
        ("眠れんかった ふくらはぎがつって", "yesno"),
        ("飲んだよ ただ便が黒いんよ", "yesno"),
        ("食べましたけど 味がわからんのです", "yesno"),
        ("膝の傷がなかなか治らんでのう", "health"),
    ],
)
def test_complaints_of_batch_k_kinds_are_unwell(text, expect):
    assert classified(text, expect).intent == Intent.UNWELL


def test_the_toilet_count_after_poor_sleep_is_never_calm():
    # was a critical miss on K (read yes): 寝た inside 寝た気がしねえ is no reassurance
    c = classified("トイレさ何回も行って 寝た気がしねえ", "yesno")
    assert c.intent == Intent.UNWELL, c


# --- help: a hand that does not work, a crooked face, someone at the door, water inside, the
# way out blocked -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("左手がきかんようになって 茶碗が持てん", "health"),
        ("口が曲がっとる気がする", "health"),
        ("誰かが玄関をがんがん叩いとる", "safety"),
        ("知らない男が外でうろうろしてる", "safety"),
        ("畳まで水が上がってきよる", "safety"),
        ("道が冠水して 行けんのです", "safety"),
        ("雪で玄関が埋まって出られん", "safety"),
    ],
)
def test_emergency_signs_of_batch_k_kinds_are_help(text, expect):
    assert classified(text, expect).intent == Intent.HELP
    assert is_help_phrase(text)


WAYS_BLOCKED = ["浸かって", "冠水して", "塞がって", "埋まって", "崩れて"]
CANNOT_GO = ["行けん", "行かれへん", "出られん", "出られない", "行けない"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(WAYS_BLOCKED), st.sampled_from(CANNOT_GO))
def test_property_the_way_out_blocked_is_always_help(blocked, cannot):
    text = f"道が{blocked}{cannot}"
    assert classified(text, "safety").intent == Intent.HELP
    assert is_help_phrase(text)


# --- troubles: no tap water, snow clearing behind, a chore request, supplies low ------------


@pytest.mark.parametrize(
    "text",
    [
        "昨日から水道が出えへんのや",
        "雪かきが追っつかねえ",
        "瓦がずれたけん 直しに誰か来てくれんかね",
        "屋根の修理して くれる人おらんかのう",
        "米が心細うなってきた",
        "床下浸水しとります",
        "トタンが一枚飛んでった",
    ],
)
def test_troubles_of_batch_k_kinds(text):
    assert classified(text, "safety").intent == Intent.TROUBLE


def test_a_chore_request_is_not_help_but_someone_to_come_is():
    assert classified("片付けに誰か来てくれんか", "safety").intent == Intent.TROUBLE
    assert classified("誰か来てくれ", "safety").intent == Intent.HELP


def test_an_obligation_with_its_verb_is_not_no_good():
    # 病院へ行かん (a trouble phrase) must not take the ん of 行かんといけん
    c = classified("病院に行かんといけんけど 足がないんよ", "health")
    assert c.intent == Intent.TROUBLE, c


# --- asking back, a call asked for by a negative question, a wish ----------------------------


@pytest.mark.parametrize(
    "text", ["ご飯のことですか", "すみません 今なんて言われました", "お薬の事でしょうか"]
)
def test_clarifying_the_question_is_repeat(text):
    assert classified(text, "yesno").intent == Intent.REPEAT


def test_a_call_asked_for_by_negative_question_stays_a_request():
    c = classified("娘に電話ばくれんね 声聞けたら安心するけん", "safety")
    assert c.intent == Intent.CALLBACK, c


# --- someone else's injury told with a title -------------------------------------------------


def test_someone_elses_injury_with_a_title_is_not_mine():
    c = classified("私は元気です お向かいの奥さんが手を怪我されて", "health")
    assert c.intent == Intent.FINE, c
    assert classified("奥さんが足を怪我したけど わしも腰が痛い").intent == Intent.UNWELL


STORIES_K = [
    "朝は浜まで歩いてきた",
    "孫がみかん送ってくれた",
    "残りもん温めて食べた",
    "近所に大根配った",
    "松の剪定ちょっとずつやっとる",
]
SYMPTOMS_K = ["胸が苦しい", "頭がずきずきする", "手がしびれとる", "足がつって", "便が黒い"]


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["元気だよ", "大丈夫や", "達者でやっとる"]),
    st.sampled_from(STORIES_K),
    st.sampled_from(SYMPTOMS_K),
)
def test_property_reassurance_new_story_and_a_symptom_is_never_calm(fine, story, symptom):
    assert classified(f"{fine} {story} {symptom}").intent not in CALM


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["元気だよ", "大丈夫や", "達者でやっとる"]), st.sampled_from(STORIES_K))
def test_property_reassurance_and_a_new_story_is_calm(fine, story):
    c = classified(f"{fine} {story}")
    assert c.intent == Intent.FINE and not c.ambiguous, c


# --- known gaps closed with batch K (issue 15) ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "expect"),
    [
        # someone else's illness told as a て-chain: the person named first owns the chain
        ("孫が風邪ひいて休んどるけど わしは元気よ", Intent.FINE, "health"),
        ("主人が具合悪うして寝込んどります 私は元気です", Intent.FINE, "health"),
        # an ambulance that came and took someone else: a story
        ("向かいのばあさんが救急車が来て乗せられた わしは大丈夫", Intent.FINE, "safety"),
        # Kyushu ほどじゃなか: not as much as (じゃ is the copula, not a new clause)
        ("医者に行くほどじゃなかばってん 咳が出よる", Intent.UNWELL, "health"),
        # could not eat = poor appetite, a complaint even after a reassurance, when the health
        # or safety question was asked; to the meal question it is a no (like poor sleep)
        ("元気は元気よ ただ晩飯が食べれんかった", Intent.UNWELL, "health"),
        ("大丈夫だ 昨日は何も食えんかった", Intent.UNWELL, "safety"),
        ("食べられへんかった", Intent.NO, "yesno"),
    ],
)
def test_known_gaps(text, intent, expect):
    c = classified(text, expect)
    assert c.intent == intent and not c.ambiguous, c


def test_my_own_chain_after_someone_elses_still_counts():
    assert classified("嫁が熱出して寝込んで わしも熱がある").intent == Intent.UNWELL
    assert classified("孫が風邪ひいて わしも寝込んどる").intent == Intent.UNWELL


def test_not_as_much_as_an_ambulance_is_no_call_but_a_call_is():
    assert not is_help_phrase("救急車呼ぶほどじゃなか")
    assert is_help_phrase("救急車呼んでくれんね")


PERSONS_K = ["嫁", "孫", "主人", "娘", "息子"]
CHAINS_K = ["熱出して寝込んで", "風邪ひいて休んで", "具合悪うして寝込んで"]
MINE_K = ["わしは胸が苦しい", "わしも頭が痛い", "わしは足がしびれとる", "私も熱がある"]


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(PERSONS_K), st.sampled_from(CHAINS_K), st.sampled_from(MINE_K))
def test_property_someone_elses_chain_never_hides_my_complaint(person, chain, mine):
    assert classified(f"{person}が{chain} {mine}").intent not in CALM


# --- limits found by probing the batch K rules ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("夜は風が雨戸を叩いて うるさかったけど 大丈夫", "safety"),
        ("雨が窓を叩いとったけど 家は無事です", "safety"),
        ("玄関まで水は来んかったけん 大丈夫", "safety"),
        ("床まで水が来んかった 助かったわ", "safety"),
    ],
)
def test_weather_on_the_shutters_and_water_that_did_not_come_are_not_help(text, expect):
    assert classified(text, expect).intent != Intent.HELP
    assert not is_help_phrase(text)


def test_a_negated_unknown_verb_after_a_story_is_not_a_silent_fine():
    # the story is explained (送ってもろた), the negated verb is not: it counts twice
    c = classified("元気だよ 娘が送ってくれた機械がよう動かん")
    assert c.intent not in CALM, c
    assert classified("元気だよ 送ってもろた薬が効かん").intent == Intent.UNWELL
    # "need not" after a negative is no complaint
    c = classified("元気よ 息子にわざわざ来んでええって言うた")
    assert c.intent == Intent.FINE, c


# 点かん, 開かん, 動かへん hold a か that is also a particle hit inside the verb: found by this
# property, and the particle no longer explains a negated verb.
NEGATED_UNKNOWN = ["回らん", "閉まらん", "止まらへん", "動かへん", "冷えん", "点かん", "開かん"]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(STORIES_K), st.sampled_from(NEGATED_UNKNOWN))
def test_property_a_story_never_hides_a_negated_unknown_verb(story, negated):
    c = classified(f"元気だよ {story} 扇風機が{negated}")
    assert c.intent not in CALM, c


# --- a reassurance, an explained story, then "but" and an unknown complaint ----------------


@pytest.mark.parametrize(
    "text",
    [
        "元気やで 近所に配ってきたけど 足がもつれてな",
        "元気よ 鍋こしらえて食べたけど 飲み込みにくうてな",
        "元気だよ 孫が送ってくれたども 夜中に寝汗かいて",
    ],
)
def test_a_story_then_but_and_an_unknown_complaint_is_not_fine(text):
    # the story explained by everyday actions must not push "but" out of [qualify]'s reach
    assert classified(text).intent not in CALM


def test_a_story_then_but_and_an_event_that_did_not_happen_is_fine():
    c = classified("大丈夫だよ 雨はよう降ったけど 川もあふれんかったし", "safety")
    assert c.intent == Intent.FINE, c


UNKNOWN_COMPLAINTS = ["足がもつれて", "夜中に寝汗かいて", "指先が紫色で", "瞼がぴくぴくして"]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(STORIES_K),
    st.sampled_from(["けど", "ども", "ばってん"]),
    st.sampled_from(UNKNOWN_COMPLAINTS),
)
def test_property_story_but_unknown_complaint_is_never_calm(story, but, complaint):
    assert classified(f"元気だよ {story}{but} {complaint}").intent not in CALM
