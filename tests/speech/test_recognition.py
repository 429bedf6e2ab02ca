"""Real vosk recognition with the Korean model on generated speech (grammar mode)."""

from __future__ import annotations

import logging

import pytest

from mimamori_wire import Intent
from speech.intents import classify
from speech.recognition import (
    EndpointConfig,
    GrammarError,
    ModelNotFoundError,
    StreamRecognizer,
    build_grammar,
    check_vocabulary,
    get_model,
    grammar_phrases,
    recognize_file_pcm,
)
from speech.testaudio import silence
from speech.voice import listen_on

pytestmark = pytest.mark.model

# Phrases this model recognises from espeak-ng speech (FACTS.md), with the key words the
# normalised transcript must contain (any one of them) and the intent. Others (e.g. 기분이 안
# 좋아요) it gets wrong. Kaldi dithers its input with random noise, so the same clip decodes
# differently from run to run: a leading 네 is now and then heard as 이, and espeak's
# 괜찮아요 as 좋아요 (2026-11-27: 1 of 10 decodes here, and in CI; every time with dither off).
# Both mean "fine", so that case accepts either word; the intent is asserted exactly.
KOREAN_CASES = [
    ("네 괜찮아요", "health", ("괜찮아요", "좋아요"), Intent.FINE),
    ("아니요", "yesno", ("아니요",), Intent.NO),
    ("오늘 기분이 좋아요", "health", ("오늘기분이좋아요",), Intent.FINE),
    ("살려주세요", "health", ("살려주세요",), Intent.HELP),
    ("전화 해주세요", "health", ("전화해주세요",), Intent.CALLBACK),
    ("다시 말해주세요", "yesno", ("다시말해주세요",), Intent.REPEAT),
]


def test_model_is_loaded_once_and_shared(ko_model):
    assert get_model("ko") is ko_model


def test_missing_japanese_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMAMORI_MODEL_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotFoundError, match="nowhere"):
        get_model("ja")


def test_vocabulary_check_names_missing_words_and_splits_known_pieces(ko_model):
    report = check_vocabulary(ko_model, ["네 괜찮아요", "元気 です", "약 먹었 어요"])
    assert report.missing == {"元気 です": ["元気", "です"]}
    assert report.segmented["괜찮아요"] == "괜찮 아요"
    assert report.grammar == ["네 괜찮 아요", "약 먹었 어요"]
    assert "'元気'" in report.describe()


def test_build_grammar_reports_missing_words_by_name(ko_model, caplog):
    with caplog.at_level(logging.WARNING, logger="speech.recognition"):
        grammar = build_grammar(ko_model, ["네", "mimamori 네"])
    assert grammar == ["네"]
    assert "'mimamori'" in caplog.text
    with pytest.raises(GrammarError, match="'mimamori'"):
        build_grammar(ko_model, ["네", "mimamori 네"], strict=True)


def test_lexicon_grammar_has_no_missing_words(ko_model):
    for expect in ("health", "yesno", "safety", "any"):
        grammar = grammar_phrases("ko", expect, ko_model)
        assert check_vocabulary(ko_model, grammar).ok
        assert "살려 주세요" in grammar, "help is always in the grammar"


@pytest.mark.parametrize(("spoken", "expect", "key_words", "intent"), KOREAN_CASES)
def test_generated_speech_is_recognised(ko_model, korean_clip, spoken, expect, key_words, intent):
    grammar = grammar_phrases("ko", expect, ko_model)
    results = recognize_file_pcm(ko_model, korean_clip(spoken), phrases=grammar)
    assert len(results) == 1
    assert any(word in results[0].text for word in key_words), results[0].text
    assert classify(results[0].text, "ko", expect=expect).intent == intent
    assert 0.0 <= results[0].confidence <= 1.0


def test_silence_is_no_response_not_a_guess(ko_model):
    rec = StreamRecognizer(ko_model, phrases=grammar_phrases("ko", "health", ko_model))
    chunks = (silence(0.1) for _ in range(200))
    assert listen_on(chunks, rec, timeout_s=3.0) is None


def test_long_pause_inside_an_answer_is_tolerated(ko_model, korean_clip):
    """A resident who pauses 1.2 s between words gives one answer, not two."""
    pcm = korean_clip("네", tail_s=1.2) + korean_clip("괜찮아요")
    grammar = grammar_phrases("ko", "health", ko_model)

    def finals(pause_s: float) -> list[str]:
        rec = StreamRecognizer(ko_model, phrases=grammar, endpoint=EndpointConfig(pause_s=pause_s))
        out = [h.text for i in range(0, len(pcm), 3200) if (h := rec.feed(pcm[i : i + 3200]))]
        last = rec.finish()
        return out + ([last.text] if last else [])

    assert len(finals(0.2)) == 2  # an eager endpoint cuts the answer in two
    patient = finals(1.5)
    assert len(patient) == 1
    assert patient[0].startswith(("네", "예"))


def test_free_form_fallback_runs_when_grammar_result_is_unusable(ko_model, korean_clip):
    grammar = grammar_phrases("ko", "health", ko_model)
    pcm = korean_clip("네 괜찮아요")
    seen: list[str] = []

    def usable(text: str) -> bool:
        seen.append(text)
        return len(seen) > 1  # reject the grammar result, accept the free-form one

    rec = StreamRecognizer(ko_model, phrases=grammar, usable=usable)
    heard = [h for i in range(0, len(pcm), 3200) if (h := rec.feed(pcm[i : i + 3200]))]
    assert len(heard) == 1
    assert rec.used_fallback
    assert seen[0], "the grammar pass heard something first"
    assert heard[0].text == seen[1]  # what free-form decoding produced


def test_model_is_shared_between_threads(ko_model):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: get_model("ko"), range(8)))
    assert all(m is ko_model for m in models)


@pytest.fixture(scope="module")
def ko_view(tmp_path_factory):
    """The grammar-only view of the Korean model with the lexicon's words (graph cut down)."""
    from speech.intents import get_lexicon
    from speech.recognition import grammar_only_view, model_dir

    cache = tmp_path_factory.mktemp("views")
    return grammar_only_view(model_dir("ko"), cache, get_lexicon("ko").spoken_phrases())


@pytest.mark.model
def test_grammar_view_cuts_the_graph_to_the_lexicons_words(ko_model, ko_view):
    from speech.recognition import _read_header, model_dir

    full = (model_dir("ko") / "graph" / "HCLr.fst").read_bytes()[:400]
    cut = (ko_view / "graph" / "HCLr.fst").read_bytes()
    outer_full, outer_cut = _read_header(full, 0), _read_header(cut, 0)
    inner_full = _read_header(full, outer_full.end + 4)
    inner_cut = _read_header(cut, outer_cut.end + 4)
    assert not (ko_view / "graph" / "HCLr.fst").is_symlink()
    assert outer_cut.fst_type == "olabel_lookahead" and inner_cut.fst_type == "const"
    assert 0 < inner_cut.states < inner_full.states / 3
    assert 0 < inner_cut.arcs < inner_full.arcs / 3
    assert inner_cut.properties & 0x40000000  # still sorted on output labels (lookahead)
    # The file is exactly header + states + arcs + the lookahead data (one set per state).
    from speech.recognition import _interval_sets

    rest = inner_cut.end + 20 * inner_cut.states + 16 * inner_cut.arcs
    final_label, starts, _sizes = _interval_sets(cut, rest)
    assert starts.size == inner_cut.states and final_label > 0


@pytest.mark.model
@pytest.mark.parametrize(
    "text,expect,intent",
    [
        ("네 괜찮아요", "health", "fine"),
        ("아니요", "yesno", "no"),
        ("오늘 기분이 좋아요", "health", "fine"),
        ("살려주세요", "health", "help"),
        ("전화 해주세요", "health", "callback"),
        ("다시 말해주세요", "yesno", "repeat"),
    ],
)
def test_cut_graph_recognises_the_clean_clips(ko_view, korean_clip, text, expect, intent):
    from speech.intents import classify
    from speech.recognition import get_model, grammar_phrases, recognize_file_pcm

    model = get_model("ko", ko_view)
    phrases = grammar_phrases("ko", expect, model)
    heard = recognize_file_pcm(model, korean_clip(text), phrases=phrases)
    text_heard = "".join(h.text for h in heard)
    assert classify(text_heard, "ko", expect=expect).intent.value == intent


def test_unknown_graph_layout_is_linked_not_cut(tmp_path):
    from speech.recognition import _empty_fst, write_grammar_graph

    plain = tmp_path / "plain.fst"
    plain.write_bytes(_empty_fst())  # a VectorFst, not an olabel_lookahead ConstFst
    assert write_grammar_graph(plain, tmp_path / "out.fst", [1, 2]) is False
    assert not (tmp_path / "out.fst").exists()


@pytest.mark.model
def test_a_new_vocabulary_replaces_the_models_old_view(ko_model, tmp_path):
    from speech.recognition import grammar_only_view, model_dir

    old = grammar_only_view(model_dir("ko"), tmp_path / "views", ["네 괜찮 아요"])
    new = grammar_only_view(model_dir("ko"), tmp_path / "views", ["아니요"])
    assert new != old and new.is_dir() and not old.exists()  # the earlier view is gone
    assert grammar_only_view(model_dir("ko"), tmp_path / "views", ["아니요"]) == new  # reused
    assert [p.name for p in (tmp_path / "views").iterdir() if not p.name.startswith(".")] == [
        new.name
    ]


@pytest.mark.model
def test_cut_graph_is_consistent_and_outputs_only_kept_words(ko_view):
    import numpy as np

    from speech.recognition import _ARC, _STATE, _interval_sets, _read_header, _text_symbols

    data = (ko_view / "graph" / "HCLr.fst").read_bytes()
    inner = _read_header(data, _read_header(data, 0).end + 4)
    states = np.frombuffer(data, _STATE, inner.states, inner.end)
    arcs_at = inner.end + _STATE.itemsize * inner.states
    arcs = np.frombuffer(data, _ARC, inner.arcs, arcs_at)
    kept = {key for _, key in _text_symbols(ko_view / "graph" / "words.txt")}
    assert set(np.unique(arcs["olabel"]).tolist()) <= kept | {0}
    assert arcs["next"].min() >= 0 and arcs["next"].max() < inner.states
    narcs = states["narcs"].astype(np.int64)
    assert (states["pos"] == np.cumsum(narcs) - narcs).all() and narcs.sum() == inner.arcs
    assert (
        np.diff(arcs["olabel"])[np.diff(np.repeat(np.arange(inner.states), narcs)) == 0] >= 0
    ).all()  # still sorted by output label within each state (lookahead needs it)
    final_label, starts, sizes = _interval_sets(data, arcs_at + _ARC.itemsize * inner.arcs)
    assert starts.size == inner.states
    # Each lookahead interval [begin, end) was clipped to kept labels (or the final label).
    allowed = kept | {final_label}
    for at, n in zip(starts, sizes, strict=True):
        if n:
            pairs = np.frombuffer(data, "<i4", 2 * int(n), int(at)).reshape(-1, 2)
            for begin, end in pairs.tolist():
                assert begin < end and begin in allowed and end - 1 in allowed
