"""Intent matching for the resident's answers: pure, data-driven, no I/O after loading.

The words live in `speech/lexicon/<lang>.toml` (see the comments there). A municipality adds
dialect words with its own TOML file, given by `configure(lang, extra_files=[...])` or the
environment variable MIMAMORI_LEXICON_EXTRA (paths separated by os.pathsep).

Matching, in short (docs/speech.md, "How an answer is understood"): normalise (NFKC,
katakana -> hiragana, drop spaces and punctuation) and analyse morphologically
(speech.morphology); find every lexicon phrase on the surface and every `lemmas` entry on the
base forms; extend each surface hit by a negation ending that follows it (元気 + じゃない);
keep the longest non-overlapping hits; apply the scope rules (a statement negated as a whole
flips: 元気とは言えない; a help word in a refusing clause is cancelled: 救急車なんか呼ばんで
ええ; a hedged reassurance is not fine: 一応元気); then decide by a priority list (help and
unwell beat reassurance). A reassurance qualified by "but" and words we do not know
(元気だけど目やにが続く) is read as the lexicon's [qualify] intent (unwell): safety first.
Confidence grows with how much of the utterance the hits explain; an utterance with words we
do not understand gets a lower confidence. Without the analyser the surface rules work alone.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import tomllib
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mimamori_wire import Intent
from speech.morphology import Analysis, Token, analyse

LEXICON_DIR = Path(__file__).parent / "lexicon"
EXPECTS = ("health", "yesno", "safety", "any")
NEUTRAL = "neutral"
CANCEL = "cancel"
# Below this the dialogue asks again rather than guess.
MIN_CONFIDENCE = 0.5
# Groups whose hits may explain their clause for [unsure]: neutral words and verdicts said
# with the story they sum up (植木鉢が転んだだけよ: the small thing is the verdict's own clause).
_MAY_EXPLAIN = frozenset({NEUTRAL, "fine", "usual"})

_PUNCT_RE = re.compile(r"[\s、。，．,.!！?？・…「」『』（）()\[\]〜~ｰ―-]+")
_LONG_VOWEL_RE = re.compile(r"ー{2,}")
# A small vowel (えれぇ, いらねぇ, はぁ, 出ぇへん) is spelt either way by residents and
# recognisers: folded to the full vowel so one lexicon entry covers both. Unconditional, so
# that each morphological token folds as the whole text does.
_SMALL_TO_FULL = {"ぁ": "あ", "ぃ": "い", "ぅ": "う", "ぇ": "え", "ぉ": "お"}
_ALT_RE = re.compile(r"\(([^()]*)\)")
# Kanji variants residents and writers use for the same verb (呑んだ = 飲んだ, 喰った =
# 食った): one character for one, so folded spans stay aligned with the analysis.
_KANJI_VARIANTS = {"呑": "飲", "喰": "食"}
# One pass for the character mappings of fold(): katakana -> hiragana, small vowels -> full
# ones, kanji variants (a translate table: fold() runs on every lexicon phrase at load).
_FOLD_TABLE = str.maketrans(
    {
        **{chr(c): _SMALL_TO_FULL.get(chr(c - 0x60), chr(c - 0x60)) for c in range(0x30A1, 0x30F7)},
        **_SMALL_TO_FULL,
        **_KANJI_VARIANTS,
    }
)
# A lengthened last vowel (治ったー, 元気だよー, えー?) says nothing: dropped at the end of the
# answer and before punctuation or a space, after hiragana or kanji only (レスキュー, コーヒー
# keep theirs). Done on the raw text, so that the analysis and fold() see the same answer.
_LENGTHENED_END_RE = re.compile(
    r"(?<=[\u3041-\u309f\u4e00-\u9fff])[ー〜~]+(?=[\s、。，．,.!！?？…」』]|$)"
)


class LexiconError(ValueError):
    """A lexicon file that cannot be used; the message names the file and the entry."""


def fold(text: str) -> str:
    """Normalise text for matching: NFKC, katakana -> hiragana, no spaces or punctuation.

    vosk's Japanese output has spaces between words ("元気 です"); residents' words may come
    in any script. Hiragana is the common ground; kanji stay kanji (the lexicon lists both).
    """
    text = unicodedata.normalize("NFKC", text).lower().translate(_FOLD_TABLE)
    return _LONG_VOWEL_RE.sub("ー", _PUNCT_RE.sub("", text))


def drop_lengthening(text: str) -> str:
    """治ったー -> 治った, そうだよー、元気 -> そうだよ、元気 (see _LENGTHENED_END_RE)."""
    return _LENGTHENED_END_RE.sub("", unicodedata.normalize("NFKC", text))


def normalise_asr(text: str) -> str:
    """Join vosk's spaced Japanese/Korean words back into running text (kept for display).

    Spaces between two Latin/digit runs are kept ("OK Google" stays readable).
    """
    text = unicodedata.normalize("NFKC", text).strip()
    return re.sub(r"(?<![A-Za-z0-9])\s+|\s+(?![A-Za-z0-9])", "", text)


def expand(phrase: str) -> list[str]:
    """All plain strings of a phrase written with "(a|b|)" alternatives."""
    parts: list[list[str]] = []
    pos = 0
    for m in _ALT_RE.finditer(phrase):
        if m.start() > pos:
            parts.append([phrase[pos : m.start()]])
        parts.append(m.group(1).split("|"))
        pos = m.end()
    if pos < len(phrase):
        parts.append([phrase[pos:]])
    return ["".join(p) for p in itertools.product(*parts)]


@dataclass(frozen=True)
class Phrase:
    text: str  # folded; may start with "^" or end with "$" (anchored to the utterance)
    intent: str
    weight: float
    negated: str | None
    source: str  # the phrase as written, for evidence and error messages
    spoken: str  # this expansion as written (spaces kept: they mark the model's word pieces)
    mappable: bool = True  # may stand in for another intent via [expect.*].map
    cancels: tuple[str, ...] = ()  # endings after which the hit does not count, longest first
    clause_scope: bool = False  # a negated predicate later in the clause cancels it
    whole_word: bool = False  # must start and end on word boundaries (うん not in しまうん)
    sign: str | None = None  # family of warning signs that add up (see [signs])
    core: str = field(init=False, default="")  # text without anchors (computed once: hot path)

    def __post_init__(self) -> None:
        object.__setattr__(self, "core", self.text.removeprefix("^").removesuffix("$"))


@dataclass(frozen=True)
class LemmaPhrase:
    """A sequence of base forms ("力 入る") matched on the morphological analysis; particles
    between them are skipped, and a negative auxiliary after the last one is its negation."""

    lemmas: tuple[str, ...]  # folded
    intent: str
    weight: float
    negated: str | None
    source: str
    mappable: bool = True
    sign: str | None = None


@dataclass(frozen=True)
class HedgeRule:
    """一応大丈夫 / 大丈夫だと思う / たぶん元気かな: a hedged reassurance is not `fine`."""

    applies_to: frozenset[str]
    before: tuple[str, ...]  # folded markers that may precede the reassurance, longest first
    after: tuple[str, ...]  # folded markers that may follow it
    not_followed_by: tuple[str, ...]  # かな + り is かなり, not a hedge
    window: int  # characters between the reassurance and a marker
    intent: str
    weight: float
    # intents that explain a hedge when said after it (大丈夫と言いてえとこじゃけど + 停電で
    # 充電が切れそう: the trouble is what the hedge was about)
    explained_by: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ScopeRule:
    """Words whose negation negates the statement before them (元気とは言えない,
    痛くないわけじゃない, しんどいことあらへん): the statement's meaning flips."""

    heads: frozenset[str]  # folded lemmas: わけ, こと, 言う, 思う, ...
    max_skip: int  # tokens allowed between the statement and the head (と, は, なんて, よう)
    flip_after: tuple[str, ...]  # surface fallback patterns, folded, longest first
    flips: dict[str, str] = field(default_factory=dict)  # no -> yes for groups without `negated`
    flip_first: dict[str, tuple[str, ...]] = field(default_factory=dict)  # flip_after by 1st char

    def __post_init__(self) -> None:
        for pattern in self.flip_after:  # longest first within each list, as flip_after
            self.flip_first[pattern[0]] = (*self.flip_first.get(pattern[0], ()), pattern)

    def flip_after_at(self, text: str, pos: int) -> tuple[str, ...]:
        return self.flip_first.get(text[pos : pos + 1], ())


@dataclass(frozen=True)
class ResolvedRule:
    """停電もすぐ直った, 雪下ろしは業者に頼んだ, 風邪ひいとったけど治った: a trouble or
    complaint followed by a verb of resolution in the past tense is over (see [resolved])."""

    applies_to: frozenset[str]
    verbs: frozenset[str]  # folded base forms: same clause, after the hit
    recovered: frozenset[str]  # folded base forms that also end a past complaint in the next clause
    better: frozenset[str] = frozenset()  # adjectives that recover with なる (良くなった)
    # adverbs that recover with する (一晩寝たらすっきりした, すっきりいたしました)
    better_suru: frozenset[str] = frozenset()
    stopped: str | None = None  # what an emergency sign that stopped is (胸の痛みは治まった)
    # time words that tell a complaint in the past (先週は熱出たけど), not before から
    past_words: frozenset[str] = frozenset()
    # a past occasion (伊勢湾台風の時は) and a verdict about now (今度は + fine): the story's
    # hits are over; `occasion` nouns after の, `now` words before the verdict
    occasion: frozenset[str] = frozenset()
    now: frozenset[str] = frozenset()
    # what may stand before and after the occasion noun (の時は; あの時の, あん時も)
    occasion_before: frozenset[str] = frozenset({"の"})
    occasion_after: frozenset[str] = frozenset({"は", "も", "に", "にゃ", "ゃ"})
    # a small quantity right before the recovery (ちったあ落ち着いた, 少し楽になった): the
    # recovery is partial and the complaint stays (folded surface words, longest first)
    partly: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContextRule:
    """What the rest of the answer does to a hit (see [context])."""

    # help words of being shut in (出られん) that a later chore request makes `shut_in_becomes`
    shut_in: tuple[str, ...] = ()
    shut_in_becomes: str = "trouble"
    chores: tuple[str, ...] = ()  # words of the chore request that eases being shut in
    # base forms that tell a help/trouble as hearsay (って聞いた, らしい); with a verdict about
    # the resident's own place in a later clause the hit does not count
    hearsay: frozenset[str] = frozenset()
    # unwell words of mood or unease (寂しい, 落ち着かへん, 誰とも口きいてへん) that an explicit
    # request for a call in the same answer answers: the call decides (see `_call_asked`)
    eased_by_call: tuple[str, ...] = ()
    call_words: tuple[str, ...] = ()  # what makes a callback hit a call (電話), not a wish to talk
    # help words of calling someone (誰か呼んでくれ) after a named trouble and with no other help
    # word: someone to fix that trouble (水道管が破れて + 誰か呼んでくれんね)
    call_for_trouble: tuple[str, ...] = ()
    # complaints that are the reason for asking again (耳が遠なってしもて + なんて言うた): with a
    # repeat request in the answer they do not count (see `_reason_for_repeat`)
    reason_for_repeat: tuple[str, ...] = ()
    # people other than the resident (ばあさん, 主人, 隣の): their complaint (ばあさんがひざ
    # 痛えって) beside a verdict about the resident (おれは元気だ) is not the resident's
    others: tuple[str, ...] = ()
    # words before a help/trouble in its clause that place it at someone else's (港の方は,
    # 娘のとこが): with a later verdict about the resident's own place it is news, like hearsay
    elsewhere: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectRule:
    allow: frozenset[str]
    mapping: dict[str, str]
    map_confidence: float


@dataclass(frozen=True)
class QualifyRule:
    """元気だけど + words we do not know: the reassurance is qualified (see [qualify])."""

    after: frozenset[str]  # intents that can be qualified (fine, usual)
    connectors: tuple[str, ...]  # folded, longest first
    intent: str
    weight: float
    max_gap: int  # characters allowed between the reassurance and the connector
    min_unknown: int  # unexplained characters after the connector needed to qualify
    doubt: frozenset[str] = frozenset()  # intents made ambiguous instead (飲んだけど + ?)
    # a connector that is a copula + sentence-final particle here (Nagoya 元気だがや): not "but"
    not_connectors: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnsureRule:
    """A reassurance plus words we do not understand is not confident (see [unsure])."""

    applies_to: frozenset[str]
    min_unknown_words: int


@dataclass
class Lexicon:
    lang: str
    phrases: list[Phrase] = field(default_factory=list)
    negations: list[str] = field(default_factory=list)  # folded, longest first
    bridges: list[str] = field(default_factory=list)  # folded, longest first (が全然, はもう)
    negations_spoken: set[str] = field(default_factory=set)  # as written, for grammars
    # negations that are a sentence-final particle after a past form (Aizu 飲んだなし)
    not_after_past: set[str] = field(default_factory=set)
    # verbs of occurrence through which a noun is negated (煙は出てない, 匂いはせん)
    through_verbs: frozenset[str] = frozenset()
    fillers: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    conflicts: list[frozenset[str]] = field(default_factory=list)
    expects: dict[str, ExpectRule] = field(default_factory=dict)
    qualify: QualifyRule | None = None
    hedge: HedgeRule | None = None
    # a complaint feared, not felt (トイレが近くなるのが嫌で, 風邪をひくのが心配): [feared]
    # (intents, `after` patterns by first character, longest first; window)
    feared: tuple[frozenset[str], dict[str, tuple[str, ...]], int] | None = None
    scope: ScopeRule | None = None
    resolved: ResolvedRule | None = None
    unsure: UnsureRule | None = None
    context: ContextRule | None = None
    degree_words: set[str] = field(default_factory=set)  # えらい before an adjective: "very"
    # words a lemma entry may skip besides particles/adverbs (血ぃ ぎょうさん 出て止まらへん)
    lemma_skip: set[str] = field(default_factory=set)
    # a request told in the past is a story (娘と電話で話した): intent -> what it means then
    told: dict[str, str] = field(default_factory=dict)
    # warning signs of one family heard together (two stroke signs) mean `intent`
    signs: tuple[int, str] | None = None  # (how many different signs, intent)
    # a body part + a doubled sound word + する (腹がごろごろする): (pattern, intent, weight)
    sensation: tuple[re.Pattern[str], str, float] | None = None
    lemma_phrases: list[LemmaPhrase] = field(default_factory=list)
    # folded phrases of groups with `explains = "clause"`: such a hit explains the content
    # words of its clause for [unsure] (今日は船の手伝いに行く: an outing, not a complaint)
    explaining: set[str] = field(default_factory=set)
    # ... with `explains = "arguments"`: an everyday action verb (食べる, 干す, 持ってくる)
    # explains the words before it back to the previous predicate of its clause: its object
    # and who did it (金目の煮付け 隣がくれて), never a complaint told before or after it
    # (not hits: they never compete with the entries that decide an intent)
    # by first lemma
    # (value: True when only its negative explains, `when = "negated"`: 落ちんかった)
    explaining_arguments: dict[str, dict[tuple[str, ...], bool]] = field(default_factory=dict)
    # folded phrases of groups with `unasked`: what such a hit means when the question asked
    # does not accept the group's intent (食べられんかった: no to 食べましたか, a complaint after
    # 元気だよ to お元気ですか), even when something else was said
    unasked: dict[str, str] = field(default_factory=dict)
    morphology: bool = False  # analyse answers with pyopenjtalk (Japanese)
    files: list[Path] = field(default_factory=list)
    _by_first: dict[str, list[Phrase]] = field(default_factory=dict, repr=False)
    _negations_by_first: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _by_lemma: dict[str, list[LemmaPhrase]] = field(default_factory=dict, repr=False)

    def add_file(self, path: Path) -> None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LexiconError(f"{path}: {exc}") from exc
        self.files.append(Path(path))
        self._merge(data, Path(path))
        self._index()

    def _merge(self, data: dict[str, Any], path: Path) -> None:
        norm = data.get("normalise", {})
        self.fillers = _longest_first({*self.fillers, *map(fold, norm.get("fillers", []))})
        neg = data.get("negation", {}).get("suffixes", [])
        self.negations = _longest_first({*self.negations, *map(fold, neg)})
        self._negations_by_first = _by_first_char(self.negations)
        self.negations_spoken.update(unicodedata.normalize("NFKC", n).strip() for n in neg)
        bridges = [
            b for written in data.get("negation", {}).get("bridges", []) for b in expand(written)
        ]
        self.bridges = _longest_first({*self.bridges, *map(fold, bridges)})
        negation = data.get("negation", {})
        self.not_after_past.update(map(fold, negation.get("not_after_past", [])))
        self.through_verbs = self.through_verbs | frozenset(map(fold, negation.get("through", [])))
        self.negations_spoken.update(unicodedata.normalize("NFKC", b).strip() for b in bridges)
        prio = data.get("priority", {})
        if "order" in prio:
            self.priority = list(prio["order"])
        self.conflicts += [frozenset(pair) for pair in prio.get("conflicts", [])]
        for name, rule in data.get("expect", {}).items():
            self.expects[name] = ExpectRule(
                allow=frozenset(rule.get("allow", [])),
                mapping=dict(rule.get("map", {})),
                map_confidence=float(rule.get("map_confidence", 0.6)),
            )
        if "qualify" in data:
            self.qualify = _qualify_rule(data["qualify"], self.qualify, path)
        if "hedge" in data:
            self.hedge = _hedge_rule(data["hedge"], self.hedge, path)
        if "feared" in data:
            self.feared = _feared_rule(data["feared"], self.feared, path)
        if "scope" in data:
            self.scope = _scope_rule(data["scope"], self.scope)
        if "resolved" in data:
            self.resolved = _resolved_rule(data["resolved"], self.resolved, path)
        if "unsure" in data:
            self.unsure = _unsure_rule(data["unsure"], self.unsure, path)
        if "context" in data:
            self.context = _context_rule(data["context"], self.context, path)
        self.degree_words.update(map(fold, data.get("degree", {}).get("words", [])))
        if "morphology" in data:
            self.morphology = data["morphology"].get("analyser") == "openjtalk"
            self.lemma_skip.update(map(fold, data["morphology"].get("skip_between", [])))
        told = data.get("told", {})
        valid = {i.value for i in Intent}
        if not set(told) <= valid or not set(told.values()) <= valid | {NEUTRAL}:
            raise LexiconError(f"{path.name} [told]: unknown intent in {told!r}")
        self.told.update(told)
        if "signs" in data:
            together = int(data["signs"].get("together", 2))
            intent = data["signs"].get("intent", Intent.HELP.value)
            if together < 2 or intent not in valid:
                raise LexiconError(f"{path.name} [signs]: together >= 2 and a known intent")
            self.signs = (together, intent)
        if "sensation" in data:
            self.sensation = _sensation_rule(data["sensation"], self.sensation, path)
        for i, group in enumerate(data.get("group", [])):
            self._add_group(group, f"{path.name} group {i + 1}")

    def _add_group(self, group: dict[str, Any], where: str) -> None:
        intent = group.get("intent")
        valid = {i.value for i in Intent} | {NEUTRAL}
        if intent not in valid:
            raise LexiconError(f"{where}: unknown intent {intent!r}; use one of {sorted(valid)}")
        negated = group.get("negated")
        if negated is not None and negated not in valid | {CANCEL}:
            raise LexiconError(f"{where}: unknown negated intent {negated!r}")
        weight = float(group.get("weight", 1.0))
        if not 0.0 < weight <= 1.0:
            raise LexiconError(f"{where}: weight must be in (0, 1], got {weight}")
        mappable = bool(group.get("mappable", True))
        endings = {e for written in group.get("cancel_after", []) for e in expand(written)}
        cancels = tuple(_longest_first(set(map(fold, endings))))
        clause_scope = group.get("scope", "phrase") == "clause"
        whole_word = bool(group.get("whole_word", False))
        sign = group.get("sign")
        if (
            group.get("explains") not in (None, "clause", "arguments")
            or (group.get("explains") == "arguments" and intent != NEUTRAL)
            or (group.get("explains") and intent not in _MAY_EXPLAIN)
            or group.get("when") not in (None, "negated")
        ):
            raise LexiconError(
                f'{where}: explains must be "clause" (a neutral, fine or usual group) or '
                '"arguments" (a neutral group)'
            )
        unasked = group.get("unasked")
        if unasked is not None and unasked not in valid:
            raise LexiconError(f"{where}: unknown unasked intent {unasked!r}")
        explains = group.get("explains") == "clause"
        explains_arguments = group.get("explains") == "arguments"
        for written in group.get("lemmas", []):
            for text in expand(written):
                lemmas = tuple(fold(w) for w in text.split())
                if not lemmas:
                    raise LexiconError(f"{where}: lemma phrase {written!r} is empty")
                if explains:
                    self.explaining.add("·".join(lemmas))
                if explains_arguments:
                    negative = group.get("when") == "negated"
                    self.explaining_arguments.setdefault(lemmas[0], {})[lemmas] = negative
                    continue
                self.lemma_phrases.append(
                    LemmaPhrase(lemmas, intent, weight, negated, written, mappable, sign)
                )
        for written in group.get("phrases", []):
            for text in expand(written):
                folded = _fold_anchored(text)
                if not folded.strip("^$"):
                    raise LexiconError(f"{where}: phrase {written!r} expands to an empty string")
                spoken = unicodedata.normalize("NFKC", text.strip("^$")).strip()
                if explains:
                    self.explaining.add(folded.strip("^$"))
                if unasked is not None:
                    self.unasked[folded.strip("^$")] = unasked
                for variant in (folded, *_unlengthened(folded)):
                    self.phrases.append(
                        Phrase(
                            variant,
                            intent,
                            weight,
                            negated,
                            written,
                            spoken,
                            mappable,
                            cancels,
                            clause_scope,
                            whole_word,
                            sign,
                        )
                    )
        for filler in group.get("fillers", []):
            self.fillers = _longest_first({*self.fillers, fold(filler)})

    def _index(self) -> None:
        by_first: dict[str, list[Phrase]] = {}
        seen: set[tuple[object, ...]] = set()
        for p in self.phrases:
            key = (
                p.text,
                p.intent,
                p.negated,
                p.weight,
                p.mappable,
                p.cancels,
                p.clause_scope,
                p.whole_word,
                p.sign,
            )
            if key in seen:
                continue
            seen.add(key)
            by_first.setdefault(p.core[:3], []).append(p)  # shorter phrases under themselves
        self._by_first = by_first
        lemma_index: dict[str, list[LemmaPhrase]] = {}
        for lp in self.lemma_phrases:
            lemma_index.setdefault(lp.lemmas[0], []).append(lp)
        self._by_lemma = lemma_index

    def negations_at(self, text: str, pos: int) -> tuple[str, ...]:
        """Negation endings that may start at `pos`, longest first (indexed: hot path)."""
        return self._negations_by_first.get(text[pos : pos + 1], ())

    def lemma_phrases_at(self, lemma: str) -> list[LemmaPhrase]:
        return self._by_lemma.get(lemma, [])

    def phrases_at(self, text: str, pos: int) -> list[Phrase]:
        """Phrases that may start at `pos` (indexed by their first three characters, so that
        a family of many spellings under one common start (なん, うち) costs little)."""
        found = self._by_first.get(text[pos], [])
        for n in (2, 3):
            if pos + n > len(text):
                break
            more = self._by_first.get(text[pos : pos + n])
            if more:
                found = [*found, *more] if found else more
        return found

    def spoken_phrases(self, intents: Iterable[str] | None = None) -> list[str]:
        """Distinct phrases as written (for recognizer grammars), optionally for some intents.

        Negated forms are added (元気 + じゃない) for groups that can be negated, and the
        fillers, so that the grammar covers what residents actually say.
        """
        wanted = set(intents) if intents is not None else None
        out: set[str] = set()
        negatable = False
        for p in self.phrases:
            if wanted is None or p.intent in wanted:
                out.add(p.spoken)
                negatable = negatable or p.negated is not None
        if negatable:
            out.update(self.negations_spoken)
        out.update(self.fillers)
        return sorted(out)

    def expect_rule(self, expect: str) -> ExpectRule:
        return self.expects.get(expect) or self.expects["any"]


def _qualify_rule(data: dict[str, Any], old: QualifyRule | None, path: Path) -> QualifyRule:
    """Merge a [qualify] table; an extension file may add connectors or change settings."""
    valid = {i.value for i in Intent}
    intent = data.get("intent", old.intent if old else Intent.UNWELL.value)
    after = set(data.get("after", old.after if old else ()))
    if intent not in valid or not after <= valid:
        raise LexiconError(f"{path.name} [qualify]: unknown intent in {intent!r} / {sorted(after)}")
    weight = float(data.get("weight", old.weight if old else 0.75))
    if not 0.0 < weight <= 1.0:
        raise LexiconError(f"{path.name} [qualify]: weight must be in (0, 1], got {weight}")
    connectors = {*(old.connectors if old else ()), *map(fold, data.get("connectors", []))}
    return QualifyRule(
        after=frozenset(after),
        connectors=tuple(_longest_first(connectors)),
        intent=intent,
        weight=weight,
        max_gap=int(data.get("max_gap", old.max_gap if old else 4)),
        min_unknown=int(data.get("min_unknown", old.min_unknown if old else 2)),
        doubt=frozenset(data.get("doubt", old.doubt if old else ())),
        not_connectors=tuple(
            _longest_first(
                {*(old.not_connectors if old else ()), *map(fold, data.get("not_connectors", []))}
            )
        ),
    )


def _hedge_rule(data: dict[str, Any], old: HedgeRule | None, path: Path) -> HedgeRule:
    valid = {i.value for i in Intent}
    intent = data.get("intent", old.intent if old else Intent.UNWELL.value)
    applies = set(data.get("applies_to", old.applies_to if old else (Intent.FINE.value,)))
    if intent not in valid or not applies <= valid:
        raise LexiconError(f"{path.name} [hedge]: unknown intent in {intent!r} / {sorted(applies)}")
    weight = float(data.get("weight", old.weight if old else 0.75))
    if not 0.0 < weight <= 1.0:
        raise LexiconError(f"{path.name} [hedge]: weight must be in (0, 1], got {weight}")

    def merged(key: str, previous: tuple[str, ...]) -> tuple[str, ...]:
        words = {w for written in data.get(key, []) for w in expand(written)}
        return tuple(_longest_first({*previous, *map(fold, words)}))

    return HedgeRule(
        applies_to=frozenset(applies),
        before=merged("before", old.before if old else ()),
        after=merged("after", old.after if old else ()),
        not_followed_by=merged("not_followed_by", old.not_followed_by if old else ()),
        window=int(data.get("window", old.window if old else 6)),
        intent=intent,
        weight=weight,
        explained_by=frozenset(data.get("explained_by", old.explained_by if old else ())),
    )


def _context_rule(data: dict[str, Any], old: ContextRule | None, path: Path) -> ContextRule:
    becomes = data.get("shut_in_becomes", old.shut_in_becomes if old else "trouble")
    if becomes not in {i.value for i in Intent}:
        raise LexiconError(f"{path.name} [context]: unknown intent {becomes!r}")

    def words(name: str) -> set[str]:  # a later file adds to the earlier one's words
        return {*(getattr(old, name) if old else ()), *map(fold, data.get(name, []))}

    return ContextRule(
        shut_in=tuple(_longest_first(words("shut_in"))),
        shut_in_becomes=becomes,
        chores=tuple(words("chores")),
        hearsay=frozenset(words("hearsay")),
        eased_by_call=tuple(words("eased_by_call")),
        call_words=tuple(words("call_words")),
        call_for_trouble=tuple(words("call_for_trouble")),
        reason_for_repeat=tuple(words("reason_for_repeat")),
        elsewhere=tuple(words("elsewhere")),
        others=tuple(_longest_first(words("others"))),
    )


def _feared_rule(
    data: dict[str, Any],
    old: tuple[frozenset[str], dict[str, tuple[str, ...]], int] | None,
    path: Path,
) -> tuple[frozenset[str], dict[str, tuple[str, ...]], int]:
    valid = {i.value for i in Intent}
    applies = set(data.get("applies_to", old[0] if old else ()))
    if not applies <= valid:
        raise LexiconError(f"{path.name} [feared]: unknown intent in {sorted(applies)}")
    words = {fold(w) for written in data.get("after", []) for w in expand(written)}
    words |= {w for group in (old[1].values() if old else ()) for w in group}
    by_first: dict[str, tuple[str, ...]] = {}
    for word in _longest_first(words):  # longest first within each first character
        by_first[word[0]] = (*by_first.get(word[0], ()), word)
    return frozenset(applies), by_first, int(data.get("window", old[2] if old else 2))


def _scope_rule(data: dict[str, Any], old: ScopeRule | None) -> ScopeRule:
    heads = {*(old.heads if old else ()), *map(fold, data.get("heads", []))}
    patterns = {p for written in data.get("flip_after", []) for p in expand(written)}
    return ScopeRule(
        heads=frozenset(heads),
        max_skip=int(data.get("max_skip", old.max_skip if old else 3)),
        flip_after=tuple(_longest_first({*(old.flip_after if old else ()), *map(fold, patterns)})),
        flips={**(old.flips if old else {}), **data.get("flips", {})},
    )


def _resolved_rule(data: dict[str, Any], old: ResolvedRule | None, path: Path) -> ResolvedRule:
    valid = {i.value for i in Intent}
    applies = set(data.get("applies_to", old.applies_to if old else ()))
    if not applies <= valid:
        raise LexiconError(f"{path.name} [resolved]: unknown intent in {sorted(applies)}")

    def merged(key: str, previous: frozenset[str]) -> frozenset[str]:
        return frozenset({*previous, *map(fold, data.get(key, []))})

    stopped = data.get("stopped", old.stopped if old else None)
    if stopped is not None and stopped not in valid:
        raise LexiconError(f"{path.name} [resolved]: unknown intent {stopped!r} for stopped")
    return ResolvedRule(
        applies_to=frozenset(applies),
        verbs=merged("verbs", old.verbs if old else frozenset()),
        recovered=merged("recovered", old.recovered if old else frozenset()),
        better=merged("better", old.better if old else frozenset()),
        better_suru=merged("better_suru", old.better_suru if old else frozenset()),
        stopped=stopped,
        past_words=merged("past_words", old.past_words if old else frozenset()),
        occasion=merged("occasion", old.occasion if old else frozenset()),
        now=merged("now", old.now if old else frozenset()),
        occasion_before=merged(
            "occasion_before", old.occasion_before if old else frozenset({"の"})
        ),
        occasion_after=merged(
            "occasion_after",
            old.occasion_after if old else frozenset({"は", "も", "に", "にゃ", "ゃ"}),
        ),
        partly=tuple(
            _longest_first({*(old.partly if old else ()), *map(fold, data.get("partly", []))})
        ),
    )


def _sensation_rule(
    data: dict[str, Any], old: tuple[re.Pattern[str], str, float] | None, path: Path
) -> tuple[re.Pattern[str], str, float]:
    intent = data.get("intent", old[1] if old else Intent.UNWELL.value)
    if intent not in {i.value for i in Intent}:
        raise LexiconError(f"{path.name} [sensation]: unknown intent {intent!r}")
    body = sorted({fold(b) for b in data.get("body", [])}, key=len, reverse=True)
    if not body:
        raise LexiconError(f"{path.name} [sensation]: body must list body parts")
    # a place on the body part (足の先, 手の甲, 胃のあたり): 足の先がじんじんする
    where = sorted({fold(w) for w in data.get("where", [])}, key=len, reverse=True)
    place = "(?:の(?:" + "|".join(map(re.escape, where)) + "))?" if where else ""
    # body part, particle, a doubled sound word (ABAB, 2-3 kana each), then a positive する
    pattern = re.compile(
        "(?:"
        + "|".join(map(re.escape, body))
        + ")"
        + place
        + r"(?:が|の|も|は|あ|)"  # あ: 腹ぁしくしく
        r"(?P<sound>([\u3041-\u3096]{2,3})\2)(?:っと|と|)"
        r"(?:する|すん|すっ|し(?!な|ませ|ねえ|ね|ゃ|ょ))"
    )
    return pattern, intent, float(data.get("weight", old[2] if old else 0.8))


def _unsure_rule(data: dict[str, Any], old: UnsureRule | None, path: Path) -> UnsureRule:
    valid = {i.value for i in Intent}
    applies = set(data.get("applies_to", old.applies_to if old else ()))
    if not applies <= valid:
        raise LexiconError(f"{path.name} [unsure]: unknown intent in {sorted(applies)}")
    words = int(data.get("min_unknown_words", old.min_unknown_words if old else 2))
    if words < 1:
        raise LexiconError(f"{path.name} [unsure]: min_unknown_words must be >= 1, got {words}")
    return UnsureRule(applies_to=frozenset(applies), min_unknown_words=words)


_LENGTHENED_PHRASE_RE = re.compile(r"^(\^?.*[\u3041-\u309f\u4e00-\u9fff])ー+$")


def _unlengthened(folded: str) -> tuple[str, ...]:
    """倒れとー, ぜーぜー: answers lose a final lengthening (drop_lengthening), so such a
    phrase also matches its stem at the end of the answer (倒れと$). Stems of two characters
    are left out (かいー would be かい$, the end of さかい). The lengthening is also dropped
    before a space or punctuation, which fold() removes: a stem of five characters or more is
    distinctive enough to match anywhere (ちゃーがんじゅー やさ -> ちゃーがんじゅやさ)."""
    m = _LENGTHENED_PHRASE_RE.match(folded)
    if m is None or len(m.group(1).lstrip("^")) < 3:
        return ()
    if len(m.group(1).lstrip("^")) >= _STEM_ANYWHERE:
        return (m.group(1),)
    return (m.group(1) + "$",)


_STEM_ANYWHERE = 5


def _fold_anchored(text: str) -> str:
    head = "^" if text.startswith("^") else ""
    tail = "$" if text.endswith("$") else ""
    return head + fold(text.strip("^$")) + tail


def _by_first_char(words: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Words (longest first) grouped by their first character, order kept."""
    out: dict[str, tuple[str, ...]] = {}
    for word in words:
        out[word[0]] = (*out.get(word[0], ()), word)
    return out


def _longest_first(items: Iterable[str]) -> list[str]:
    return sorted((i for i in items if i), key=lambda s: (-len(s), s))


# --- loading and caching ------------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, Lexicon] = {}
_extra: dict[str, list[Path]] = {}


def load_lexicon(lang: str, extra_files: Sequence[Path | str] = ()) -> Lexicon:
    """Build a lexicon from the bundled file for `lang` plus any extension files, in order."""
    base = LEXICON_DIR / f"{lang}.toml"
    if not base.exists():
        known = sorted(p.stem for p in LEXICON_DIR.glob("*.toml"))
        raise LexiconError(f"no lexicon for language {lang!r}; have {known}")
    lexicon = Lexicon(lang=lang)
    for path in [base, *map(Path, extra_files)]:
        lexicon.add_file(path)
    return lexicon


def configure(lang: str, extra_files: Sequence[Path | str] = ()) -> Lexicon:
    """Set the municipality's extension files for `lang` and (re)load that lexicon."""
    lexicon = load_lexicon(lang, extra_files)
    with _lock:
        _extra[lang] = [Path(p) for p in extra_files]
        _cache[lang] = lexicon
    return lexicon


def get_lexicon(lang: str = "ja") -> Lexicon:
    """The process-wide lexicon for `lang` (bundled file + configured/env extension files)."""
    with _lock:
        lexicon = _cache.get(lang)
        if lexicon is None:
            extra = _extra.get(lang)
            if extra is None:
                env = os.environ.get("MIMAMORI_LEXICON_EXTRA", "")
                extra = [Path(p) for p in env.split(os.pathsep) if p]
                extra = [p for p in extra if _lexicon_lang(p) in (None, lang)]
            lexicon = _cache[lang] = load_lexicon(lang, extra)
        return lexicon


def _lexicon_lang(path: Path) -> str | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("lang")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LexiconError(f"{path}: {exc}") from exc


# --- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    intent: str  # after negation
    weight: float
    explicit: bool  # the phrase itself matched, no negation ending added
    evidence: str
    mappable: bool = True
    flips_to: str | None = None  # the meaning when the whole statement is negated
    clause_scope: bool = False
    sign: str | None = None  # family of warning signs (stroke): two together are [signs] intent
    flipped_from: str | None = None  # the meaning before a [scope] flip (ええとは言えん: fine)


@dataclass(frozen=True)
class Classification:
    intent: Intent
    confidence: float
    evidence: tuple[str, ...]
    ambiguous: bool


def _ending_at(text: str, pos: int, endings: Sequence[str]) -> str | None:
    for ending in endings:  # longest first
        if text.startswith(ending, pos):
            return ending
    return None


def _candidates(text: str, lexicon: Lexicon, analysis: Analysis | None = None) -> list[Hit]:
    hits: list[Hit] = []
    # word boundaries for `whole_word` phrases; without an analysis every position counts
    everywhere = range(len(text) + 1)
    starts = {t.start for t in analysis.tokens} if analysis is not None else everywhere
    ends = {t.end for t in analysis.tokens} if analysis is not None else everywhere
    for start in range(len(text)):
        for p in lexicon.phrases_at(text, start):
            core = p.core
            if not text.startswith(core, start):
                continue
            end = start + len(core)
            if (p.text.startswith("^") and start != 0) or (
                p.text.endswith("$") and end != len(text)
            ):
                continue
            if p.whole_word and not (start in starts and end in ends):
                continue  # うん inside しまうんよ, はい inside 雪はいっぺぇ
            hits.append(_hit(text, start, end, p, lexicon, analysis))
    for start, char in enumerate(text):
        for filler in lexicon.fillers:
            if filler[0] == char and text.startswith(filler, start):
                hits.append(Hit(start, start + len(filler), NEUTRAL, 1.0, True, filler))
    return hits


def _hit(
    text: str, start: int, end: int, p: Phrase, lexicon: Lexicon, analysis: Analysis | None
) -> Hit:
    cancel = _ending_at(text, end, p.cancels)
    if cancel is not None:
        return Hit(start, end + len(cancel), NEUTRAL, p.weight, False, f"{p.core}+{cancel}")
    negation = _negation_at(text, end, p, lexicon) if p.negated else None
    if negation in lexicon.not_after_past and p.core.endswith(_PARTICLE_NASHI_AFTER):
        negation = None  # 飲んだ + なし, なんともねえ + なし: the Aizu particle (= よ), not "none"
    if negation is None and p.negated and analysis is not None:
        negation = _dialect_negation_at(text, end, analysis)
    if negation is None and p.negated and analysis is not None and not p.clause_scope:
        negation = _predicate_negation_at(text, end, analysis, lexicon.through_verbs)
    if negation is None:
        flips = _flipped(p.intent, p.negated, was_negated=False)
        return Hit(
            start, end, p.intent, p.weight, True, p.core, p.mappable, flips, p.clause_scope, p.sign
        )
    assert p.negated is not None  # a negation is only looked for on negatable phrases
    intent = NEUTRAL if p.negated == CANCEL else p.negated
    evidence = f"{p.core}+{negation}"
    flips = _flipped(p.intent, p.negated, was_negated=True)
    end += len(negation)
    return Hit(start, end, intent, p.weight, False, evidence, p.mappable, flips, sign=p.sign)


# Endings after which Aizu/Tohoku なし is a sentence-final particle: a past form (飲んだなし)
# or a negative already said (なんともねぇなし = なんともねえよ).
_PARTICLE_NASHI_AFTER = ("た", "だ", "ねえ", "ない", "ねぇ")


def _dialect_negation_at(text: str, end: int, analysis: Analysis) -> str | None:
    """A negative the surface list cannot know because it is also a sigh (壊れ + てねえ: the
    analysis says ねえ after a verb's て-form is a negative; 痛くてねえ is not)."""
    last = next((i for i, t in enumerate(analysis.tokens) if t.end == end and t.start < end), None)
    if last is None:
        return None
    negative = analysis.negated_after(last)
    if negative is None or not negative.dialect_negative:
        return None
    return text[end : negative.end]


def _particle_after_past(tokens: Sequence[Token], negative: Token, lexicon: Lexicon) -> bool:
    """食った + なし: after a past form, なし is the Aizu sentence-final particle."""
    i = tokens.index(negative)
    return negative.surface in lexicon.not_after_past and _is_past(tokens, i - 1)


def _predicate_negation_at(
    text: str, end: int, analysis: Analysis, verbs: frozenset[str]
) -> str | None:
    """煙 + は出てない, がすの匂い + はせん, 熱 + は出とらん: a noun whose verb of occurrence
    (a few particles or adverbs later) is negated did not happen. Only verbs of occurrence
    (出る, する, なる, ある): 熱は下がらん is still a fever. Clause-scoped help words
    (救急車) keep their own rule."""
    if not verbs:
        return None
    last = analysis.token_at(end - 1) if end > 0 else None  # a stem (臭) ends inside 臭い
    if last is None or analysis.tokens[last].pos != "名詞":
        return None
    tokens = analysis.tokens
    j = last + 1
    while (
        j < len(tokens)
        and tokens[j].pos in ("助詞", "副詞")
        and tokens[j].clause == tokens[last].clause
    ):
        j += 1
    if j >= len(tokens) or tokens[j].lemma not in verbs or tokens[j].clause != tokens[last].clause:
        return None
    negative = analysis.negated_after(j)
    if negative is None or negative.end <= end:
        return None
    if any(t.lemma in _REQUEST_BEFORE for t in tokens[j : tokens.index(negative)]):
        return None  # 電話してくれんね: a request (or nobody calls), not "no call"
    if any(t.lemma in _GOING for t in tokens[j + 1 : tokens.index(negative)]):
        return None  # 冠水して行かれへん: the going is negated, not the flood
    skipped = "".join(t.surface for t in tokens[last + 1 : j])
    if any(w in skipped for w in _AT_A_LOSS):
        return None  # 泥だらけでどうにもならん: at a loss with it, not "no mud"
    return text[end : negative.end]


_GOING = frozenset({"行く", "いく"})
_AT_A_LOSS = frozenset({"どうにも"})


def _flipped(intent: str, negated: str | None, *, was_negated: bool) -> str | None:
    """What a statement means when it is negated as a whole (元気 + というわけではない)."""
    if was_negated:
        return intent  # 痛くない + わけじゃない: back to the phrase's own meaning
    if negated is None:
        return None
    return NEUTRAL if negated == CANCEL else negated


def _lemma_candidates(analysis: Analysis, lexicon: Lexicon) -> list[Hit]:
    """Hits of lexicon `lemmas` entries: one entry covers every inflection and dialect
    negative MeCab knows (入らない, 入らん, 入らへん, 入りません)."""
    hits: list[Hit] = []
    tokens = analysis.tokens
    for i, token in enumerate(tokens):
        for lp in lexicon.lemma_phrases_at(token.lemma):
            last = _match_lemmas(analysis, i, lp.lemmas, lexicon.lemma_skip)
            if last is None:
                continue
            start, end = token.start, tokens[last].end
            negative = analysis.negated_after(last, hard=True)  # 息がしにくい counts
            if negative is not None and _particle_after_past(tokens, negative, lexicon):
                negative = None  # 食ったなし: the Aizu particle
            if negative is None and tokens[last].fused_negative:
                negative = tokens[last]  # 出んもんで: the negative is inside the verb
            if negative is None or lp.negated is None:
                flips = _flipped(lp.intent, lp.negated, was_negated=False)
                hits.append(
                    Hit(
                        start,
                        end,
                        lp.intent,
                        lp.weight,
                        True,
                        "·".join(lp.lemmas),
                        lp.mappable,
                        flips,
                        sign=lp.sign,
                    )
                )
                continue
            intent = NEUTRAL if lp.negated == CANCEL else lp.negated
            flips = _flipped(lp.intent, lp.negated, was_negated=True)
            evidence = f"{'·'.join(lp.lemmas)}+{negative.surface}"
            end, weight = negative.end, lp.weight
            hits.append(
                Hit(start, end, intent, weight, False, evidence, lp.mappable, flips, sign=lp.sign)
            )
    return hits


# Between the words of a lemma entry: particles, adverbs, fillers (血ぃ: 血 + い) and
# adverbial nouns of time (水道が朝から出ん), plus the lexicon's [morphology] skip_between.
_SKIP_POS = frozenset({"助詞", "副詞", "フィラー"})


def _skippable(t: Token, skip: set[str] | frozenset[str]) -> bool:
    return t.pos in _SKIP_POS or t.pos1 == "副詞可能" or t.lemma in skip


def _match_lemmas(
    analysis: Analysis,
    first: int,
    lemmas: tuple[str, ...],
    skip: set[str] | frozenset[str] = frozenset(),
) -> int | None:
    """Index of the token matching the last lemma, skipping particles, adverbs and the like
    in between (耳がちいと遠うなった, 力がぜんぜん入らん), or None."""
    tokens = analysis.tokens
    index = first
    for lemma in lemmas[1:]:
        index += 1
        while (
            index < len(tokens) and tokens[index].lemma != lemma and _skippable(tokens[index], skip)
        ):
            index += 1
        if index >= len(tokens) or tokens[index].lemma != lemma:
            return None
        if not analysis.same_clause(tokens[first].start, tokens[index].start):
            return None
    return index


def _negation_at(text: str, pos: int, p: Phrase, lexicon: Lexicon) -> str | None:
    """The negation ending at `pos`, directly or after a bridge (元気 + が全然 + ない).

    Bridges only flip (元気 -> unwell, 熱 -> fine); they never cancel a help phrase, so a
    call for help is not lost to a word that happens to follow it.
    """
    negation = _ending_at(text, pos, lexicon.negations_at(text, pos))
    if negation is not None or p.negated == CANCEL:
        return negation
    for bridge in lexicon.bridges:  # longest first
        if text.startswith(bridge, pos):
            negation = _ending_at(
                text, pos + len(bridge), lexicon.negations_at(text, pos + len(bridge))
            )
            if negation is not None:
                return bridge + negation
    return None


def _select(hits: list[Hit], lexicon: Lexicon) -> list[Hit]:
    """Longest hits first; on equal length a phrase as written beats stem + negation."""
    rank = {name: i for i, name in enumerate(lexicon.priority)}

    def key(h: Hit) -> tuple[int, bool, bool, int]:
        return (-(h.end - h.start), not h.explicit, h.intent == NEUTRAL, rank.get(h.intent, 99))

    hits = _help_not_swallowed(hits, lexicon)
    taken = [False] * (max((h.end for h in hits), default=0))
    chosen: list[Hit] = []
    for h in sorted(hits, key=key):
        if any(taken[h.start : h.end]):
            continue
        taken[h.start : h.end] = [True] * (h.end - h.start)
        chosen.append(h)
    return sorted(chosen, key=lambda h: h.start)


def _help_not_swallowed(hits: list[Hit], lexicon: Lexicon) -> list[Hit]:
    """An emergency sign is never lost to a longer reassurance that only partly overlaps it
    (胸の痛 + 痛みは治まった: the reassurance goes, the sign stays and [resolved] decides
    what a sign that stopped is). A reassurance that wholly contains the sign keeps it out
    as before (痛くも痒くもない contains no help word)."""
    signs = [h for h in hits if h.intent == Intent.HELP.value and h.explicit]
    if not signs:
        return hits
    reassuring = set(lexicon.unsure.applies_to) if lexicon.unsure else {"fine", "usual", "yes"}

    def swallows(r: Hit, sign: Hit) -> bool:
        overlaps = r.start < sign.end and sign.start < r.end
        contains = r.start <= sign.start and sign.end <= r.end
        return overlaps and not contains

    return [
        h
        for h in hits
        if h.intent not in reassuring or not h.explicit or not any(swallows(h, s) for s in signs)
    ]


def classify(
    text: str, lang: str = "ja", *, expect: str = "health", lexicon: Lexicon | None = None
) -> Classification:
    """What the resident meant, with the words that show it.

    `expect` is the question asked: "health" (体調), "yesno" (medicine/meal/sleep),
    "safety" (ご無事ですか), or "any". `ambiguous` means: ask again rather than guess.
    """
    if expect not in EXPECTS:
        raise ValueError(f"expect must be one of {EXPECTS}, got {expect!r}")
    lexicon = lexicon or get_lexicon(lang)
    text = drop_lengthening(text)
    folded = fold(text)
    if not folded:
        return Classification(Intent.UNKNOWN, 0.0, (), False)
    chosen = _understood(text, folded, lexicon)
    allow = lexicon.expect_rule(expect).allow
    analysis = analyse(text, fold) if lexicon.morphology else None
    bounds = _token_bounds(analysis)
    qualified = _qualified(
        folded,
        chosen,
        lexicon.qualify,
        allow,
        bounds=bounds,
        unknown_words=_unknown_after(text, chosen, lexicon) if analysis is not None else None,
    )
    if qualified is not None:
        chosen = sorted([*chosen, qualified], key=lambda h: h.start)
    decided = _decide(folded, chosen, lexicon, expect)
    decided = _doubted(folded, chosen, lexicon, allow, decided, bounds)
    return _unsure_reassurance(text, chosen, lexicon, decided)


def yes_no_heard(text: str, lang: str = "ja", *, lexicon: Lexicon | None = None) -> Intent | None:
    """The plain yes or no in an answer to a yes/no question, whatever else it says
    (飲んだけど胸やけが… -> yes; まだ飲んどらん、手が震えて -> no); None when it has neither
    or both. The dialogue records it next to an unwell answer to a follow-up question."""
    lexicon = lexicon or get_lexicon(lang)
    text = drop_lengthening(text)
    folded = fold(text)
    if not folded:
        return None
    found = {h.intent for h in _understood(text, folded, lexicon)}
    found &= {Intent.YES.value, Intent.NO.value}
    return Intent(found.pop()) if len(found) == 1 else None


# Content words that carry no complaint by themselves (light verbs, auxiliaries of aspect).
_LIGHT_LEMMAS = frozenset(
    {
        "する",
        "いる",
        "おる",
        "ある",
        "なる",
        "しまう",
        "ちゃう",
        "くる",
        "来る",
        "いく",
        "行く",
        "やる",
        "できる",
        "思う",
        "言う",
        "こと",
        "もの",
        "もん",
        "とこ",
        "ところ",
        "の",
        "ん",
        # sentence-final particles MeCab reads as content words (大丈夫ばい, 食べたっぺ,
        # 大丈夫ずら, 元気だりょん)
        "ばい",
        "っぺ",
        "ずる",
        "りょ",
        "思る",  # 思て read as a verb 思る: 思う
        # dialect endings MeCab reads as content words: ちょる/ちゃる progressives split
        # (気になっちょる: ちょ), Kobe 元気しとう, Kyushu ごたる (= ような: たる), Mikawa
        # 飛んでってまった (= しまった)
        "ちょ",
        "ちゃ",
        "しとう",
        "たる",
        "まった",
        "すける",  # おるすけ: Echigo すけ (= から) after a plain form
        "だく",  # だかんね (= だからね) read as a verb
        "まつ",  # Mikawa/Nagoya 寝てまって (= 寝てしまって) read as 待つ in kana
    }
)
# A past た + a western particle that MeCab reads as one verb (溢れんやったけん: たける,
# びくともせんかったっち: たっち, also as a noun after っ): not a content word.
# Echigo/Sado すけ (= から: 寒くなってきたすけ: たすける), Tohoku たけえ (なかったけえ: たかい),
# a past たっ before ちゃ (なかったっちゃ: たつ) too.
_PAST_PARTICLES = frozenset(
    {
        "けん",
        "けえ",
        "き",
        "っち",
        "っちゃ",
        "ばい",
        "けに",
        "に",
        "すけ",
        "すけえ",
        "すけに",
        "っ",
        "し",
    }
)
# Western "because" after a copula or particle (大丈夫じゃけえ: こい, やけん): not content.
_BECAUSE = frozenset({"けえ", "けん", "けに", "すけ"})
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞"})
_NOT_CONTENT_POS1 = frozenset({"非自立", "接尾", "数", "代名詞", "副詞可能", "固有名詞"})


def _unknown_content(text: str, chosen: list[Hit], lexicon: Lexicon, after: int) -> list[str]:
    """Content words (nouns, verbs, adjectives) from `after` on that no hit explains:
    夜中に目覚めて after 寝た, 砂を噛んでる after 食べた. Particles, light verbs and words
    before the reassurance (揺れたけど + なんともない: the story, then the verdict) do not count."""
    analysis = analyse(text, fold) if lexicon.morphology else None
    if analysis is None:
        return []
    covered = set().union(*(range(h.start, h.end) for h in chosen))
    explained = {
        analysis.clause_at(h.start)
        for h in chosen
        if h.explicit and h.intent in _MAY_EXPLAIN and h.evidence in lexicon.explaining
    }
    tokens = analysis.tokens
    words: list[str] = []
    for k, t in enumerate(tokens):
        if not (
            t.start >= after
            and t.clause not in explained
            and not _past_particle(tokens, k)
            and not (k > 0 and t.surface in _BECAUSE and tokens[k - 1].pos in ("助詞", "助動詞"))
            and t.pos in _CONTENT_POS
            and t.pos1 not in _NOT_CONTENT_POS1
            and t.lemma not in _LIGHT_LEMMAS
        ):
            continue
        # An unknown verb that is negated (傷が治らん, 扇風機が動かへん) is most often a
        # complaint or a trouble: it counts as two words, so that explaining the story around
        # it (送ってもろた) never leaves it alone below [unsure]'s threshold; a particle hit
        # inside it (the か of 動かへん) explains nothing.
        if _negated_unknown_verb(analysis, k):
            inside = {i for h in chosen if _particle_inside(h, t) for i in range(h.start, h.end)}
            if not any(i in covered - inside for i in range(t.start, t.end)):
                words += [t.lemma, t.lemma + "!"]
        elif not any(i in covered for i in range(t.start, t.end)):
            words.append(t.lemma)
    return words


def _particle_inside(h: Hit, t: Token) -> bool:
    return h.intent == NEUTRAL and h.end - h.start == 1 and t.start < h.start < t.end


# "Need not" after a negative (呼ばなくていい, 来んでええ, 心配せんでよか): no complaint.
_NEED_NOT = ("ていい", "てもいい", "でいい", "でええ", "てええ", "でよか", "てよか", "でも")


# Verbs whose negative is good news (なんも変わらね = いつも通り).
_GOOD_WHEN_NEGATED = frozenset({"変わる", "かわる"})


def _negated_unknown_verb(analysis: Analysis, k: int) -> bool:
    tokens = analysis.tokens
    if tokens[k].pos != "動詞" or tokens[k].lemma in _GOOD_WHEN_NEGATED:
        return False
    negative = analysis.negated_after(k, hard=True)  # 飲み込みにくい counts
    if negative is None:
        return False
    i = tokens.index(negative)
    after = "".join(t.surface for t in tokens[i + 1 : i + 4])
    return not after.startswith(_NEED_NOT)


def _unknown_after(text: str, chosen: list[Hit], lexicon: Lexicon) -> Callable[[int], list[str]]:
    return lambda end: _unknown_content(text, chosen, lexicon, end)


def _is_predicate(t: Token) -> bool:
    return (
        t.pos in ("動詞", "形容詞")
        and t.pos1 not in _NOT_CONTENT_POS1
        and t.lemma not in _LIGHT_LEMMAS
    )


def _arguments_explained(analysis: Analysis, chosen: list[Hit], lexicon: Lexicon) -> set[int]:
    """Folded positions explained by an everyday action verb (an `explains = "arguments"`
    entry) that is not negated and not part of a hit that means something else (電話して
    くれんね is a callback): the words before it back to the previous predicate of its
    clause (食った as a yes explains 干し芋も)."""
    tokens = analysis.tokens
    spans: set[int] = set()
    # a reassurance explains its subject too (田んぼも家も大丈夫, 家も塀もなんともねえ)
    subjects_of = {h.start for h in chosen if h.explicit and h.intent in _SUBJECT_OF}
    for i, t in enumerate(tokens):
        last, negative = _verb_at(tokens, i, lexicon.explaining_arguments)
        if last is None:
            if t.start not in subjects_of:
                continue
            last = i
        elif not _plain_action(analysis, chosen, i, last, negative=negative):
            continue
        start = t.start
        for before in reversed(tokens[:i]):
            if before.clause != t.clause or _is_predicate(before):
                break
            start = before.start
        spans.update(range(start, tokens[last].end))
    return spans


_SUBJECT_OF = frozenset({Intent.FINE.value, Intent.USUAL.value})
_REASSURING = frozenset({NEUTRAL, Intent.YES.value, Intent.FINE.value, Intent.USUAL.value})


def _plain_action(
    analysis: Analysis, chosen: list[Hit], first: int, last: int, *, negative: bool = False
) -> bool:
    """Tokens first..last tell an action (or, `negative`, an event that did not happen),
    not inside a hit that means more."""
    tokens = analysis.tokens
    negated = tokens[last].fused_negative or analysis.negated_after(last, hard=True) is not None
    if negated != negative:
        return False
    start, end = tokens[first].start, tokens[last].end
    return not any(h.intent not in _REASSURING and h.start < end and start < h.end for h in chosen)


def _verb_at(
    tokens: Sequence[Token], i: int, verbs: dict[str, dict[tuple[str, ...], bool]]
) -> tuple[int | None, bool]:
    """Index of the last token of an entry of `verbs` starting at token `i` (else None) and
    whether only its negative explains. Particles, adverbs and counters may stand between the
    lemmas of an entry (布団に入る, 長話をする, 剪定ちょっとずつやる)."""
    if tokens[i].pos1 == "非自立":  # an auxiliary use (目覚めてしまって, 寝てみた) is no action
        return None, False
    for verb, negative in verbs.get(tokens[i].lemma, {}).items():
        last = _lemmas_from(tokens, i, verb)
        if last is not None:
            return last, negative
    return None, False


def _lemmas_from(tokens: Sequence[Token], i: int, lemmas: tuple[str, ...]) -> int | None:
    k = i
    for n, lemma in enumerate(lemmas):
        if n:
            k += 1
            while k < len(tokens) and _between_lemmas(tokens[k]):
                k += 1
        if k >= len(tokens) or tokens[k].lemma != lemma:
            return None
    return k


def _between_lemmas(t: Token) -> bool:
    return t.pos in ("助詞", "副詞") or (t.pos == "名詞" and t.pos1 == "接尾")


def _past_particle(tokens: Sequence[Token], k: int) -> bool:
    t = tokens[k]
    return (
        k > 0
        and t.pos in ("動詞", "名詞", "形容詞")
        and t.surface[:1] == "た"
        and t.surface[1:] in _PAST_PARTICLES
        and (tokens[k - 1].pos in ("助動詞", "動詞") or tokens[k - 1].surface.endswith("っ"))
    )


def _unsure_reassurance(
    text: str, chosen: list[Hit], lexicon: Lexicon, c: Classification
) -> Classification:
    """A fine/usual/yes said together with content words the lexicon does not understand
    (`[unsure] min_unknown_words` or more) is not a confident reassurance: it becomes
    `unknown`, so the dialogue asks again and then confirms the safety-first reading
    (体の具合が悪いということですか) instead of recording a silent `fine`. Measured cost and
    benefit: docs/benchmarks.md (speech, unknown-content rule)."""
    rule = lexicon.unsure
    if rule is None or c.intent.value not in rule.applies_to:
        return c
    first = min((h.end for h in chosen if h.intent == c.intent.value), default=None)
    if first is None:  # a yes mapped from fine (お元気ですか -> 元気): look at the mapped hit
        first = min((h.end for h in chosen if h.intent in rule.applies_to), default=0)
    unknown = _unknown_content(text, chosen, lexicon, first)
    if len(unknown) < rule.min_unknown_words:
        return c
    evidence = (*c.evidence, f"{c.intent.value}?+" + "·".join(unknown))
    return Classification(Intent.UNKNOWN, min(c.confidence, MIN_CONFIDENCE - 0.01), evidence, True)


def _token_bounds(analysis: Analysis | None) -> frozenset[int] | None:
    """Where words start and end (a connector is a word: not ただ in なかっただけ)."""
    if analysis is None:
        return None
    return frozenset(t.start for t in analysis.tokens) | frozenset(t.end for t in analysis.tokens)


def _doubted(
    folded: str,
    chosen: list[Hit],
    lexicon: Lexicon,
    allow: frozenset[str],
    c: Classification,
    bounds: frozenset[int] | None = None,
) -> Classification:
    """飲んだけど + words we do not know: the yes is qualified by something we cannot read,
    so the dialogue asks again (or confirms) rather than record a plain yes."""
    rule = lexicon.qualify
    if rule is None or c.intent.value not in rule.doubt or c.ambiguous:
        return c
    if _qualified(folded, chosen, rule, allow, after=rule.doubt, bounds=bounds) is None:
        return c
    confidence = min(c.confidence, MIN_CONFIDENCE - 0.01)
    return Classification(c.intent, confidence, (*c.evidence, "~but?"), True)


def _understood(text: str, folded: str, lexicon: Lexicon) -> list[Hit]:
    """The hits that explain `folded`: surface and lemma matches, then the scope rules
    (statement negated as a whole, negation later in the clause, hedges)."""
    analysis = analyse(text, fold) if lexicon.morphology else None
    hits = _candidates(folded, lexicon, analysis)
    if analysis is not None:
        hits += _lemma_candidates(analysis, lexicon)
    chosen = _select(hits, lexicon)
    if analysis is not None:
        chosen = [h for h in chosen if not _final_particle_iya(h, analysis)]
    if lexicon.sensation is not None:
        chosen += _sensations(folded, chosen, *lexicon.sensation)
    if analysis is not None and lexicon.degree_words:
        chosen = [_degree_word(folded, h, analysis, lexicon.degree_words) for h in chosen]
    if lexicon.scope is not None:
        chosen = _apply_flips(folded, chosen, analysis, lexicon.scope)
    if analysis is not None:
        chosen = [_clause_cancelled(h, chosen, analysis) for h in chosen]
        if lexicon.resolved is not None:
            chosen = [_resolved(h, analysis, lexicon.resolved) for h in chosen]
            chosen = _past_occasions(chosen, analysis, lexicon.resolved)
        if lexicon.told:
            chosen = [_told(h, analysis, lexicon.told) for h in chosen]
    if lexicon.signs is not None:
        chosen = _signs_together(chosen, *lexicon.signs)
    chosen = _neither_good_nor_bad(chosen)
    if lexicon.hedge is not None:
        chosen = [_hedged(folded, h, lexicon.hedge) for h in chosen]
        chosen = _hedge_explained(chosen, lexicon.hedge)
    if lexicon.context is not None:
        chosen = _shut_in_eased(chosen, lexicon.context)
        chosen = _call_asked(chosen, lexicon.context)
        chosen = _someone_for_the_trouble(chosen, lexicon.context)
        chosen = _reason_for_repeat(chosen, lexicon.context)
        if analysis is not None:
            chosen = _hearsay(chosen, analysis, lexicon.context)
        chosen = _someone_elses_complaint(folded, chosen, lexicon.context)
    if lexicon.feared is not None:
        chosen = [_feared(folded, h, *lexicon.feared) for h in chosen]
    if analysis is not None and lexicon.explaining_arguments:
        chosen += _argument_hits(analysis, chosen, lexicon)
    return chosen


# Echigo/Sado いや after a predicate (歩いてきたいや, 飲んだいや, だいや) is a sentence-final
# particle like よ, not the "no" said before anything else.
_PREDICATE_END_POS = frozenset({"動詞", "助動詞", "形容詞"})


def _final_particle_iya(h: Hit, analysis: Analysis) -> bool:
    if h.intent != Intent.NO.value or h.evidence != "いや" or h.start == 0:
        return False
    i = analysis.token_at(h.start)
    if i is None or i == 0 or analysis.tokens[i].start != h.start:
        return False
    before = analysis.tokens[i - 1]
    return before.pos in _PREDICATE_END_POS or (
        before.pos == "助詞" and before.pos1 in ("終助詞", "接続助詞")
    )


_NOT_USUAL = frozenset({"help", "trouble", "callback"})


def _neither_good_nor_bad(chosen: list[Hit]) -> list[Hit]:
    """ええとは言えん + どこが悪いっちゅうこともない, 良いとも申せません + まあ普通: when every
    complaint heard is a reassurance denied as a whole (not good) and a complaint denied (not
    bad) or usual is said too, the answer is usual. A real complaint (痛い) keeps it unwell."""
    unwell = [h for h in chosen if h.intent == "unwell"]
    if any(h.flipped_from != "fine" for h in unwell):
        return chosen
    if not unwell and not (
        any(h.intent == "usual" for h in chosen)
        and any(h.intent == "fine" and not h.explicit for h in chosen)
    ):
        return chosen  # a usual (よくもなく, 普段通り) + not bad (悪くもなく) is usual too
    if any(h.intent in _NOT_USUAL for h in chosen):
        return chosen
    not_bad = [
        h
        for h in chosen
        if h.intent == "usual" or (h.intent == "fine" and h.flipped_from == "unwell")
    ]
    if not not_bad:
        return chosen
    return [
        replace(h, intent="usual", evidence=f"{h.evidence}(neither)")
        if h in unwell or h in not_bad or h.intent == "fine"  # not good: fine is "not bad"
        else h
        for h in chosen
    ]


def _argument_hits(analysis: Analysis, chosen: list[Hit], lexicon: Lexicon) -> list[Hit]:
    """Neutral, non-explicit hits over the words an everyday action explains that no hit
    covers yet: they count as understood (coverage, [unsure]) and decide nothing."""
    explained = _arguments_explained(analysis, chosen, lexicon)
    if not explained:
        return []
    covered = set().union(*(range(h.start, h.end) for h in chosen))
    free = sorted(explained - covered)
    hits: list[Hit] = []
    for pos in free:
        if hits and hits[-1].end == pos:
            hits[-1] = replace(hits[-1], end=pos + 1)
        else:
            hits.append(Hit(pos, pos + 1, NEUTRAL, 1.0, False, "explained by an everyday action"))
    return hits


def _sensations(
    folded: str, chosen: list[Hit], pattern: re.Pattern[str], intent: str, weight: float
) -> list[Hit]:
    """腹がごろごろする, 指先がじんじんして: a bodily sensation told with a doubled sound word
    that no entry explains is a complaint (safety first: never a silent yes or fine). Sound
    words the lexicon knows (ぴんぴん: fine, ずきずき) decide as written."""
    found = []
    for m in pattern.finditer(folded):
        start, end = m.span("sound")
        # the sound as a known word decides (ぴんぴん: fine); a stem or particle inside it
        # (すみ, か) does not
        if any(h.start <= start and end <= h.end and h.intent != NEUTRAL for h in chosen):
            continue
        found.append(Hit(m.start(), m.end(), intent, weight, True, f"{m.group(0)}(sensation)"))
    return found


def _feared(
    folded: str, h: Hit, applies_to: frozenset[str], after: dict[str, tuple[str, ...]], window: int
) -> Hit:
    """トイレ近 + くなるのが嫌で, 風邪 + をひくのが心配: a complaint the resident fears or
    avoids is not one they have now; the rest of the answer decides."""
    if h.intent not in applies_to or not h.explicit:
        return h
    for offset in range(window + 1):
        at = h.end + offset
        marker = _ending_at(folded, at, after.get(folded[at : at + 1], ()))
        if marker is not None:
            return Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}~{marker}")
    return h


def _apply_flips(
    folded: str, chosen: list[Hit], analysis: Analysis | None, rule: ScopeRule
) -> list[Hit]:
    """元気 + とは言えない, 痛くない + わけじゃない, しんどい + ことあらへん: the statement
    is negated as a whole, so its meaning flips (`Hit.flips_to`)."""
    out = list(chosen)
    for h in chosen:
        # a group without its own negated meaning may flip by [scope] flips (眠れんかった
        # + ってことはない: no -> yes)
        flips_to = h.flips_to or (rule.flips.get(h.intent) if h.explicit else None)
        if flips_to is None or h not in out:
            continue
        end = analysis.word_end(h.end) if analysis is not None else h.end
        stop = _meta_negation(analysis, end, rule) if analysis is not None else None
        # h.end too: MeCab may misread 飲まんかったわけ; and a stem's い it split off (悪 +
        # いっちゅう: 悪いっちゅうこともない)
        stem_end = h.end + 1 if folded[h.end : h.end + 1] == "い" else h.end
        for at in dict.fromkeys((end, h.end, stem_end)):
            if stop is None:
                pattern = _ending_at(folded, at, rule.flip_after_at(folded, at))
                stop = at + len(pattern) if pattern is not None else None
        if stop is None:
            continue
        evidence = f"{h.evidence}+{folded[h.end : stop]}"
        flipped = Hit(
            h.start, stop, flips_to, h.weight, False, evidence, h.mappable, flipped_from=h.intent
        )
        out = [o for o in out if o is not h and not (o.start < stop and o.end > h.end)]
        out.append(flipped)
    return _coordinated(folded, sorted(out, key=lambda h: h.start))


def _coordinated(folded: str, chosen: list[Hit]) -> list[Hit]:
    """咳も熱もない: the negation at the end covers every item of an AもBも list."""
    out = list(chosen)
    meaningful = [i for i, h in enumerate(out) if h.intent != NEUTRAL]
    for i, j in reversed(list(itertools.pairwise(meaningful))):
        h, nxt = out[i], out[j]
        if h.flips_to is None or not h.explicit or nxt.explicit:
            continue
        if folded[h.end : nxt.start] != "も" or "+も" not in nxt.evidence:
            continue
        out[i] = Hit(h.start, h.end, h.flips_to, h.weight, False, f"{h.evidence}+も…", h.mappable)
    return out


def _meta_negation(analysis: Analysis, end: int, rule: ScopeRule) -> int | None:
    """End of a negation that governs the statement ending at `end`: a head word (わけ, こと,
    言う, 思う) a few particles/adverbs away whose predicate is negative."""
    tokens = analysis.tokens
    first = next((i for i, t in enumerate(tokens) if t.start >= end), None)
    if first is None or not analysis.same_clause(max(end - 1, 0), tokens[first].start):
        return None
    for i in range(first, min(first + rule.max_skip + 1, len(tokens))):
        t = tokens[i]
        if t.lemma in rule.heads or t.surface in rule.heads:  # わけ is sometimes read as 分ける
            negative = analysis.negated_after(i)
            if negative is not None:
                return negative.end
            continue  # っていう + ほどでもない: the next head may carry the negative
        skippable = t.pos in ("助詞", "助動詞", "副詞") or t.surface in ("ん", "の")
        if not skippable:
            return None
    return None


_REQUEST_BEFORE = frozenset({"くれる", "もらえる", "くださる", "下さる", "いただける", "頂ける"})
_NOT_A_REFUSAL_AFTER = ("か", "と", "ば", "けりゃ", "んか")  # 呼んでくれんか, 呼ばんと(あかん)
_REFUSAL_AFTER = ("といて", "とって", "といてな", "とき", "でええ", "でいい", "でも")


def _clause_cancelled(h: Hit, chosen: list[Hit], analysis: Analysis) -> Hit:
    """救急車 + なんか呼ばんでええ: a help word in a clause whose predicate is negative is a
    refusal, not a call. Requests (呼んでくれんか) and musts (呼ばんと) are not refusals;
    a negative inside another hit (動けない) belongs to that hit."""
    if h.intent != Intent.HELP.value or not h.clause_scope:
        return h
    tokens = analysis.tokens
    for i, t in enumerate(tokens):
        if t.start < h.end or not analysis.same_clause(h.start, t.start):
            continue
        inside = (o for o in chosen if o is not h and o.intent != NEUTRAL)
        negative = t.is_negative or _prohibitive(tokens, i)
        if not negative or any(o.start <= t.start < o.end for o in inside):
            continue
        before = tokens[i - 1].lemma if i > 0 else ""
        after = "".join(t.surface for t in tokens[i + 1 : i + 4])
        if i + 1 < len(tokens) and (tokens[i + 1].pos == "接続詞" or tokens[i + 1].ends_clause):
            after = ""  # ないばってん, なかけん: a conjunction, not the conditional ば
        refusal = after.startswith(_REFUSAL_AFTER)  # 呼ばんといて, 呼ばんとって
        if before in _REQUEST_BEFORE or (after.startswith(_NOT_A_REFUSAL_AFTER) and not refusal):
            continue
        return Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}+…{t.surface}")
    return h


def _prohibitive(tokens: Sequence[Token], i: int) -> bool:
    """呼ぶな(よ): the particle な right after a verb's plain form forbids it (a refusal)."""
    t = tokens[i]
    if t.surface != "な" or t.pos != "助詞" or i == 0:
        return False
    verb = tokens[i - 1]
    return verb.pos == "動詞" and verb.surface == verb.lemma


def _hedged(folded: str, h: Hit, rule: HedgeRule) -> Hit:
    """一応大丈夫, 大丈夫だと思う, たぶん元気かな: a hedged reassurance is not `fine`."""
    if h.intent not in rule.applies_to or not h.explicit:
        return h
    lo = max(0, h.start - rule.window)
    marker = next((m for m in rule.before if m in folded[lo : h.start]), None)
    if marker is None:
        after = folded[h.end : h.end + rule.window]
        for m in rule.after:
            at = after.find(m)
            if at >= 0 and not folded.startswith(rule.not_followed_by, h.end + at):
                marker = m
                break
    if marker is None:
        return h
    return Hit(h.start, h.end, rule.intent, rule.weight, False, f"{h.evidence}~{marker}")


def _degree_word(folded: str, h: Hit, analysis: Analysis, words: set[str]) -> Hit:
    """えらい高うて, えらい積もった: before an adjective, verb or adverb these words mean
    "very" (the next word decides), not "tired"."""
    if h.intent == NEUTRAL or folded[h.start : h.end] not in words:
        return h
    nxt = next((t for t in analysis.tokens if t.start == h.end), None)
    if nxt is None or nxt.pos not in ("形容詞", "動詞", "副詞") or nxt.pos1 == "非自立":
        return h
    return Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}>{nxt.surface}")


def _resolved(h: Hit, analysis: Analysis, rule: ResolvedRule) -> Hit:
    """停電もすぐ直った, 雪下ろしは業者さ頼んだ (same clause), 風邪ひいとったけど治った (a
    complaint told in the past, recovery in the next clause): no longer a trouble/complaint.
    An emergency sign that stopped (胸の痛みは治まった) is not over: it becomes
    `rule.stopped` (unwell), so it is followed up instead of read as help or fine."""
    stopped = h.intent == Intent.HELP.value and rule.stopped is not None
    if (h.intent not in rule.applies_to and not stopped) or not h.explicit:
        return h
    verbs = rule.verbs | rule.recovered if h.intent == Intent.TROUBLE.value else rule.recovered
    tokens = analysis.tokens
    clause = analysis.clause_at(h.start)
    told_in_past = _past_time_before(tokens, h.start, clause, rule.past_words) or any(
        _is_past(tokens, k) for k, t in enumerate(tokens) if h.start < t.start < h.end
    )  # 吐いた: the past is inside the hit
    for i, t in enumerate(tokens):
        if t.start < h.end:
            continue
        t_clause = t.clause  # not clause_of[t.start]: punctuation tokens are zero-width
        at = _recovery_at(tokens, i, rule)
        if t_clause == clause:
            told_in_past = told_in_past or _is_past(tokens, i)
            if (t.lemma in verbs or at != i) and _past_after(tokens, at):
                return h if _partly(tokens, i, rule) else _over(h, t, rule, stopped)
        elif t_clause == clause + 1 and told_in_past:
            if (t.lemma in rule.recovered or at != i) and _past_after(tokens, at, te_form=True):
                return _over(h, t, rule, stopped)
            if not stopped and _better_now(tokens, i, rule):
                return _over(h, t, rule, stopped)
        elif t_clause > clause + 1:
            break
    return h


def _partly(tokens: Sequence[Token], i: int, rule: ResolvedRule) -> bool:
    """ちったあ + 落ち着いた, 少し + 楽になった: a recovery told with a small quantity right
    before it is partial, so the complaint stays."""
    before = "".join(t.surface for t in tokens[max(0, i - 3) : i] if t.clause == tokens[i].clause)
    return bool(rule.partly) and before.endswith(rule.partly)


def _hedge_explained(chosen: list[Hit], rule: HedgeRule) -> list[Hit]:
    """大丈夫と言いてえとこじゃけど + 停電で充電が切れそう: a hedged reassurance followed by a
    named `explained_by` (a trouble) was hedged because of it; the trouble decides."""
    if not rule.explained_by:
        return chosen
    later = [h.start for h in chosen if h.explicit and h.intent in rule.explained_by]

    def hedged(h: Hit) -> bool:
        return h.intent == rule.intent and not h.explicit and "~" in h.evidence

    return [
        Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}>explained")
        if hedged(h) and any(s >= h.end for s in later)
        else h
        for h in chosen
    ]


def _shut_in_eased(chosen: list[Hit], rule: ContextRule) -> list[Hit]:
    """雪で出られねえ + 誰か雪はねしてくんねえべか: being shut in, followed by a request for a
    chore (a later trouble hit naming one of `chores`), is that chore: the way out needs
    clearing. Without such a request (外に出られん, 出られへん + 戸が開かん) it stays help; a
    trouble told before it does not ease it."""
    if not rule.shut_in:
        return chosen
    troubles = [
        h.start
        for h in chosen
        if h.explicit
        and h.intent == Intent.TROUBLE.value
        and any(c in h.evidence for c in rule.chores)
    ]
    out = []
    for h in chosen:
        shut_in = h.intent == Intent.HELP.value and h.evidence.startswith(rule.shut_in)
        if shut_in and any(s >= h.end for s in troubles):
            h = Hit(h.start, h.end, rule.shut_in_becomes, h.weight, False, f"{h.evidence}>chore")
        out.append(h)
    return out


_HEARING = ("聞こえ", "きこえ")


def _reason_for_repeat(chosen: list[Hit], rule: ContextRule) -> list[Hit]:
    """耳が遠なってしもて + もう一回言って: hearing loss said beside a request to say it again is
    the reason for the request, so the request decides. Without a request it stays a complaint;
    help is never touched."""
    asked = [h for h in chosen if h.intent == Intent.REPEAT.value]
    # テレビの音がよう聞こえねん is what hearing loss does, not a request to say it again
    if not rule.reason_for_repeat or all(any(w in h.evidence for w in _HEARING) for h in asked):
        return chosen
    return [
        replace(h, intent=NEUTRAL)
        if h.intent == Intent.UNWELL.value and any(w in h.evidence for w in rule.reason_for_repeat)
        else h
        for h in chosen
    ]


def _call_asked(chosen: list[Hit], rule: ContextRule) -> list[Hit]:
    """誰とも口きいてへん + 誰か電話してくれへんか, 電話してもろて + 声聞かな落ち着かへん: an
    explicit request for a phone call (`call_words`) answers the unease or the silence said
    beside it (`eased_by_call`), so the call decides. A symptom (痛い, 眠れん) and loneliness
    as a feeling (寂しい) are never eased; a wish to talk (話したい) eases nothing."""
    if not rule.eased_by_call or not any(
        h.explicit
        and h.intent == Intent.CALLBACK.value
        and any(w in h.evidence for w in rule.call_words)
        for h in chosen
    ):
        return chosen
    return [
        Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}>call")
        if h.intent == Intent.UNWELL.value and h.evidence.startswith(rule.eased_by_call)
        else h
        for h in chosen
    ]


def _someone_for_the_trouble(chosen: list[Hit], rule: ContextRule) -> list[Hit]:
    """水道管が破れて 床が水浸し + 誰か呼んでくれんね: a call for someone after a named trouble,
    with no other help word, asks for someone to fix that trouble. Any other help word (火事,
    水が家に入って, 倒れて) keeps it help."""
    calls = [
        h
        for h in chosen
        if h.intent == Intent.HELP.value and h.evidence.startswith(rule.call_for_trouble)
    ]
    if not rule.call_for_trouble or not calls:
        return chosen
    if any(h.intent == Intent.HELP.value and h not in calls for h in chosen):
        return chosen
    first_trouble = min(
        (h.start for h in chosen if h.explicit and h.intent == Intent.TROUBLE.value), default=None
    )
    if first_trouble is None or first_trouble > min(h.start for h in calls):
        return chosen
    return [
        Hit(h.start, h.end, Intent.TROUBLE.value, h.weight, False, f"{h.evidence}>trouble")
        if h in calls
        else h
        for h in chosen
    ]


_VERDICTS = frozenset({Intent.FINE.value, Intent.USUAL.value})


def _hearsay(chosen: list[Hit], analysis: Analysis, rule: ContextRule) -> list[Hit]:
    """湖の水が上がってきとるって聞いたけど + うちは高いとこだで心配ねえ: a help or trouble
    told as hearsay (a `hearsay` word later in its clause) or placed at someone else's (an
    `elsewhere` word before it in its clause: 港の方は浸水しとるけど) with a later verdict about
    the resident's own place (fine/usual) is news, not the resident's: the verdict decides.
    Without a verdict (上がっとるらしか + 避難所まで行けん) nothing changes."""
    if not (rule.hearsay or rule.elsewhere):
        return chosen
    verdicts = [h.start for h in chosen if h.intent in _VERDICTS]
    out = []
    for h in chosen:
        told = _told_at(h, analysis, rule)
        if told is not None and any(v >= told for v in verdicts):
            h = Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}~heard")
        out.append(h)
    return out


# a help/trouble/complaint found to be news or someone else's: known words, not the resident's
_NOT_THE_RESIDENTS = ("~heard", "~other")
_SUBJECT_AFTER = ("が", "は", "も", "の方が", "のほうが", "の方は", "のほうは")
# the resident speaking of themselves; _SELF and _OWN_PLACE add what each needs
_RESIDENT = ("わし", "おら", "わたし", "私", "あたし", "自分", "うち")
_SELF = (*_RESIDENT, "おれ", "俺", "わだ")


def _someone_elses_complaint(folded: str, chosen: list[Hit], rule: ContextRule) -> list[Hit]:
    """おれは元気だ + ばあさんがひざ痛えって, 隣のばっちゃが入院したども + わだばなんともねぇ:
    a complaint after another person named as its subject (`others` + が/は) with a verdict
    about the resident (fine/usual) outside that story is the other's: it does not count.
    Help is never dropped this way (主人が倒れて stays help), nor a complaint without a verdict."""
    if not rule.others or not any(h.intent in _VERDICTS for h in chosen):
        return chosen
    subjects = [
        i + len(w) + len(p)
        for w in rule.others
        for i in range(len(folded))
        if folded.startswith(w, i)
        for p in _SUBJECT_AFTER
        if folded.startswith(p, i + len(w))
    ]
    out = []
    for h in chosen:
        told = [p for p in subjects if p <= h.start and not _self_between(folded, p, h.start)]
        if h.intent == Intent.UNWELL.value and told:
            start = max(told)
            if any(v.intent in _VERDICTS and not start <= v.start < h.end for v in chosen):
                h = Hit(start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}~other")
        out.append(h)
    return out


def _self_between(folded: str, start: int, end: int) -> bool:
    """Whether the words between the other's subject and the complaint may start another
    story: the resident (わしも), another subject (孫が来て + 腰が痛い), a て-form, or too many
    words: then the complaint may be the resident's own."""
    between = folded[start:end]
    return (
        len(between) > _OTHER_GAP
        or any(w in between for w in _SELF)
        or any(c in between for c in "がはて")
    )


_OTHER_GAP = 5


def _told_at(h: Hit, analysis: Analysis, rule: ContextRule) -> int | None:
    """Where a help/trouble hit is shown to be news (the end of its hearsay word, or of the hit
    after an `elsewhere` word), or None."""
    if h.intent not in (Intent.HELP.value, Intent.TROUBLE.value):
        return None
    clause = analysis.clause_at(h.start)
    same = [t for t in analysis.tokens if t.clause == clause]
    for t in same:
        if t.start >= h.end and t.lemma in rule.hearsay:
            return t.end
    before = "".join(t.surface for t in same if t.end <= h.start)
    if any(w in before for w in _OWN_PLACE):  # うちの方は水が来とる: the resident's own
        return None
    return h.end if any(w in before for w in rule.elsewhere) else None


_OWN_PLACE = (*_RESIDENT, "家ん中", "我が家", "わが家")


def _past_time_before(
    tokens: Sequence[Token], start: int, clause: int, words: frozenset[str]
) -> bool:
    """先週は熱出だけど: a past time word earlier in the complaint's clause tells it in the
    past (not 昨日から: since yesterday, still going on)."""
    for i, t in enumerate(tokens):
        if t.start >= start:
            return False
        if t.clause == clause and t.lemma in words:
            nxt = tokens[i + 1].surface if i + 1 < len(tokens) else ""
            if nxt not in ("から", "より", "以来"):
                return True
    return False


def _past_occasions(chosen: list[Hit], analysis: Analysis, rule: ResolvedRule) -> list[Hit]:
    """伊勢湾台風の時は家が流されたけど + 今度はなんともにゃあ: a clause about a past occasion
    (の + 時/頃 + は, told in the past) is a story when a later clause gives a verdict about
    now (今度/今回/今 + fine or usual). Its hits, help included, do not count: the resident
    compares; the verdict decides. Without such a verdict nothing changes."""
    if not rule.occasion or not rule.now:
        return chosen
    tokens = analysis.tokens
    stories = {
        t.clause
        for i, t in enumerate(tokens[1:-1], 1)
        if t.lemma in rule.occasion
        and tokens[i - 1].surface in rule.occasion_before
        and tokens[i + 1].surface in rule.occasion_after
        and any(
            _is_past(tokens, k) for k in range(i + 1, len(tokens)) if tokens[k].clause == t.clause
        )
    }
    if not stories:
        return chosen
    verdicts = [
        analysis.clause_at(h.start)
        for h in chosen
        if h.intent in (Intent.FINE.value, Intent.USUAL.value)
        and any(
            t.lemma in rule.now and t.clause == analysis.clause_at(h.start) and t.end <= h.start
            for t in tokens
        )
    ]
    out = []
    for h in chosen:
        clause = analysis.clause_at(h.start)
        told = clause in stories and any(v > clause for v in verdicts)
        if told and h.intent not in (NEUTRAL, Intent.FINE.value, Intent.USUAL.value):
            h = Hit(h.start, h.end, NEUTRAL, h.weight, False, f"{h.evidence}~past")
        out.append(h)
    return out


def _signs_together(chosen: list[Hit], together: int, intent: str) -> list[Hit]:
    """左の足を引きずる + うまく歩けない: warning signs of one family (a group's `sign`, e.g.
    stroke) that are each only unwell add up: `together` different ones mean `intent` (help).
    A sign that was negated away (neutral) does not count."""
    by_sign: dict[str, list[Hit]] = {}
    for h in chosen:
        if h.sign is not None and h.intent not in (NEUTRAL, intent):
            by_sign.setdefault(h.sign, []).append(h)
    extra = []
    for sign, hits in by_sign.items():
        if len({h.evidence for h in hits}) >= together:
            at = max(h.end for h in hits)
            evidence = f"{sign}×{len(hits)}:" + "+".join(h.evidence for h in hits)
            extra.append(Hit(at, at, intent, 1.0, False, evidence))
    return sorted([*chosen, *extra], key=lambda h: h.start) if extra else chosen


def _recovery_at(tokens: Sequence[Token], i: int, rule: ResolvedRule) -> int:
    """Index of なる when token `i` is a `better` word before it (良く + なった, 楽 + に +
    なった), of する after a `better_suru` adverb (すっきり + した), else i."""
    if tokens[i].lemma in rule.better_suru:
        j = i + 1
        return j if j < len(tokens) and tokens[j].lemma in ("する", "いたす") else i
    if tokens[i].lemma not in rule.better:
        return i
    if tokens[i].lemma == "よう":  # 良うなった; not 歩けんようになった ("came to")
        after_verb = i > 0 and tokens[i - 1].pos in ("動詞", "助動詞")
        if after_verb or i + 1 >= len(tokens) or tokens[i + 1].lemma != "なる":
            return i
    j = i + 2 if i + 1 < len(tokens) and tokens[i + 1].surface == "に" else i + 1
    return j if j < len(tokens) and tokens[j].lemma == "なる" else i


_NOW = frozenset({"今日", "きょう", "今", "いま", "今朝", "けさ", "もう"})


def _better_now(tokens: Sequence[Token], i: int, rule: ResolvedRule) -> bool:
    """お腹こわしとったけど + 今日はもうええ: a `better` word said of now (今日, 今 earlier in
    its clause), not negated and not before a noun (今日はいい天気 is the weather)."""
    t = tokens[i]
    if not any(t.surface.startswith(b) for b in rule.better):
        return False
    if not any(o.lemma in _NOW for o in tokens[:i] if o.clause == t.clause):
        return False
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    return nxt is None or not (nxt.is_negative or (nxt.pos == "名詞" and t.pos != "名詞"))


def _over(h: Hit, t: Token, rule: ResolvedRule, stopped: bool) -> Hit:
    intent = rule.stopped if stopped and rule.stopped is not None else NEUTRAL
    weight = 0.8 if stopped else h.weight
    return Hit(h.start, h.end, intent, weight, False, f"{h.evidence}+…{t.surface}")


_WISH = frozenset({"たい", "ほしい", "欲しい", "ちょうだい", "頂戴"})
_REQUEST = frozenset({"くださる", "下さる", "くれる", "もらえる"})


def _told(h: Hit, analysis: Analysis, told: dict[str, str]) -> Hit:
    """娘と電話で話した, 息子から電話があった: a call or a talk told in the past (a past
    predicate later in its clause, no wish or request on the way) is a story, not a request
    to be called: it means what `[told]` says (yes: the resident did talk to someone).
    電話してくれた counts as told, 電話してくれたら / 電話してほしかった do not."""
    if h.intent not in told or not h.explicit or h.evidence.endswith(_NEGATIVE_REQUESTS):
        return h  # 電話ばくれんね (one token for MeCab): a request by negative question
    tokens = analysis.tokens
    clause = analysis.clause_at(h.start)
    for i, t in enumerate(tokens):
        if t.start < h.end and not (t.start < h.end < t.end):
            if t.start >= h.start and t.is_negative:
                return h  # 電話ばくれんね: a request by negative question, whatever follows
            continue
        if t.clause != clause:
            break
        asks = t.lemma in _WISH or (t.lemma in _REQUEST and not _is_past(tokens, i + 1))
        if t.is_negative or asks:
            return h  # 話したい, 電話してほしい, 電話をくれんか: still a request
        if t.start >= h.end and _is_past(tokens, i):
            evidence = f"{h.evidence}+…{t.surface}"
            return Hit(h.start, h.end, told[h.intent], h.weight, False, evidence)
    return h


_NEGATIVE_REQUESTS = (
    "くれん",
    "くれへん",
    "くれない",
    "くれんね",
    "もらえん",
    "もらえへん",
    "もらえない",
)


def _is_past(tokens: Sequence[Token], i: int) -> bool:
    """Token `i` is the past auxiliary た/だ (飲んだ, not the copula だ)."""
    if i >= len(tokens):
        return False
    t = tokens[i]
    after_ta_stem = i > 0 and tokens[i - 1].form == "連用タ接続"
    if after_ta_stem and t.pos in ("動詞", "助動詞") and t.surface[:1] in ("た", "だ"):
        return True  # 治ったっちゃ: MeCab reads たっ as a verb; only た/だ follow this stem
    if t.pos != "助動詞" or t.plain not in ("た", "だ"):
        return False
    return t.lemma == "た" or (i > 0 and tokens[i - 1].form.startswith("連用"))


_REGRET = frozenset({"しまう", "ちゃう", "じゃう", "しも", "しもう"})


def _past_after(tokens: Sequence[Token], i: int, *, te_form: bool = False) -> bool:
    """The predicate of token `i` is past, not negated, regretted or suffered (直った, 頼んだ;
    not 直らなかった, 頼んでしもうた, 買わされた); with `te_form` a て-form going on to
    something else counts too (治って元気だよ)."""
    for j in range(i + 1, len(tokens)):
        t = tokens[j]
        if t.is_negative or t.lemma in _REGRET or t.pos1 == "接尾":
            return False
        if _is_past(tokens, j):
            return True
        if not t.continues_predicate:
            return False
        if te_form and t.plain in ("て", "で") and t.pos == "助詞":
            nxt = tokens[j + 1] if j + 1 < len(tokens) else None
            if nxt is None or not (nxt.continues_predicate or nxt.is_negative):
                return True
    return False


def _qualified(
    folded: str,
    chosen: list[Hit],
    rule: QualifyRule | None,
    allow: frozenset[str],
    after: frozenset[str] | None = None,
    bounds: frozenset[int] | None = None,
    unknown_words: Callable[[int], list[str]] | None = None,
) -> Hit | None:
    """A zero-width hit of `rule.intent` when a reassurance is followed by a connector
    (けど, ばってん, ...) and then by words the lexicon does not explain, else None.

    元気だけど膝が痛い needs no rule (痛 is known and unwell wins); 元気だけど目がかすむ would
    otherwise be read as fine. Known words after the connector decide as usual; words that
    do not answer this question (ご飯は食べた to 体調は) are explained but decide nothing.
    """
    if rule is None:
        return None
    meaningful = [
        h
        for h in chosen
        if (h.intent != NEUTRAL and h.intent in allow) or h.evidence.endswith(_NOT_THE_RESIDENTS)
    ]
    qualifiable = rule.after if after is None else after
    for h in (h for h in chosen if h.intent in qualifiable):  # also a fine mapped to yes
        connector = _connector_after(folded, h, meaningful, rule, bounds)
        if connector is None and unknown_words is not None:
            connector = _connector_after_story(folded, h, meaningful, rule, bounds, unknown_words)
            if connector is not None:
                start, end = connector
                evidence = f"{h.evidence}+…{folded[start:end]}+?"
                return Hit(end, end, rule.intent, rule.weight, False, evidence)
        if connector is None:
            continue
        start, end = connector
        if any(m.end > end for m in meaningful):
            return None  # known words after the connector decide
        covered = set().union(*(range(c.start, c.end) for c in chosen))
        unknown = sum(1 for i in range(end, len(folded)) if i not in covered)
        if unknown >= rule.min_unknown:
            evidence = f"{h.evidence}+{folded[start:end]}+?"
            return Hit(end, end, rule.intent, rule.weight, False, evidence)
    return None


def _connector_after(
    folded: str,
    hit: Hit,
    meaningful: list[Hit],
    rule: QualifyRule,
    bounds: frozenset[int] | None = None,
    max_gap: int | None = None,
) -> tuple[int, int] | None:
    """Where a connector starts within `max_gap` after `hit` with nothing meaningful between."""
    gap = rule.max_gap if max_gap is None else max_gap
    for pos in range(hit.end, min(hit.end + gap, len(folded)) + 1):
        if any(m is not hit and m.start < pos and m.end > hit.end for m in meaningful):
            return None
        connector = _ending_at(folded, pos, rule.connectors)
        if connector is None or _ending_at(folded, pos, rule.not_connectors) is not None:
            continue
        if bounds is None or (pos in bounds and pos + len(connector) in bounds):
            return pos, pos + len(connector)
    return None


def _connector_after_story(
    folded: str,
    hit: Hit,
    meaningful: list[Hit],
    rule: QualifyRule,
    bounds: frozenset[int] | None,
    unknown_words: Callable[[int], list[str]],
) -> tuple[int, int] | None:
    """元気やで + 近所に配ってきた + けど + 足がもつれて: a connector further away than
    `max_gap`, after a story with no unknown content word (everyday actions explain it),
    followed by unknown content words, qualifies the reassurance like 元気やけど + ...."""
    connector = _connector_after(folded, hit, meaningful, rule, bounds, max_gap=len(folded))
    if connector is None or any(m.end > connector[1] for m in meaningful):
        return None
    after = unknown_words(connector[1])
    if not after or len(unknown_words(hit.end)) != len(after):
        return None
    return connector


def _decide(folded: str, chosen: list[Hit], lexicon: Lexicon, expect: str) -> Classification:
    rule = lexicon.expects.get(expect) or lexicon.expects["any"]
    covered = sum(h.end - h.start for h in chosen)
    coverage = covered / len(folded)
    meaningful = [_unasked(h, lexicon, rule) for h in chosen if h.intent != NEUTRAL]
    allowed = [h for h in meaningful if h.intent in rule.allow]
    scale = 1.0
    if not allowed:
        allowed = [
            Hit(h.start, h.end, rule.mapping[h.intent], h.weight, h.explicit, h.evidence)
            for h in meaningful
            if h.intent in rule.mapping and h.mappable
        ]
        scale = rule.map_confidence
    if not allowed:
        return Classification(Intent.UNKNOWN, 0.0, tuple(h.evidence for h in meaningful), False)
    present = {h.intent for h in allowed}
    winner = min(present, key=lambda i: _rank(lexicon, i))
    # yes + no is ambiguous, unless something that outranks both was said (飲んどらん、
    # 飲んだら気持ち悪うなる: unwell decides, safety first).
    ambiguous = any(pair <= present and winner in pair for pair in lexicon.conflicts)
    evidence = tuple(h.evidence for h in allowed if h.intent == winner)
    weight = max(h.weight for h in allowed if h.intent == winner)
    confidence = round(scale * weight * (0.55 + 0.45 * coverage), 3)
    if ambiguous:
        confidence = min(confidence, MIN_CONFIDENCE - 0.01)
    return Classification(Intent(winner), confidence, evidence, ambiguous)


def _unasked(h: Hit, lexicon: Lexicon, rule: ExpectRule) -> Hit:
    meaning = lexicon.unasked.get(h.evidence)
    if meaning is None or h.intent in rule.allow:
        return h
    return Hit(h.start, h.end, meaning, h.weight, h.explicit, h.evidence)


def _rank(lexicon: Lexicon, intent: str) -> int:
    try:
        return lexicon.priority.index(intent)
    except ValueError:
        return len(lexicon.priority)


def is_help_phrase(text: str, lang: str = "ja", *, lexicon: Lexicon | None = None) -> bool:
    """True when a final recognition result asks for help (助けて, 救急車, ...).

    Used between dialogues on final results only; stories and refusals
    (助けてもらった, 救急車はいらない) do not count.
    """
    lexicon = lexicon or get_lexicon(lang)
    text = drop_lengthening(text)
    folded = fold(text)
    if not folded:
        return False
    return any(h.intent == Intent.HELP for h in _understood(text, folded, lexicon))


def help_words_heard(text: str, lang: str = "ja", *, lexicon: Lexicon | None = None) -> bool:
    """The safe reading when is_help_phrase fails: a help phrase of the lexicon appears in
    the folded text as written. No morphology and no scope rules, so a refusal (救急車は
    いらない) counts as help here: after a classifier fault a false alarm beats a missed call."""
    lexicon = lexicon or get_lexicon(lang)
    folded = fold(text)
    return any(p.core and p.core in folded for p in lexicon.phrases if p.intent == "help")


def fault_origin(exc: BaseException) -> str:
    """Where a classifier fault came from (type, file:line, function) for a log line; never
    the exception's message, which may quote what the resident said."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


def is_acceptable(c: Classification) -> bool:
    """Whether the dialogue may act on this classification without asking again."""
    return c.intent != Intent.UNKNOWN and not c.ambiguous and c.confidence >= MIN_CONFIDENCE
