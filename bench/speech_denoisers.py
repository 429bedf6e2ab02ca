"""Denoisers and voice-activity gates a Raspberry Pi product could put in front of vosk,
compared under noise on the same clips and noise as bench/speech.py (issue 15, noise).

    .venv/bin/python bench/speech_denoisers.py [--quick] [--seeds N] [--variants a,b]

Last line: {"bench": "speech_denoisers", "accuracy": {variant: {case: acc}},
"ratio_to_raw": ..., "outcomes": {variant: {case: {"right", "wrong", "asked_again"}}},
"cpu_rtf": {variant: x}, "pi_rtf_estimate": {variant: [x5, x10]}, "missing": {...}}.

Each variant processes the same noisy answer (the room heard before the prompt first, as a
streaming filter would, then the answer; only the answer is decoded), then a grammar-only
LocalVoice with no front end of its own decodes it (bench/speech.py `ask_once`):
- raw: nothing (the baseline of every ratio);
- live: speech.frontend.LIVE, what the gateway runs (high-pass + spectral gate on the room);
- rnnoise: RNNoise (xiph's recurrent denoiser, C) from the `pyrnnoise` wheel's
  librnnoise.so through ctypes (the package's Python side pulls PyAV and matplotlib), 16 kHz
  resampled to its 48 kHz and back (windowed sinc, -47 dB round trip, 2 ms delay);
- webrtc_ns: WebRTC noise suppression, level 2 of 0-4 (`webrtc-noise-gain`, the wrapper
  Home Assistant's voice satellites run on a Pi); webrtc_ns4: level 4;
- speex_ns: speexdsp noise suppression at -30 dB (`pyspeex-noise`, the same project's);
- webrtcvad_gate: 10 ms frames WebRTC's VAD (`webrtcvad-wheels`, mode 3) calls non-speech
  attenuated by 20 dB after a 200 ms hangover;
- oracle_gate: the answer attenuated by 20 dB wherever the clean clip is silent (100 ms
  hangover, 40 ms before onsets): a perfect VAD, the upper bound of any such gating.
None of the libraries is a project dependency (none was kept: docs/speech.md, front end);
a missing one is listed under "missing" with the command that installs it.

Cases (--quick: clean, white_10, babble_10, one seed): clean; quiet (white noise at 40 dB:
a real room is never digital silence); white, babble and tv at 10 dB (speech.testaudio);
babble_10_on: babble 10 dB that goes on for 3 s after the answer (a television left on: the
endpoint must still come). Outcomes: right; wrong (another intent taken: acted upon);
asked_again (nothing, unknown or repeat: the dialogue asks again, then confirms). cpu_rtf:
process_time of the processing alone / audio seconds (the decode is excluded: the same
recognizer for all); a Pi 4 is ~5-10x slower than the build VM (pi_rtf_estimate).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speech.frontend import LIVE, ROOM_S, FrontEnd
from speech.intents import classify
from speech.testaudio import mix_with_room, silence, synthesise
from speech.tts import PromptRenderer
from speech.voice import LocalVoice, ReplayDevice

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_speech", ROOT / "bench" / "speech.py")
assert _spec and _spec.loader
bench_speech = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_speech)

RATE = 16000
# (case name, noise kind, SNR dB, seconds of noisy room after the answer)
CASES = [
    ("clean", "clean", 0.0, 0.5),
    ("quiet", "white", 40.0, 0.5),
    ("white_10", "white", 10.0, 0.5),
    ("babble_10", "babble", 10.0, 0.5),
    ("tv_10", "tv", 10.0, 0.5),
    ("babble_10_on", "babble", 10.0, 3.0),
]
QUICK_CASES = ("clean", "white_10", "babble_10")  # --quick: one seed of these (< 1 min idle)
INSTALL = {
    "rnnoise": "pip install --no-deps pyrnnoise==0.4.5",
    "webrtc_ns": "pip install webrtc-noise-gain==1.3.0",
    "speex_ns": "pip install pyspeex-noise==2.0.1",
    "webrtcvad_gate": "pip install webrtcvad-wheels==2.0.14.post1",
}
INSTALL["webrtc_ns4"] = INSTALL["webrtc_ns"]

Processor = Callable[[bytes, bytes, bytes], bytes]  # (answer, room, clean clip) -> answer


def _f64(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


# --- resampling 16 <-> 48 kHz for RNNoise (windowed sinc, numpy) ----------------------------

_TAPS = 97
_n = np.arange(_TAPS) - (_TAPS - 1) / 2
_LOWPASS = np.sinc(2 * (0.95 / 6) * _n) * np.hamming(_TAPS)
_LOWPASS /= _LOWPASS.sum()


def up3(x: np.ndarray) -> np.ndarray:
    y = np.zeros(x.size * 3)
    y[::3] = x
    return np.convolve(y, 3 * _LOWPASS)[: y.size]


def down3(y: np.ndarray) -> np.ndarray:
    return np.convolve(y, _LOWPASS)[: y.size][::3]


# --- the variants ---------------------------------------------------------------------------


def raw(answer: bytes, room: bytes, clip: bytes) -> bytes:
    return answer


def live(answer: bytes, room: bytes, clip: bytes) -> bytes:
    front = FrontEnd(LIVE, room=room)
    return front.process(answer) + front.flush()


def _rnnoise_library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("pyrnnoise")  # not imported: its __init__ needs PyAV
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyrnnoise")
    lib = ctypes.CDLL(str(Path(next(iter(spec.submodule_search_locations))) / "librnnoise.so"))
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_float)] * 2
    lib.rnnoise_process_frame.restype = ctypes.c_float
    return lib


def rnnoise(answer: bytes, room: bytes, clip: bytes) -> bytes:
    lib = _rnnoise_library()
    x48 = up3(_f64(room + answer)).astype(np.float32)  # int16 scale, as RNNoise wants
    state = lib.rnnoise_create(None)
    frame = np.zeros(480, np.float32)  # 10 ms at 48 kHz
    pointer = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    for i in range(0, x48.size - 479, 480):
        frame[:] = x48[i : i + 480]
        lib.rnnoise_process_frame(state, pointer, pointer)
        x48[i : i + 480] = frame
    lib.rnnoise_destroy(state)
    return _pcm(down3(x48.astype(np.float64)))[len(room) :]


def _per_10ms(answer: bytes, room: bytes, step: Callable[[bytes], bytes]) -> bytes:
    data = room + answer
    out = b"".join(step(data[i : i + 320]) for i in range(0, len(data) - 319, 320))
    return (out + bytes(len(data) - len(out)))[len(room) :]


def webrtc_ns(answer: bytes, room: bytes, clip: bytes, level: int = 2) -> bytes:
    from webrtc_noise_gain import AudioProcessor

    processor = AudioProcessor(0, level)  # no auto gain
    return _per_10ms(answer, room, lambda pcm: processor.Process10ms(pcm).audio)


def webrtc_ns4(answer: bytes, room: bytes, clip: bytes) -> bytes:
    return webrtc_ns(answer, room, clip, level=4)


def speex_ns(answer: bytes, room: bytes, clip: bytes) -> bytes:
    from pyspeex_noise import AudioProcessor

    processor = AudioProcessor(0, -30)  # no auto gain
    return _per_10ms(answer, room, processor.process_10ms)


def _gate(x: np.ndarray, speech: list[bool], hang: int, before: int = 0) -> bytes:
    """Frames (10 ms) not speech, after `hang` frames of hangover, attenuated by 20 dB;
    `before` frames ahead of an onset are kept too."""
    keep = np.zeros(len(speech), bool)
    left = 0
    for i, active in enumerate(speech):
        left = hang if active else max(0, left - 1)
        keep[i] = active or left > 0
        if active:
            keep[max(0, i - before) : i] = True
    gain = np.where(np.repeat(keep, 160), 1.0, 0.1)
    gain = np.concatenate([gain, np.full(x.size - gain.size, 0.1)])
    return _pcm(x * gain)


def webrtcvad_gate(answer: bytes, room: bytes, clip: bytes) -> bytes:
    import webrtcvad

    vad = webrtcvad.Vad(3)
    frames = [answer[i : i + 320] for i in range(0, len(answer) - 319, 320)]
    return _gate(_f64(answer), [vad.is_speech(f, RATE) for f in frames], hang=20)


def oracle_gate(answer: bytes, room: bytes, clip: bytes) -> bytes:
    x = _f64(clip)
    n = x.size // 160
    levels = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))
    return _gate(_f64(answer), list(levels > 300), hang=10, before=4)


VARIANTS: dict[str, Processor] = {
    "raw": raw,
    "live": live,
    "rnnoise": rnnoise,
    "webrtc_ns": webrtc_ns,
    "webrtc_ns4": webrtc_ns4,
    "speex_ns": speex_ns,
    "webrtcvad_gate": webrtcvad_gate,
    "oracle_gate": oracle_gate,
}


def available(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The variants whose library loads, and the missing ones with their install line."""
    ok, missing = [], {}
    probe = silence(0.1)
    for name in names:
        try:
            VARIANTS[name](probe, silence(ROOM_S), probe)
        except ImportError:
            missing[name] = INSTALL[name]
        else:
            ok.append(name)
    return ok, missing


def run(names: list[str], seeds: int, cache: Path, cases: list[tuple]) -> dict:
    renderer = PromptRenderer(cache / "tts")
    voice = LocalVoice(
        ReplayDevice(),
        renderer,
        lang="ko",
        free_fallback=False,
        view_cache=cache / "views",
        front_end=None,
    )
    counts = {n: {} for n in names}
    cpu = dict.fromkeys(names, 0.0)
    audio_s = 0.0
    for case, kind, snr, after_s in cases:
        for seed in range(1 if kind == "clean" else seeds):
            for text, expect, intent in bench_speech.KOREAN_CLIPS:
                clip = synthesise(text, cache) + silence(after_s)
                if kind == "clean":
                    answer, room = clip, silence(ROOM_S)
                else:
                    answer, room = mix_with_room(
                        clip, kind, snr, bench_speech.KOREAN_NON_HELP, cache, seed, room_s=ROOM_S
                    )
                audio_s += len(answer) / (2 * RATE)
                for name in names:
                    started = time.process_time()
                    cleaned = VARIANTS[name](answer, room, clip)
                    cpu[name] += time.process_time() - started
                    heard = bench_speech.ask_once(voice, silence(ROOM_S), cleaned, expect)
                    got = classify(heard.text, "ko", expect=expect).intent if heard else None
                    split = counts[name].setdefault(case, dict.fromkeys(bench_speech.OUTCOMES, 0))
                    split[bench_speech.outcome(got, intent)] += 1
    return {"counts": counts, "cpu_rtf": {n: round(cpu[n] / audio_s, 4) for n in names}}


def figures(result: dict, missing: dict[str, str], seeds: int) -> dict:
    counts = result["counts"]
    accuracy = {
        name: {case: round(c["right"] / sum(c.values()), 3) for case, c in by_case.items()}
        for name, by_case in counts.items()
    }
    base = accuracy["raw"]
    return {
        "bench": "speech_denoisers",
        "accuracy": accuracy,
        "ratio_to_raw": {
            name: {
                case: round(a / base[case], 2) if base[case] else None for case, a in acc.items()
            }
            for name, acc in accuracy.items()
        },
        "outcomes": counts,
        "cpu_rtf": result["cpu_rtf"],
        "pi_rtf_estimate": {
            n: [round(r * 5, 3), round(r * 10, 3)] for n, r in result["cpu_rtf"].items()
        },
        "decodes_per_noisy_case": seeds * len(bench_speech.KOREAN_CLIPS),
        "missing": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one seed, three cases (< 1 min)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    wanted = ["raw", *[v for v in args.variants.split(",") if v != "raw"]]
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    names, missing = available(wanted)
    cache = Path(tempfile.gettempdir()) / "mimamori-bench-speech"  # shared with bench/speech.py
    cases = [c for c in CASES if c[0] in QUICK_CASES] if args.quick else CASES
    result = run(names, seeds, cache, cases)
    print(json.dumps(figures(result, missing, seeds), ensure_ascii=False))


if __name__ == "__main__":
    main()
