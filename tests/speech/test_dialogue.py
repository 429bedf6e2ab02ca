"""The dialogue state machine, driven by scripted transcripts (pure: no audio, no clock)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.dialogue_runner import SlotContext, checkin_events, run_dialogue
from mimamori_wire import Intent
from mimamori_wire.v1 import EventKind
from speech.dialogue import Dialogue, DialogueResult, Finished, Listen, Say, safety_status
from speech.intents import Classification, classify, is_acceptable
from speech.ports import Heard
from speech.voice import TextVoice


def run(dialogue: Dialogue, answers: list[str | None]) -> tuple[DialogueResult, list[Say]]:
    """Play a dialogue against scripted answers; None is silence."""
    said: list[Say] = []
    pending = list(answers)
    action = dialogue.start()
    for _ in range(100):
        if isinstance(action, Finished):
            return action.result, said
        if isinstance(action, Say):
            said.append(action)
            action = dialogue.spoken()
        else:
            assert isinstance(action, Listen)
            text = pending.pop(0) if pending else None
            heard = None if text is None else Heard(text, 1.0, time.monotonic())
            action = dialogue.heard(heard)
    raise AssertionError("dialogue did not finish")


def test_morning_checkin_with_follow_ups():
    d = Dialogue(["health", "medicine", "meal"], slot_name="morning")
    result, said = run(d, ["元気です", "はい、飲みました", "まだです"])
    assert said[0].text == "おはようございます。今日の体調はいかがですか。"
    assert said[0].prompt_key == "ask_health"
    assert [s.prompt_key for s in said] == ["ask_health", "ask_medicine", "ask_meal", "closing"]
    assert result.outcome == "answered"
    assert result.intent == Intent.FINE
    assert result.attempts == 1
    assert result.answers == {"medicine": Intent.YES, "meal": Intent.NO}
    assert result.transcript == "元気です"


@pytest.mark.parametrize(
    ("slot", "greeting"),
    [("morning", "おはようございます。"), ("noon", "こんにちは。"), ("evening", "こんばんは。")],
)
def test_greeting_follows_the_slot(slot, greeting):
    first = Dialogue(["health"], slot_name=slot).start()
    assert isinstance(first, Say)
    assert first.text.startswith(greeting)


def test_repeat_request_asks_again_slower_and_louder():
    d = Dialogue(["health"], speed=1.0, volume=1.0)
    result, said = run(d, ["え?", "もう一回", "いつも通りです"])
    asks = [s for s in said if s.prompt_key == "ask_health"]
    assert len(asks) == 3
    assert asks[0].speed > asks[1].speed > asks[2].speed
    assert asks[0].volume < asks[1].volume < asks[2].volume
    assert result.outcome == "answered"
    assert result.intent == Intent.USUAL
    assert result.attempts == 3


def test_silence_after_bounded_retries_is_no_response():
    d = Dialogue(["health", "medicine"], max_repeats=2)
    result, said = run(d, [None, None, None, "元気です"])
    assert result.outcome == "no_response"
    assert result.reason == "silent"
    assert result.intent is None
    assert result.attempts == 3
    assert len(said) == 3


def test_never_understood_is_no_response_not_a_guess():
    result, _ = run(Dialogue(["health"], max_repeats=1), ["あいうえお", "かきくけこ"])
    assert result.outcome == "no_response"
    assert result.reason == "not_understood"
    assert result.transcripts == ["あいうえお", "かきくけこ"]


def test_slowing_is_bounded():
    d = Dialogue(["health"], speed=0.7, volume=1.8, max_repeats=5)
    _, said = run(d, [None] * 6)
    assert min(s.speed for s in said) >= 0.6
    assert max(s.volume for s in said) <= 2.0


def test_help_ends_at_once_even_in_a_follow_up():
    d = Dialogue(["health", "medicine", "meal"])
    result, said = run(d, ["元気です", "助けて"])
    assert result.outcome == "help"
    assert result.intent == Intent.HELP
    assert result.health_intent == Intent.FINE
    assert result.farewell
    assert said[-1].prompt_key == "ask_medicine"  # nothing said after the call for help


def test_callback_and_trouble_keep_the_words():
    result, said = run(Dialogue(["health"]), ["娘に電話してほしい"])
    assert result.outcome == "callback"
    assert said[-1].prompt_key == "ack_callback"
    result, _ = run(Dialogue(["health"]), ["病院に連れて行ってほしいんです"])
    assert result.outcome == "trouble"
    assert result.trouble_text == "病院に連れて行ってほしいんです"


def test_unwell_in_a_follow_up_marks_the_resident_unwell():
    result, said = run(Dialogue(["health", "meal"]), ["元気です", "食欲がなくて"])
    assert result.outcome == "answered"
    assert result.intent == Intent.UNWELL
    assert result.answers == {"meal": Intent.NO}
    assert said[-1].prompt_key == "closing"
    assert "お大事に" in said[-1].text


def test_silent_follow_up_is_skipped_not_fatal():
    result, _ = run(Dialogue(["health", "sleep"], max_repeats=1), ["元気", None, None])
    assert result.outcome == "answered"
    assert result.intent == Intent.FINE
    assert result.answers == {}


def test_safety_check():
    d = Dialogue([], kind="safety_check", slot_name="evening")
    result, said = run(d, ["はい、大丈夫です"])
    assert said[0].text == "こんばんは。こちらは見守りサービスです。ご無事ですか。"
    assert result.outcome == "answered"
    assert safety_status(result) == "safe"
    result, _ = run(Dialogue([], kind="safety_check"), ["足をけがして動けない"])
    assert result.outcome == "help"
    assert safety_status(result) == "needs_help"
    result, _ = run(Dialogue([], kind="safety_check"), [None, None, None])
    assert safety_status(result) == "no_answer"


def test_household_prompts_override_defaults():
    d = Dialogue(["health"], prompts={"ask_health": "お元気ですか。"})
    first = d.start()
    assert isinstance(first, Say)
    assert first.text == "おはようございます。お元気ですか。"


def test_misuse_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown questions"):
        Dialogue(["weather"])
    with pytest.raises(ValueError, match="kind must be one of"):
        Dialogue(["health"], kind="chat")
    d = Dialogue(["health"])
    with pytest.raises(RuntimeError):
        d.heard(None)
    d.start()
    with pytest.raises(RuntimeError):
        d.heard(None)


def test_medicine_only_slot_asks_yes_no_first():
    result, said = run(Dialogue(["medicine"], slot_name="medicine"), ["はい、飲みました"])
    assert said[0].text == "こんにちは。お薬は飲みましたか。"
    assert result.outcome == "answered"
    assert result.intent == Intent.YES
    assert result.answers == {"medicine": Intent.YES}


# --- confirmation turn: an answer still unclear after one re-ask gets one yes/no question ------

GARBLED = ["あいうえお", "かきくけこ"]


def test_unclear_twice_then_yes_confirms_the_safety_first_guess():
    result, said = run(Dialogue(["health"]), [*GARBLED, "はい、そうです"])
    keys = [s.prompt_key for s in said]
    assert keys[:3] == ["ask_health", "ask_health", "confirm_unwell"]
    assert said[2].text.endswith("体の具合が悪いということですか。")
    assert said[2].speed < said[0].speed  # said slower, like a re-ask
    assert result.outcome == "answered"
    assert result.intent == Intent.UNWELL
    assert result.confirmed
    assert result.transcripts == [*GARBLED, "はい、そうです"]
    assert result.transcript == GARBLED[-1]  # the words that needed confirming


@pytest.mark.parametrize("reply", ["いいえ", "ちがいます", None, "さしすせそ"])
def test_no_silence_or_another_unclear_reply_records_not_understood(reply):
    result, said = run(Dialogue(["health"]), [*GARBLED, reply])
    assert said[-1].prompt_key == "confirm_unwell"
    assert result.outcome == "no_response"
    assert result.reason == "not_understood"
    assert result.intent is None
    assert not result.confirmed


def test_confirmation_is_asked_once_only():
    result, said = run(Dialogue(["health"], max_repeats=5), [*GARBLED, "いいえ", "たちつてと"])
    assert [s.prompt_key for s in said].count("confirm_unwell") == 1
    assert result.outcome == "no_response"


def test_confirmation_asks_about_what_was_heard():
    # A yes in too much unknown speech: read as fine, but not surely enough to act on.
    unclear = "はい、ほにゃららふにゃふにゃほにゃらら"
    c = classify(unclear, "ja", expect="health")
    assert c.intent == Intent.FINE and not is_acceptable(c)
    result, said = run(Dialogue(["health"]), [unclear, "ほにゃらら", "ええ"])
    assert said[-2].prompt_key == "confirm_fine"
    assert said[-2].text.endswith("お元気ということですか。")
    assert result.outcome == "answered"
    assert result.intent == Intent.FINE and result.confirmed


def test_the_more_serious_reading_is_the_one_confirmed():
    unclear_fine = "はい、ほにゃららふにゃふにゃほにゃらら"
    unclear_unwell = "ぷぷぷぷぷぷぷぷぷぷぷぷ微妙ぷぷぷぷぷぷぷぷぷぷぷぷぷぷぷ"
    assert not is_acceptable(classify(unclear_unwell, "ja", expect="health"))
    _, said = run(Dialogue(["health"]), [unclear_unwell, unclear_fine, "いいえ"])
    assert said[-1].prompt_key == "confirm_unwell"


def test_safety_check_confirmation_asks_whether_someone_should_come():
    result, said = run(Dialogue([], kind="safety_check"), [*GARBLED, "はい"])
    assert said[-1].text.endswith("誰かに来てほしいということですか。")
    assert result.outcome == "help"
    assert result.confirmed
    assert safety_status(result) == "needs_help"


def test_a_new_complaint_in_reply_to_the_confirmation_is_the_answer():
    result, said = run(
        Dialogue(["health", "medicine"]), [*GARBLED, "いや、腰が痛うてかなわん", "はい"]
    )
    assert result.outcome == "answered"
    assert result.intent == Intent.UNWELL
    assert not result.confirmed  # the resident said it in their own words
    assert result.transcript == "いや、腰が痛うてかなわん"
    assert result.answers == {"medicine": Intent.YES}  # the dialogue goes on
    assert "ack_unwell" not in [s.prompt_key for s in said]  # acked inside the next ask
    assert said[-2].prompt_key == "ask_medicine"


def test_a_call_for_help_in_reply_to_the_confirmation_ends_at_once():
    result, said = run(Dialogue(["health"]), [*GARBLED, "それより胸が締め付けられて苦しい"])
    assert result.outcome == "help"
    assert said[-1].prompt_key == "confirm_unwell"


def test_a_reassurance_in_reply_to_the_confirmation_is_taken_as_said():
    result, _ = run(Dialogue(["health"]), [*GARBLED, "いえいえ、元気です"])
    assert result.outcome == "answered"
    assert result.intent == Intent.FINE


def test_confirmation_comes_when_re_asks_run_out():
    result, said = run(Dialogue(["health"], max_repeats=0), ["あいうえお", "うん"])
    assert [s.prompt_key for s in said][:2] == ["ask_health", "confirm_unwell"]
    assert result.intent == Intent.UNWELL and result.confirmed


def test_yes_with_a_more_serious_complaint_keeps_the_complaint():
    unclear = "はい、ほにゃららふにゃふにゃほにゃらら"  # read as a doubtful fine
    result, said = run(Dialogue(["health"]), [unclear, unclear, "はい、でも腰も痛うて"])
    assert said[2].prompt_key == "confirm_fine"
    assert result.intent == Intent.UNWELL
    assert not result.confirmed


def test_gateway_runner_plays_the_confirmation_and_reports_the_confirmed_intent():
    voice = TextVoice([*GARBLED, "はい"])
    dialogue = Dialogue(["health"], kind="checkin", lang="ja", slot_name="morning")
    result = asyncio.run(run_dialogue(voice, dialogue))
    assert result.outcome == "answered" and result.confirmed
    events = checkin_events(result, SlotContext(slot="morning", slot_date=None, attempt=0))
    kinds = [kind for kind, _ in events]
    assert kinds == [EventKind.CHECKIN_ANSWERED]
    assert events[0][1].intent == Intent.UNWELL


def test_a_yes_qualified_by_an_unknown_complaint_is_asked_again_then_confirmed():
    # 飲んだけど + words the lexicon does not know: not recorded as a plain yes (safety first).
    # (ぞわっと, not ぞわぞわ: a doubled sound word after a body part is [sensation], unwell)
    # The rules alone (classify): the mechanism for an unsure reading, whatever the model says.
    answers = ["飲んだけど なんや背中がぞわっとする", "飲んだけど ずっとぞわっとしとる", "はい"]
    dialogue = Dialogue(["medicine"], slot_name="medicine", classifier=classify, guesser=None)
    result, said = run(dialogue, answers)
    keys = [s.prompt_key for s in said]
    assert keys[:3] == ["ask_medicine", "ask_medicine", "confirm_unwell"]
    assert result.intent == Intent.UNWELL
    assert result.confirmed


def test_a_reassurance_with_words_we_do_not_understand_is_confirmed_safety_first():
    # 元気 + content words the lexicon does not know ([unsure]): not a silent fine; the
    # confirmation asks the safety-first question, not 「お元気ということですか」.
    # The rules alone, no model guess: the safety-first default of the mechanism.
    unsure = "元気だよ、夕べ裏の沢で地鳴りがしてな"
    dialogue = Dialogue(["health"], classifier=classify, guesser=None)
    result, said = run(dialogue, [unsure, unsure, "はい"])
    keys = [s.prompt_key for s in said]
    assert keys[:3] == ["ask_health", "ask_health", "confirm_unwell"]
    assert result.intent == Intent.UNWELL and result.confirmed


def test_the_product_reader_answers_a_yes_with_a_complaint_the_lexicon_lacks():
    # The default reader (speech.understanding.understand): the learned model reads the
    # complaint the rules only found unsure, so the resident is not asked again.
    result, said = run(
        Dialogue(["medicine"], slot_name="medicine"), ["飲んだけど なんや背中がぞわっとする"]
    )
    assert [s.prompt_key for s in said][:2] == ["ask_medicine", "closing"]
    assert result.health_intent == Intent.UNWELL and not result.confirmed


def test_the_confirmation_asks_about_the_models_reading_of_an_unclear_answer():
    # Rules unsure and the model not sure enough to answer (a stub reader below both
    # thresholds), but its most likely confirmable reading is trouble: that is asked.
    def unsure(text, lang, *, expect):
        if text == "はい":
            return Classification(Intent.YES, 1.0, ("はい",), False)
        return Classification(Intent.UNKNOWN, 0.0, (), True)

    def guess(text, lang, *, expect, among):
        return Intent.TROUBLE

    dialogue = Dialogue(["health"], classifier=unsure, guesser=guess)
    result, said = run(dialogue, ["みずがでん", "みずがでんのよ", "はい"])
    assert "confirm_trouble" in [s.prompt_key for s in said]
    assert result.outcome == "trouble" and result.confirmed


def test_an_alarm_the_rules_lean_to_is_confirmed_whatever_the_model_guesses():
    def unsure_unwell(text, lang, *, expect):
        if text == "はい":
            return Classification(Intent.YES, 1.0, ("はい",), False)
        return Classification(Intent.UNWELL, 0.3, ("rules",), True)

    def calm(text, lang, *, expect, among):
        return Intent.FINE

    dialogue = Dialogue(["health"], classifier=unsure_unwell, guesser=calm)
    result, said = run(dialogue, ["ううん", "ううん", "はい"])
    assert "confirm_unwell" in [s.prompt_key for s in said]
    assert result.intent == Intent.UNWELL and result.confirmed


def _disputed_reader(text, lang, *, expect):
    """A reader that disputes every answer but yes/no: the rules read fine, the model unwell."""
    if text in ("はい", "いいえ"):
        intent = Intent.YES if text == "はい" else Intent.NO
        return Classification(intent, 1.0, (text,), False)
    evidence = ("大丈夫", "rules:fine", "disputed:unwell")
    return Classification(Intent.UNKNOWN, 0.0, evidence, True)


def _guess_unwell(text, lang, *, expect, among):
    return Intent.UNWELL


def test_a_no_to_the_models_alarm_settles_a_dispute_for_the_rules_reading():
    dialogue = Dialogue(["health"], classifier=_disputed_reader, guesser=_guess_unwell)
    result, said = run(dialogue, ["胸も苦しゅうない", "胸も苦しゅうないよ", "いいえ"])
    keys = [s.prompt_key for s in said]
    assert keys[:3] == ["ask_health", "ask_health", "confirm_unwell"]
    assert result.outcome == "answered" and result.intent == Intent.FINE
    assert not result.confirmed


def test_a_yes_to_the_models_alarm_makes_a_disputed_answer_that_alarm():
    dialogue = Dialogue(["health"], classifier=_disputed_reader, guesser=_guess_unwell)
    result, _ = run(dialogue, ["胸がなんか", "胸がなんかね", "はい"])
    assert result.intent == Intent.UNWELL and result.confirmed


def test_a_no_to_a_calm_hypothesis_never_settles_for_calm():
    def guess_fine(text, lang, *, expect, among):
        return Intent.FINE

    dialogue = Dialogue(["health"], classifier=_disputed_reader, guesser=guess_fine)
    result, said = run(dialogue, ["胸がなんか", "胸がなんかね", "いいえ"])
    assert "confirm_fine" in [s.prompt_key for s in said]
    assert result.outcome == "no_response" and result.reason == "not_understood"


_PLAIN = {
    "はい": Intent.YES,
    "いいえ": Intent.NO,
    "元気です": Intent.FINE,
    "飲んだよ": Intent.YES,
    "いや、頭が痛い": Intent.UNWELL,
}


def _alarm_disputed_reader(text, lang, *, expect):
    """The rules read unwell (a word inside another: くだしまっし), the model very surely fine."""
    if text in _PLAIN:
        return Classification(_PLAIN[text], 0.9, (text,), False)
    if text.startswith("えーと"):
        return Classification(Intent.UNKNOWN, 0.0, (), True)
    evidence = ("くだす", "rules:unwell", "disputed:fine")
    return Classification(Intent.UNKNOWN, 0.0, evidence, True)


ALARM_DISPUTED = "元気やじー 心配せんといてくだしまっし"


@pytest.mark.parametrize(
    ("reply", "outcome", "intent"),
    [
        ("いいえ", "answered", Intent.FINE),  # only the resident's no lowers the alarm
        ("はい", "answered", Intent.UNWELL),
        (None, "answered", Intent.UNWELL),  # silence: the rules' alarm stands
        ("えーと", "answered", Intent.UNWELL),  # unclear: it stands too
        ("いや、頭が痛い", "answered", Intent.UNWELL),
    ],
)
def test_a_disputed_unwell_is_confirmed_at_once_and_only_a_no_lowers_it(reply, outcome, intent):
    dialogue = Dialogue(["health"], classifier=_alarm_disputed_reader)
    result, said = run(dialogue, [ALARM_DISPUTED, reply])
    keys = [s.prompt_key for s in said]
    assert keys[:2] == ["ask_health", "confirm_unwell"]  # no re-ask that silence could end
    assert result.outcome == outcome and result.intent == intent


def test_a_disputed_unwell_in_a_safety_check_asks_about_the_unwell():
    dialogue = Dialogue([], kind="safety_check", classifier=_alarm_disputed_reader)
    result, said = run(dialogue, [ALARM_DISPUTED, None])
    assert "confirm_unwell" in [s.prompt_key for s in said]
    assert safety_status(result) == "needs_help"


def test_a_disputed_unwell_to_a_follow_up_question_stands():
    dialogue = Dialogue(["health", "medicine"], classifier=_alarm_disputed_reader)
    result, said = run(dialogue, ["元気です", ALARM_DISPUTED])
    assert "confirm_unwell" not in [s.prompt_key for s in said]
    assert result.health_intent == Intent.UNWELL


@pytest.mark.parametrize(
    ("answer", "recorded"),
    [
        ("飲んだけど なんや胸やけがひどうてなあ", Intent.YES),
        ("飲んだよ、でも頭が痛うてかなわん", Intent.YES),
        ("まだ飲んどらん、手が震えてな", Intent.NO),
        ("頭が痛うて", Intent.NO),  # no yes/no word: recorded as not taken, as before
    ],
)
def test_a_complaint_beside_a_yes_keeps_the_yes(answer, recorded):
    # The family's report must not say the medicine was not taken when the resident said it
    # was; the complaint still makes the check-in unwell.
    result, _ = run(Dialogue(["health", "medicine"]), ["元気です", answer])
    assert result.answers["medicine"] == recorded
    assert result.health_intent == Intent.UNWELL


def test_a_medicine_only_slot_records_the_yes_beside_a_complaint():
    dialogue = Dialogue(["medicine"], slot_name="medicine")
    result, _ = run(dialogue, ["飲んだけど なんや胸やけがひどうてなあ"])
    assert result.answers["medicine"] == Intent.YES and result.health_intent == Intent.UNWELL
