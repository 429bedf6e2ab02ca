"""The check-in conversation as a pure state machine: it says what to do, never does it.

Runner loop (the gateway owns the I/O):

    action = d.start()
    while not isinstance(action, Finished):
        if isinstance(action, Say):
            await voice.say(action.text, speed=action.speed, volume=action.volume)
            action = d.spoken()
        else:
            action = d.heard(await voice.listen(timeout_s=action.timeout_s, expect=action.expect))

ask -> listen -> classify -> (acknowledge and ask the next question) or (ask again, slower
and louder, at most `max_repeats` times) -> result. A call for help ends the dialogue at once
so the gateway can raise the alarm before anything else is said.

Confirmation turn: when the main question's answer is still unclear after one re-ask (or the
re-asks run out), the dialogue asks one targeted yes/no question built from what was heard
(「体の具合が悪いということですか。」): an alarm the rules lean to (help/unwell), else the learned
model's most probable confirmable reading (speech/understanding.py `best_guess`), the most
serious over the unclear answers; no reading at all -> the safety-first guess (unwell for a
check-in, help for a safety check). A yes makes it that intent; a no, silence
or another unclear answer records `not_understood` as before; a new answer (「いや、腰が痛い」,
「胸が苦しい」) is taken as the answer itself. A disputed answer (speech/fallback.py `disputed`)
is confirmed about its alarm: where the rules read a reassurance, a no settles it for them;
where the rules read unwell and the model a reassurance, the question comes at once (no
re-ask) and only a no lowers the alarm: silence or anything unclear keeps it.

Classifier faults: the dialogue never loses an answer to one. If classification raises, the
answer is not understood (re-ask, then the confirmation turn; a safety check confirms help
first, and so does any answer whose words include a help phrase); the fault is logged (kind
and place, never the words) and counted in `DialogueResult.classifier_faults`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mimamori_rules import outcomes as outcome_rules
from mimamori_rules.outcomes import SafetyStatus
from mimamori_wire import Intent, Question
from speech.fallback import Dispute, disputed
from speech.intents import (
    MIN_CONFIDENCE,
    Classification,
    fault_origin,
    help_words_heard,
    is_acceptable,
    yes_no_heard,
)
from speech.ports import Heard
from speech.understanding import best_guess, understand

log = logging.getLogger(__name__)

Classifier = Callable[..., Classification]  # understand(text, lang, expect=...)
# best_guess(text, lang, expect=..., among=...): the confirmation's hypothesis, or None
Guesser = Callable[..., Intent | None]

Outcome = Literal["answered", "no_response", "help", "callback", "trouble"]
KINDS = ("checkin", "safety_check")

# Natural polite Japanese; a household's config may override any key (GatewayConfig.prompts).
DEFAULT_PROMPTS: dict[str, str] = {
    "greeting_morning": "おはようございます。",
    "greeting_day": "こんにちは。",
    "greeting_evening": "こんばんは。",
    "safety_intro": "こちらは見守りサービスです。",
    "ask_health": "今日の体調はいかがですか。",
    "ask_medicine": "お薬は飲みましたか。",
    "ask_meal": "お食事は召し上がりましたか。",
    "ask_sleep": "昨夜はよく眠れましたか。",
    "ask_safety": "ご無事ですか。",
    "retry_silent": "もしもし、聞こえますか。もう一度お聞きします。",
    "retry_repeat": "もう一度、ゆっくりお聞きしますね。",
    "retry_unclear": "すみません、よく聞き取れませんでした。もう一度お願いします。",
    "ack_fine": "それはよかったです。",
    "ack_usual": "いつも通りですね。安心しました。",
    "ack_unwell": "それは心配ですね。ご家族と郵便局にお知らせしておきます。",
    "ack_answer": "はい、わかりました。",
    "ack_safe": "ご無事でよかったです。",
    "ack_help": "すぐにご家族と郵便局に連絡します。そのままお待ちください。",
    "ack_callback": "わかりました。お電話するよう伝えておきます。",
    "ack_trouble": "わかりました。お困りごとを担当の者に伝えておきます。",
    "confirm_intro": "すみません、確認させてください。",
    "confirm_unwell": "体の具合が悪いということですか。",
    "confirm_help": "誰かに来てほしいということですか。",
    "confirm_trouble": "何かお困りのことがあるということですか。",
    "confirm_callback": "お電話がほしいということですか。",
    "confirm_fine": "お元気ということですか。",
    "confirm_usual": "いつも通りということですか。",
    "closing": "ありがとうございました。どうぞお元気でお過ごしください。",
    "closing_unwell": "ありがとうございました。どうぞお大事になさってください。",
}

_FOLLOW_UPS = frozenset({Question.MEDICINE.value, Question.MEAL.value, Question.SLEEP.value})
# What a confirmation may ask about, most serious first (the better guess wins).
_CONFIRMABLE = (
    Intent.HELP,
    Intent.UNWELL,
    Intent.TROUBLE,
    Intent.CALLBACK,
    Intent.FINE,
    Intent.USUAL,
)
_ALARMS = (Intent.HELP, Intent.UNWELL, Intent.TROUBLE, Intent.CALLBACK)
# A confirmed guess is as sure as a clear answer, no surer: the resident said yes to our words.
CONFIRMED_CONFIDENCE = 0.8
_SLOWER_PER_RETRY = 0.15
_LOUDER_PER_RETRY = 0.25
MIN_SPEED = 0.6
MAX_VOLUME = 2.0


@dataclass(frozen=True)
class Say:
    text: str
    speed: float
    volume: float
    prompt_key: str


@dataclass(frozen=True)
class Listen:
    timeout_s: float
    expect: str


@dataclass
class DialogueResult:
    outcome: Outcome
    intent: Intent | None
    confidence: float
    attempts: int  # how many times the main question was asked
    answers: dict[str, Intent]  # follow-up question name -> yes/no
    transcript: str | None
    trouble_text: str | None
    # Additions beyond the agreed API:
    reason: Literal["silent", "not_understood"] | None = None  # for no_response
    farewell: str | None = None  # for help: what the gateway may say after raising the alarm
    transcripts: list[str] = field(default_factory=list)  # every utterance heard, in order
    # The health answer if one was given before a callback/trouble/help ended the dialogue.
    health_intent: Intent | None = None
    confirmed: bool = False  # the intent comes from a yes to the confirmation question
    classifier_faults: int = 0  # answers the classifier raised on (read as not understood)


@dataclass(frozen=True)
class Finished:
    result: DialogueResult


Action = Say | Listen | Finished


def greeting_key(slot_name: str) -> str:
    """Which greeting fits a slot: names like morning/朝 -> おはようございます, evening/night/夜
    -> こんばんは, anything else -> こんにちは."""
    name = slot_name.lower()
    if any(w in name for w in ("morning", "wake", "朝", "あさ")):
        return "greeting_morning"
    if any(w in name for w in ("evening", "night", "夜", "夕", "晩")):
        return "greeting_evening"
    return "greeting_day"


def safety_status(result: DialogueResult) -> SafetyStatus:
    """Map a safety check's result onto SafetyCheckAnswered.status: the rule book's rule
    (mimamori_rules.outcomes), so an unclear answer needs a human here as on the gateway."""
    return outcome_rules.safety_status(result.outcome, result.intent)


def _more_serious(a: Intent, b: Intent) -> bool:
    """Whether `a` comes before `b` in the safety order of _CONFIRMABLE (others rank last)."""

    def rank(i: Intent) -> int:
        return _CONFIRMABLE.index(i) if i in _CONFIRMABLE else len(_CONFIRMABLE)

    return rank(a) < rank(b)


def _alarm_stands(d: Dispute, c: Classification | None = None) -> Classification:
    """The rules' alarm of a dispute nobody settled, acted on as heard."""
    evidence = (*(c.evidence if c else ()), "dispute:alarm_stands")
    return Classification(d.alarm, MIN_CONFIDENCE, evidence, False)


class Dialogue:
    """One conversation. Not reusable: make a new Dialogue per check-in."""

    def __init__(
        self,
        questions: list[str],
        *,
        kind: str = "checkin",
        lang: str = "ja",
        prompts: dict[str, str] | None = None,
        speed: float = 1.0,
        volume: float = 1.0,
        max_repeats: int = 2,
        listen_timeout_s: float = 10.0,
        slot_name: str = "morning",
        classifier: Classifier = understand,
        guesser: Guesser | None = best_guess,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        valid = {q.value for q in Question}
        unknown = [q for q in questions if q not in valid]
        if unknown:
            raise ValueError(f"unknown questions {unknown}; use {sorted(valid)}")
        if max_repeats < 0:
            raise ValueError("max_repeats must be >= 0")
        self.kind = kind
        self.lang = lang
        self.prompts = {**DEFAULT_PROMPTS, **(prompts or {})}
        self.speed = speed
        self.volume = volume
        self.max_repeats = max_repeats
        self.listen_timeout_s = listen_timeout_s
        self.slot_name = slot_name
        self.classifier = classifier
        self.guesser = guesser
        self.classifier_faults = 0
        self.questions = self._plan(list(dict.fromkeys(questions)))
        self._index = 0  # current question
        self._asks = 0  # times the current question was asked
        self._main_attempts = 0
        self._last_miss: str = "silent"
        self._pending: Action | None = None  # what follows the Say being played
        self._state: Literal["new", "saying", "listening", "done"] = "new"
        self._health: Classification | None = None
        self._answers: dict[str, Intent] = {}
        self._transcripts: list[str] = []
        self._main_transcript: str | None = None
        self._unclear = 0  # unclear answers to the main question
        self._guess: Intent | None = None  # best reading of them, for the confirmation
        # The two readings of a disputed answer (speech/fallback.py `disputed`): a no to the
        # confirmation of its alarm settles it for the calm reading.
        self._dispute: Dispute | None = None
        self._unclear_text: str | None = None
        self._confirming: Intent | None = None  # the intent the pending confirmation asks
        self._confirm_asked = False
        self._confirmed = False

    def _plan(self, questions: list[str]) -> list[str]:
        if self.kind == "safety_check":
            return ["safety"]
        # The health question is the one the escalation depends on: ask it first.
        main = [Question.HEALTH.value] if Question.HEALTH.value in questions else []
        return main + [q for q in questions if q != Question.HEALTH.value] or ["health"]

    # --- public steps ---------------------------------------------------------------------

    def start(self) -> Action:
        if self._state != "new":
            raise RuntimeError("start() may be called once")
        opening = self._prompt(greeting_key(self.slot_name))
        if self.kind == "safety_check":
            opening += self._prompt("safety_intro")
        return self._ask(opening)

    def spoken(self) -> Action:
        if self._state != "saying" or self._pending is None:
            raise RuntimeError("spoken() is only valid after a Say")
        action, self._pending = self._pending, None
        self._state = "listening" if isinstance(action, Listen) else "done"
        return action

    def heard(self, heard: Heard | None) -> Action:
        if self._state != "listening":
            raise RuntimeError("heard() is only valid after a Listen")
        if self._confirming is not None:
            return self._confirmation_answer(heard)
        if heard is None or not heard.text.strip():
            self._last_miss = "silent"
            return self._retry("retry_silent")
        self._transcripts.append(heard.text)
        c = self._classify(heard.text, self._expect())
        if c.intent == Intent.HELP:
            return self._finish("help", c, transcript=heard.text, farewell="ack_help")
        if c.intent == Intent.REPEAT:
            return self._retry("retry_repeat")
        dispute = disputed(c)
        if dispute is not None and dispute.rules_alarm:
            return self._disputed_alarm(dispute, c, heard.text)
        if not is_acceptable(c):
            self._last_miss = "not_understood"
            if self._is_main():
                self._note_unclear(c, heard.text)
                if self._unclear >= 2 and not self._confirm_asked:
                    return self._confirm()
            return self._retry("retry_unclear")
        return self._act_on(c, heard.text)

    # --- internals ------------------------------------------------------------------------

    def _classify(self, text: str, expect: str) -> Classification:
        """The classifier's reading; a fault is an answer not understood, never a crash."""
        try:
            return self.classifier(text, self.lang, expect=expect)
        except Exception as exc:
            self.classifier_faults += 1
            log.error(
                "classifier.fault",
                extra={"origin": fault_origin(exc), "expect": expect, "kind": self.kind},
            )
            if self._is_main() and self._safe_help_reading(text):
                self._guess = Intent.HELP  # the confirmation asks about help first
            return Classification(Intent.UNKNOWN, 0.0, ("classifier_fault",), True)

    def _safe_help_reading(self, text: str) -> bool:
        try:
            return help_words_heard(text, self.lang)
        except Exception:  # the lexicon itself is broken: the default guess stays
            return False

    def _act_on(self, c: Classification, text: str) -> Action:
        if c.intent == Intent.HELP:
            return self._finish("help", c, transcript=text, farewell="ack_help")
        if c.intent == Intent.CALLBACK:
            return self._say_then_finish("ack_callback", "callback", c, text)
        if c.intent == Intent.TROUBLE:
            return self._say_then_finish("ack_trouble", "trouble", c, text)
        return self._accept(c, text)

    # --- confirmation turn ----------------------------------------------------------------

    def _disputed_alarm(self, dispute: Dispute, c: Classification, text: str) -> Action:
        """The rules' unwell against the model's reassurance: confirmed at once on the main
        question (a re-ask could end in silence and lose the alarm); elsewhere it stands."""
        if self._is_main() and not self._confirm_asked:
            self._last_miss = "not_understood"
            self._note_unclear(c, text)
            return self._confirm()
        return self._act_on(_alarm_stands(dispute, c), text)

    def _note_unclear(self, c: Classification, text: str) -> None:
        self._unclear += 1
        self._unclear_text = text
        guess = self._hypothesis(c, text)
        self._dispute = disputed(c)
        if guess in _CONFIRMABLE and (self._guess is None or _more_serious(guess, self._guess)):
            self._guess = guess

    def _hypothesis(self, c: Classification, text: str) -> Intent:
        """What this unclear answer most likely meant: an alarm the rules lean to stands
        (safety first); otherwise the learned model's best confirmable reading, which was
        right about five times as often as the rules' unsure reading (docs/benchmarks.md)."""
        if c.intent in (Intent.HELP, Intent.UNWELL) or self.guesser is None:
            return c.intent
        dispute = disputed(c)
        if dispute is not None and dispute.rules_alarm:
            return dispute.alarm
        try:
            guess = self.guesser(text, self.lang, expect=self._expect(), among=_CONFIRMABLE)
        except Exception:  # the hypothesis is a nicety; the rules' reading stands
            return c.intent
        return guess or c.intent  # None: too unsure; the safety-first default is asked

    def _confirm(self) -> Say:
        """One yes/no question about the best reading of what was heard."""
        default = Intent.HELP if self.kind == "safety_check" else Intent.UNWELL
        self._confirming = self._guess or default
        self._confirm_asked = True
        key = f"confirm_{self._confirming.value}"
        speed = max(MIN_SPEED, self.speed - _SLOWER_PER_RETRY)
        volume = min(MAX_VOLUME, self.volume * (1 + _LOUDER_PER_RETRY))
        self._pending = Listen(timeout_s=self.listen_timeout_s, expect="any")
        self._state = "saying"
        text = self._prompt("confirm_intro") + self._prompt(key)
        return Say(text, round(speed, 3), round(volume, 3), key)

    def _confirmation_answer(self, heard: Heard | None) -> Action:
        guess, self._confirming = self._confirming, None
        assert guess is not None
        self._last_miss = "not_understood"  # silence after speech was heard is still unclear
        if heard is None or not heard.text.strip():
            return self._unanswered()
        text = heard.text
        self._transcripts.append(text)
        c = self._classify(text, "any")
        if c.intent == Intent.HELP:
            return self._finish("help", c, transcript=text, farewell="ack_help")
        said = self._own_answer(text, c)
        if c.intent == Intent.YES and is_acceptable(c):
            if said is None or _more_serious(guess, said.intent):
                return self._confirmed_as(guess, c)
            return self._act_on(said, text)  # はい、腰も痛うて: their words are more serious
        d = self._dispute
        settles = d is not None and (guess == d.alarm if d.rules_alarm else guess in _ALARMS)
        if said is None and c.intent == Intent.NO and is_acceptable(c) and settles:
            # 「体の具合が悪いということですか」「いいえ」: the resident settled the dispute for
            # its calm reading (the rules' reassurance, or the model's against the rules' unwell).
            assert d is not None
            evidence = (*c.evidence, f"dispute:{'model' if d.rules_alarm else 'rules'}")
            settled = Classification(d.calm, CONFIRMED_CONFIDENCE, evidence, False)
            return self._act_on(settled, self._unclear_text or "")
        if said is None:  # no, silence-like, unclear or another repeat request
            return self._unanswered()
        return self._act_on(said, text)

    def _unanswered(self) -> Action:
        """No answer to the confirmation: a disputed alarm of the rules stands (only a no
        lowers it); anything else is not understood."""
        d = self._dispute
        if d is not None and d.rules_alarm:
            return self._act_on(_alarm_stands(d), self._unclear_text or "")
        return self._finish_now(self._no_response())  # いや、腰が痛い / いえいえ、元気です

    def _own_answer(self, text: str, c: Classification) -> Classification | None:
        """What the reply says beyond yes/no, read as an answer to the main question.

        A bare いいえ maps to `unwell` for the health question; that mapping must not turn
        "no, that is not what I meant" into an answer, so a reading that rests only on the
        yes/no words (same evidence) does not count."""
        answer = self._classify(text, self._expect())
        if not is_acceptable(answer) or answer.intent == Intent.REPEAT:
            return None
        if c.intent in (Intent.YES, Intent.NO) and answer.evidence == c.evidence:
            return None
        return answer

    def _confirmed_as(self, guess: Intent, c: Classification) -> Action:
        self._confirmed = True
        evidence = (*c.evidence, f"confirmed:{guess.value}")
        confirmed = Classification(guess, CONFIRMED_CONFIDENCE, evidence, False)
        return self._act_on(confirmed, self._unclear_text or "")

    @property
    def _question(self) -> str:
        return self.questions[self._index]

    def _is_main(self) -> bool:
        return self._index == 0

    def _expect(self) -> str:
        if self._question == "safety":
            return "safety"
        return "health" if self._question == Question.HEALTH.value else "yesno"

    def _prompt(self, key: str) -> str:
        return self.prompts.get(key, DEFAULT_PROMPTS.get(key, ""))

    def _ask(self, prefix: str = "") -> Say:
        """Ask the current question; each repeat is slower and louder, within bounds."""
        retry = self._asks
        self._asks += 1
        if self._is_main():
            self._main_attempts += 1
        key = f"ask_{self._question}"
        speed = max(MIN_SPEED, self.speed - _SLOWER_PER_RETRY * retry)
        volume = min(MAX_VOLUME, self.volume * (1 + _LOUDER_PER_RETRY * retry))
        self._pending = Listen(timeout_s=self.listen_timeout_s, expect=self._expect())
        self._state = "saying"
        return Say(prefix + self._prompt(key), round(speed, 3), round(volume, 3), key)

    def _retry(self, prefix_key: str) -> Action:
        if self._asks <= self.max_repeats:
            return self._ask(self._prompt(prefix_key))
        if self._is_main():
            if self._last_miss == "not_understood" and self._unclear and not self._confirm_asked:
                return self._confirm()  # the re-asks ran out on unclear answers
            return self._finish_now(self._no_response())
        # A follow-up nobody answered: keep what we have and move on.
        return self._next_question("")

    def _accept(self, c: Classification, text: str) -> Action:
        if self._is_main():
            self._health = c
            self._main_transcript = text
            if self._question in _FOLLOW_UPS and c.intent in (Intent.YES, Intent.NO):
                # A medicine-only slot: the first question is a yes/no one.
                self._answers[self._question] = c.intent
            elif self._question in _FOLLOW_UPS and c.intent == Intent.UNWELL:
                said = self._yes_no(text)
                if said is not None:
                    self._answers[self._question] = said
            return self._next_question(self._prompt(self._ack_key(c.intent)))
        if c.intent == Intent.UNWELL:
            # 食欲がない in answer to a meal question: a no, and a sign the resident is unwell;
            # 飲んだけど胸やけが… : a yes, and unwell. Without a yes/no word: a no.
            self._answers[self._question] = self._yes_no(text) or Intent.NO
            if self._health is None or self._health.intent != Intent.UNWELL:
                self._health = c
            return self._next_question(self._prompt("ack_unwell"))
        self._answers[self._question] = (
            c.intent if c.intent in (Intent.YES, Intent.NO) else Intent.YES
        )
        return self._next_question(self._prompt("ack_answer"))

    def _yes_no(self, text: str) -> Intent | None:
        """The plain yes/no beside a complaint (speech.intents.yes_no_heard); None on a fault."""
        try:
            return yes_no_heard(text, self.lang)
        except Exception:
            return None

    def _ack_key(self, intent: Intent) -> str:
        if self.kind == "safety_check":
            return "ack_unwell" if intent in (Intent.UNWELL, Intent.NO) else "ack_safe"
        return {
            Intent.FINE: "ack_fine",
            Intent.USUAL: "ack_usual",
            Intent.UNWELL: "ack_unwell",
        }.get(intent, "ack_answer")

    def _next_question(self, prefix: str) -> Action:
        self._index += 1
        self._asks = 0
        if self._index < len(self.questions):
            return self._ask(prefix)
        unwell = self._health is not None and self._health.intent == Intent.UNWELL
        closing = self._prompt("closing_unwell" if unwell else "closing")
        self._pending = Finished(self._answered())
        self._state = "saying"
        return Say(prefix + closing, self.speed, self.volume, "closing")

    def _say_then_finish(self, key: str, outcome: Outcome, c: Classification, text: str) -> Say:
        result = self._result(outcome, c, transcript=text)
        if outcome == "trouble":
            result.trouble_text = text
        self._pending = Finished(result)
        self._state = "saying"
        return Say(self._prompt(key), self.speed, self.volume, key)

    def _finish(
        self, outcome: Outcome, c: Classification, *, transcript: str, farewell: str
    ) -> Finished:
        result = self._result(outcome, c, transcript=transcript)
        result.farewell = self._prompt(farewell)
        return self._finish_now(result)

    def _finish_now(self, result: DialogueResult) -> Finished:
        self._state = "done"
        self._pending = None
        return Finished(result)

    def _result(
        self, outcome: Outcome, c: Classification | None, *, transcript: str | None
    ) -> DialogueResult:
        return DialogueResult(
            outcome=outcome,
            intent=c.intent if c else None,
            confidence=c.confidence if c else 0.0,
            attempts=max(self._main_attempts, 1),
            answers=dict(self._answers),
            transcript=transcript,
            trouble_text=None,
            transcripts=list(self._transcripts),
            health_intent=self._health.intent if self._health else None,
            confirmed=self._confirmed,
            classifier_faults=self.classifier_faults,
        )

    def _answered(self) -> DialogueResult:
        return self._result("answered", self._health, transcript=self._main_transcript)

    def _no_response(self) -> DialogueResult:
        result = self._result("no_response", None, transcript=None)
        result.reason = self._last_miss  # type: ignore[assignment]
        return result
