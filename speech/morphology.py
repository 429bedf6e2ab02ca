"""Morphological analysis of an answer (pyopenjtalk's MeCab front end), aligned to fold().

What the classifier takes from it:
- lemmas, so that one lexicon entry (`lemmas = ["力 入る"]`) covers every inflection
  (入らない, 入らん, 入らへん, 入りません);
- negation: a negative auxiliary (ない, ぬ/ん, へん, ひん, ず) or the adjective ない in the
  chain of auxiliaries after a word; ん after a plain form is the explanatory の
  (しびれとるんよ = しびれているのよ), not a negative (しびれとらん); a negative that asks
  (来てくれへんか, 電話してもらえんかね) is a request, not a negation;
- difficulty: 〜にくい / 〜づらい (息がしにくい, 言葉が出にくい) is reported like a negative
  to lexicon `lemmas` entries, whose negation is their emergency (`negated_after(hard=True)`);
- Kansai 来る negatives MeCab splits wrongly (出てけえへん, 出てこおへん) are read as 来る,
  a lengthened one-mora stem before へん/ひん (出えへん, 見いひん) stays in the verb, and
  the polite しま/ま before へん (あらしまへん, 行きまへん) is the auxiliary ます;
- dialect negatives MeCab does not tag: ねえ/ね after a verb's て-form when a word that
  needs a negative opened the clause (なんも壊れてねえ = 壊れていない; 痛くてねえ and
  むくんでねえ stay a sigh), やん after a verb's 未然形 (歩けやん), and a verb read as one
  token with a fused ん (出んもんで; not 出んだ = 出るんだ);
- a lengthened one-kanji noun (目ぇ, 手ぇ) keeps the noun's lemma (目, 手), and a lengthened
  token (たー, よー) keeps its meaning (`Token.plain`);
- clauses: where a 接続助詞 (けど, が, のに, ...) or punctuation ends one, so that a hedge or
  a negation only reaches the words of its own clause.

Every token carries its span in the folded text (speech.intents.fold) so hits found on the
surface and on lemmas share one coordinate system. When the folded tokens do not line up
with fold(text) (unusual input), analyse() returns None and the classifier keeps to its
surface rules. Results are cached: a dialogue classifies the same few answers repeatedly.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from types import ModuleType

log = logging.getLogger(__name__)
# pyopenjtalk keeps global state: analysis and synthesis (speech.tts) take turns.
OPENJTALK_LOCK = threading.Lock()

NEGATIVE_AUX = frozenset({"ない", "ぬ", "ん", "へん", "ひん", "ず", "ねえ", "ねぇ", "まい"})
# ん/ぬ right after one of these forms is the explanatory の (痛むんよ, しびれとるんや).
_PLAIN_FORMS = frozenset({"基本形", "連体形"})
# Non-independent adjectives of difficulty: 息がしにくい, 歩きづらい.
DIFFICULTY = frozenset({"にくい", "づらい", "辛い", "がたい"})
# A negative question after these verbs asks for something (来てくれへんか).
_REQUEST_VERBS = frozenset({"くれる", "もらえる", "くださる", "下さる", "いただける", "頂ける"})
# Kansai negatives of 来る that MeCab reads as other words before へん/ひん (けえ -> こい).
_KURU_BEFORE_NEGATIVE = frozenset({"け", "けえ", "こ", "こお", "き", "きい"})
# Kyoto/Osaka polite negatives (あらしまへん, 行きまへん = ありません, 行きません): MeCab
# reads しま as a verb しむ and ま as a filler, which would break the predicate chain.
_POLITE_BEFORE_NEGATIVE = frozenset({"しま", "ま"})
# Kansai lengthens a one-mora stem before へん/ひん (出えへん, 見いひん, 寝えへん); MeCab
# reads the vowel as a verb える or a filler, which would break the predicate chain.
_LENGTHENED_STEM = frozenset({"え", "ぇ", "い", "ぃ"})
# ども: the Tohoku/eastern "but" (熱あったども, 食ったども), analysed as a 接続助詞; けんど
# and げんちょ end a clause too when MeCab reads them as a particle
CLAUSE_PARTICLES = frozenset(
    {
        "けど",
        "けれど",
        "けれども",
        "けども",
        "が",
        "のに",
        "ても",
        "でも",
        "し",
        "けん",
        "さかい",
        "ども",
        # "but" in Tosa/Shikoku, Fukushima and Tohoku (いためちょったけんど, 元気だげんちょ)
        "けんど",
        "けんども",
        "げんちょ",
        "げんと",
        "けんちょ",
        "だども",
    }
)
# Tokens that continue a predicate: auxiliaries, non-independent verbs (ている, てしまう),
# the te-particle, and the adjective ない after く/じゃ.
# dialect "but" that MeCab reads as a noun (元気だげんちょ: Fukushima)
_DIALECT_BUT = frozenset(
    {"げんちょ", "げんと", "けんちょ", "けんど", "けんども", "だども", "ばってん"}
)  # ばってん: Kyushu, read as a noun after もなか
_CHAIN_POS = frozenset({"助動詞"})
_CHAIN_PARTICLES = frozenset({"て", "で", "は", "も", "じゃ", "ちゃ", "や"})  # や: わけやない
_CHAIN_VERBS = frozenset({"ある", "いる", "おる", "する"})
# passive/potential/causative suffixes continue a predicate (食べられへん); not the Tohoku
# しゃ of かゆくてしゃねぇ (= しょうがない), which MeCab also reads as a suffix
_VOICE_SUFFIXES = frozenset({"れる", "られる", "せる", "させる"})  # こと(は)あらへん, しとらん


@dataclass(frozen=True)
class Token:
    surface: str  # folded
    lemma: str  # folded base form (入ら -> 入る)
    pos: str
    pos1: str
    start: int  # span in the folded text
    end: int
    form: str = ""  # conjugated form (未然形, 基本形, ...)
    explanatory: bool = False  # ん after a plain form: の, not a negative
    clause: int = 0  # clause number; punctuation belongs to the clause it ends
    # a dialect negative MeCab does not tag as one: ねえ after a verb's て-form (なんも壊れて
    # ねえ), やん after a verb's 未然形 (歩けやん, 食べやん: Kishu/Ise)
    dialect_negative: bool = False
    # a verb read as one token with a fused ん (出んもんで = 出ないもので)
    fused_negative: bool = False

    @property
    def plain(self) -> str:
        """The surface without a lengthening mark (治ったー: たー -> た)."""
        return self.surface.rstrip("ー") or self.surface

    @property
    def is_negative(self) -> bool:
        if self.dialect_negative:
            return True
        if self.pos == "助動詞" and self.lemma in NEGATIVE_AUX:
            return not self.explanatory
        return self.pos == "形容詞" and self.lemma in ("ない", "無い")

    @property
    def is_difficulty(self) -> bool:
        return self.pos == "形容詞" and self.pos1 == "非自立" and self.lemma in DIFFICULTY

    @property
    def ends_clause(self) -> bool:
        if self.pos == "記号" or self.pos == "接続詞" or self.plain in _DIALECT_BUT:
            return True
        return self.pos == "助詞" and self.pos1 == "接続助詞" and self.lemma in CLAUSE_PARTICLES

    @property
    def continues_predicate(self) -> bool:
        if self.pos in _CHAIN_POS or self.is_negative:
            return True
        if self.pos == "動詞" and (self.pos1 == "非自立" or self.lemma in _CHAIN_VERBS):
            return True
        if self.pos == "動詞" and self.pos1 == "接尾" and self.lemma in _VOICE_SUFFIXES:
            return True
        return self.pos == "助詞" and self.plain in _CHAIN_PARTICLES


@dataclass(frozen=True)
class Analysis:
    tokens: tuple[Token, ...]
    # Clause number of every folded character. Punctuation folds to nothing, so its tokens
    # are zero-width (start == end, possibly == len(folded)) and have no entry here: ask
    # `Token.clause` for a token's clause, `clause_at` for a folded position's.
    clause_of: tuple[int, ...]

    def token_at(self, pos: int) -> int | None:
        """Index of the token covering folded position `pos`."""
        for i, t in enumerate(self.tokens):
            if t.start <= pos < t.end:
                return i
        return None

    def word_end(self, pos: int) -> int:
        """End of the token that contains `pos - 1` (a stem hit 苦し -> 苦しい)."""
        i = self.token_at(pos - 1) if pos > 0 else None
        return self.tokens[i].end if i is not None else pos

    def negated_after(self, index: int, *, hard: bool = False) -> Token | None:
        """The negative in the predicate chain right after token `index`, if any; with
        `hard`, also a difficulty (しにくい). A request (来てくれへんか) is not a negative."""
        for i in range(index + 1, len(self.tokens)):
            t = self.tokens[i]
            if t.is_negative:
                return None if self.is_request(i) else t
            if hard and t.is_difficulty:
                return t
            if not t.continues_predicate:
                return None
        return None

    def is_request(self, index: int) -> bool:
        """The negative at `index` asks: くれへんか, もらえんかね, くださらんか."""
        before = self.tokens[index - 1].lemma if index > 0 else ""
        after = self.tokens[index + 1].surface if index + 1 < len(self.tokens) else ""
        return before in _REQUEST_VERBS and after.startswith("か")

    def clause_at(self, pos: int) -> int:
        """Clause of folded position `pos`; the end of the text belongs to the last clause."""
        if 0 <= pos < len(self.clause_of):
            return self.clause_of[pos]
        return self.tokens[-1].clause if pos >= len(self.clause_of) and self.tokens else 0

    def same_clause(self, a: int, b: int) -> bool:
        n = len(self.clause_of)
        return 0 <= a < n and 0 <= b < n and self.clause_of[a] == self.clause_of[b]


def import_pyopenjtalk() -> ModuleType:
    """pyopenjtalk-plus prints an ONNX Runtime notice to stdout on import; stdout may be a
    JSON log stream or a CLI's output, so the notice goes to the debug log instead."""
    if "pyopenjtalk" not in sys.modules:
        notice = io.StringIO()
        with contextlib.redirect_stdout(notice):
            import pyopenjtalk  # noqa: F401
        if notice.getvalue().strip():
            log.debug("pyopenjtalk: %s", notice.getvalue().strip())
    return sys.modules["pyopenjtalk"]


def _run_frontend(text: str) -> list[dict]:
    pyopenjtalk = import_pyopenjtalk()  # lazily: loading the dictionary costs ~50 ms once
    with OPENJTALK_LOCK:
        return pyopenjtalk.run_frontend(text)


@lru_cache(maxsize=1024)
def analyse(text: str, fold: Callable[[str], str]) -> Analysis | None:
    """Tokens of `text` with spans in fold(text), or None when they cannot be aligned."""
    plain = unicodedata.normalize("NFKC", text).strip()
    if not plain:
        return None
    # vosk puts spaces between words; MeCab reads better without them.
    plain = "".join(plain.split())
    try:
        features = _run_frontend(plain)
    except Exception:  # any analyser failure means: surface rules only
        return None
    tokens: list[Token] = []
    clause_of: list[int] = []
    pos = 0
    clause = 0
    for i, f in enumerate(features):
        surface = fold(f["string"])
        token = _token(
            f,
            surface,
            fold(f["orig"]) or surface,
            pos,
            features[i - 1 : i],
            features[i + 1 : i + 2],
            clause,
        )
        if _copula_before_negative(token, features[i + 1 : i + 2], fold):
            token = replace(token, pos="助動詞", pos1="*", lemma="だ")
        tokens.append(token)
        clause_of.extend([clause] * len(surface))
        pos += len(surface)
        if token.ends_clause and not (len(tokens) > 1 and tokens[-2].ends_clause):
            clause += 1  # けど + 、 end one clause, not two
    if "".join(t.surface for t in tokens) != fold(text):
        return None
    return Analysis(_eastern_negatives(_kyushu_negatives(tokens)), tuple(clause_of))


# ねえ/ね after a verb's て-form is either the eastern negative of いる (壊れてねえ = 壊れて
# いない) or a sigh (むくんでねえ = むくんでいてね): MeCab reads both as a particle. It is
# taken as a negative only when a word that needs a negative opened its clause (なんも壊れて
# ねえ, どこも痛めてねえ); otherwise it stays a sigh (safety first: a complaint is not
# flipped on a guess). After an adjective (痛くてねえ) it is always a sigh.
_EASTERN_NEGATIVE = frozenset({"ねえ", "ね", "ねー", "ねえー"})
NEGATIVE_POLARITY = (
    "なんも", "何も", "なにも", "なーんも", "全然", "ぜんぜん", "ちっとも", "ちいとも", "少しも",
    "すこしも", "いっちょん", "どこも", "どっこも", "誰も", "だれも", "ひとつも", "一つも",
    "まったく", "全く", "一向に", "いっこうに", "さっぱり",
)  # fmt: skip


# Kyushu なか (= ない) after a copula or particle: MeCab reads it as the noun 中 (ほどでもなか,
# 痛うはなか) or as な + か after じゃ (ほどじゃなかばってん). Read as the adjective ない.
_KYUSHU_NAKA_AFTER = frozenset({"じゃ", "や", "も", "は", "で"})


def _copula_before_negative(token: Token, after: list[dict], fold: Callable[[str], str]) -> bool:
    """じゃ read as a conjunction right before a negative (ほどじゃなか, 病気じゃねえ) is the
    copula of that negative, not a new clause."""
    if token.pos != "接続詞" or token.surface not in ("じゃ", "では") or not after:
        return False
    return fold(after[0]["string"])[:1] in ("な", "ね")


def _kyushu_negatives(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    skip = False
    for i, t in enumerate(tokens):
        if skip:
            skip = False
            continue
        prev = tokens[i - 1].surface if i > 0 else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        split = t.surface == "な" and prev == "じゃ" and nxt is not None and nxt.surface == "か"
        if split and nxt is not None:
            out.append(replace(t, surface="なか", lemma="ない", pos="形容詞", end=nxt.end))
            skip = True
        elif t.surface == "もなか" and t.pos == "名詞" and prev in ("で", "じゃ"):
            out.append(replace(t, lemma="ない", pos="形容詞"))  # ほどでもなか (not 最中)
        elif t.surface == "なか" and t.pos == "名詞" and prev in _KYUSHU_NAKA_AFTER:
            out.append(replace(t, lemma="ない", pos="形容詞"))
        elif _eastern_not_so_much(tokens, i):
            # ほどでもねえ, わけでもねぁ (Tohoku): MeCab reads ねえ, or ね + あ, as a particle
            merge = t.surface == "ね" and nxt is not None and nxt.surface == "あ"
            end = nxt.end if merge and nxt is not None else t.end
            out.append(
                replace(
                    t,
                    surface=t.surface + ("あ" if merge else ""),
                    lemma="ない",
                    pos="形容詞",
                    end=end,
                )
            )
            skip = merge
        else:
            out.append(t)
    return out


# "Not so much as" in eastern forms (救急車呼ぶほどでもねぁ, 病気ってわけでもねえ): the ねえ after
# ほど/わけ + でも/では/じゃ is the negative, never the sentence-final particle.
_NOT_SO_MUCH_HEADS = frozenset({"ほど", "程", "わけ", "訳"})
_NOT_SO_MUCH_COPULA = frozenset({"でも", "では", "じゃ", "じゃあ"})
_EASTERN_NAI = frozenset({"ねえ", "ねぇ", "ね", "ねー", "ねい"})


def _eastern_not_so_much(tokens: list[Token], i: int) -> bool:
    if i < 2 or tokens[i].surface not in _EASTERN_NAI or tokens[i].pos not in ("助詞", "感動詞"):
        return False
    return (
        tokens[i - 1].surface in _NOT_SO_MUCH_COPULA and tokens[i - 2].surface in _NOT_SO_MUCH_HEADS
    )


def _stem_ka_nee(tokens: list[Token], i: int) -> bool:
    """Token `i` is か/かね after an adjective stem (痛, 寒), followed by ねえ/え."""
    if i < 1 or i + 1 >= len(tokens):
        return False
    stem, ka, nee = tokens[i - 1], tokens[i], tokens[i + 1]
    if stem.pos not in ("形容詞", "名詞") or stem.surface.endswith("い") or len(stem.surface) > 2:
        return False
    if stem.pos == "名詞" and stem.lemma == stem.surface and stem.pos1 != "一般":
        return False
    return (ka.surface == "かね" and nee.surface in ("え", "ー")) or (
        ka.surface == "か" and nee.surface in _EASTERN_NEGATIVE
    )


def _negative_opened(tokens: list[Token], i: int) -> bool:
    opened = "".join(o.surface for o in tokens[:i] if o.clause == tokens[i].clause)
    return any(word in opened for word in NEGATIVE_POLARITY)


def _eastern_negatives(tokens: list[Token]) -> tuple[Token, ...]:
    out = list(tokens)
    for i in range(2, len(out)):
        t, te, verb = out[i], out[i - 1], out[i - 2]
        if (
            t.surface in _WESTERN_NEGATIVE
            and te.surface in _WESTERN_PROGRESSIVE
            and verb.pos == "動詞"
        ):
            # 出ちょらん, なっちょらん (Kyushu/Tosa -ていない): MeCab reads ちょ + らん as nouns
            out[i - 1] = replace(te, pos="動詞", pos1="非自立")
            out[i] = replace(t, dialect_negative=True)
            continue
        if _stem_ka_nee(out, i - 1) and _negative_opened(out, i - 1):
            # どこも痛かねえ, なんも寒かねえ (= 痛くはない): the stem + か + ねえ after a word
            # that needs a negative; without one (足の痛かねえ) it may be Kyushu "it hurts"
            out[i - 1] = replace(te, dialect_negative=True)
            continue
        if t.surface not in _EASTERN_NEGATIVE or t.pos not in ("助詞", "感動詞"):
            continue
        if not (te.pos == "助詞" and te.surface in ("て", "で") and verb.pos == "動詞"):
            continue
        opened = "".join(o.surface for o in out[:i] if o.clause == t.clause)
        if any(word in opened for word in NEGATIVE_POLARITY):
            out[i] = replace(t, dialect_negative=True)
    return tuple(out)


def _token(
    f: dict, surface: str, lemma: str, start: int, prev: list[dict], nxt: list[dict], clause: int
) -> Token:
    """One token; corrects two readings MeCab gets wrong for the classifier: explanatory ん
    after a plain form, and Kansai 来る negatives (けえへん, こおへん)."""
    pos, pos1, form = f["pos"], f["pos_group1"], f.get("cform", "")
    explanatory = (
        pos == "助動詞"
        and lemma in ("ん", "ぬ")
        and bool(prev)
        and prev[0].get("cform", "") in _PLAIN_FORMS
        and prev[0]["pos"] in ("動詞", "助動詞", "形容詞")
    )
    before_negative = bool(nxt) and nxt[0]["orig"] in ("へん", "ひん")
    if surface in _KURU_BEFORE_NEGATIVE and before_negative:
        lemma, pos, pos1, form = "来る", "動詞", "非自立", "未然形"
    elif surface in _POLITE_BEFORE_NEGATIVE and before_negative:
        lemma, pos, pos1 = "ます", "助動詞", "*"  # あらしまへん, 行きまへん = ありません
    elif (
        surface in ("へん", "ひん")
        and pos == "名詞"
        and prev
        and (
            (prev[0]["pos"] == "助詞" and prev[0]["orig"] in ("て", "で"))
            or prev[0]["pos"] == "動詞"  # 食べられへん: MeCab reads へん as a noun
        )
    ):
        lemma, pos, pos1 = "へん", "助動詞", "*"  # なってへん: MeCab reads へん as a noun
    elif surface in _LENGTHENED_STEM and before_negative and prev and prev[0]["pos"] == "動詞":
        pos, pos1 = "動詞", "非自立"  # 出 + え + へん: the stem's vowel, lengthened
    prev_form = prev[0].get("cform", "") if prev else ""
    dialect_negative = (
        pos == "助動詞"
        and surface in _YAN_NEGATIVE
        and bool(prev)
        and prev[0]["pos"] == "動詞"
        and prev_form.startswith("未然")
    )
    fused_negative = (
        pos == "動詞"
        and form.startswith("体言接続特殊")
        and surface.endswith("ん")
        and (
            not nxt
            or nxt[0]["pos"] == "記号"
            or _nfkc(nxt[0]["orig"]) in _FUSED_NEGATIVE_BEFORE
            or nxt[0]["string"].startswith("かっ")  # 飲めんかった: the past of the negative
        )
    )
    if pos == "名詞" and len(surface) == 2 and surface[1] in _LENGTHENING and _is_kanji(surface[0]):
        lemma = surface[0]  # 目ぇ -> 目, 手ぇ -> 手 (folded: 目え)
    end = start + len(surface)
    return Token(
        surface,
        lemma,
        pos,
        pos1,
        start,
        end,
        form,
        explanatory,
        clause,
        dialect_negative,
        fused_negative,
    )


_YAN_NEGATIVE = frozenset({"やん", "やへん"})
_WESTERN_PROGRESSIVE = frozenset({"ちょ", "ちょっ", "と", "ちょう"})
_WESTERN_NEGATIVE = frozenset({"らん", "らんかった", "らへん"})
# a fused ん is read as a negative at the end of a clause (歩けん, 書けん。) or before these
# (出んもんで, 出んし, 出んのに); before だ/です/や it is the explanatory の (出んだ =
# 出るんだ). MeCab also fuses misread words (あるけん = ある + けん, read as あるける): such
# a lemma is no lexicon entry, so its "negative" changes nothing.
_FUSED_NEGATIVE_BEFORE = frozenset({"もん", "もんで", "もの", "ので", "し", "のに", "けど", "から"})


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


_LENGTHENING = frozenset("あいうえおー")


def _is_kanji(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"
