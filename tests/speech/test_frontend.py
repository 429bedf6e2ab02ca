"""Front-end processing (speech.frontend): pure numpy, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.frontend import FrontEnd, FrontEndConfig

RATE = 16000


def tone(seconds: float, amplitude: float, freq: float = 440.0, dc: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * freq * t) + dc


def pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def run(front: FrontEnd, x: np.ndarray, chunk: int = 1600) -> np.ndarray:
    data = pcm(x)
    out = b"".join(front.process(data[i : i + chunk * 2]) for i in range(0, len(data), chunk * 2))
    return np.frombuffer(out + front.flush(), "<i2").astype(np.float64)


def test_output_has_the_input_length_once_flushed():
    x = tone(1.03, 3000)
    assert run(FrontEnd(), x).size == x.size


def test_high_pass_removes_a_dc_offset():
    out = run(FrontEnd(FrontEndConfig(agc=False)), tone(1.0, 3000, dc=2000))
    assert abs(out[RATE // 2 :].mean()) < 50


def test_gain_control_raises_a_quiet_speaker_within_bounds():
    cfg = FrontEndConfig(highpass_ms=0)
    out = run(FrontEnd(cfg), np.concatenate([np.zeros(RATE // 2), tone(4.0, 200)]))
    before, after = np.abs(tone(1.0, 200)).max(), np.abs(out[-RATE:]).max()
    assert after > 2 * before
    assert after <= before * 10 ** (cfg.max_gain_db / 20) * 1.01


def test_gate_attenuates_the_room_between_words_but_keeps_speech():
    rng = np.random.default_rng(0)
    room = rng.normal(0, 30, RATE)
    x = np.concatenate([room, tone(1.0, 5000) + rng.normal(0, 30, RATE), room])
    out = run(FrontEnd(FrontEndConfig(agc=False, highpass_ms=0, gate=True)), x)
    assert np.std(out[-RATE // 2 :]) < 0.2 * np.std(room)  # after the hangover
    assert np.std(out[RATE + 1000 : 2 * RATE - 1000]) > 0.9 * np.std(tone(1.0, 5000))


@pytest.mark.parametrize("chunk", [160, 1600, 4000])
def test_result_does_not_depend_on_chunking(chunk):
    x = np.concatenate([np.zeros(RATE // 4), tone(1.0, 800), np.zeros(RATE // 4)])
    reference = run(FrontEnd(), x, chunk=3200)
    assert np.array_equal(run(FrontEnd(), x, chunk=chunk), reference)


# --- spectral noise gate (denoise) ---------------------------------------------------------


def voiced(seconds: float, level: float = 3000.0, f0: float = 140.0) -> np.ndarray:
    """Speech-like: a harmonic complex (1/k amplitudes) switched on and off at 4 syllables/s."""
    t = np.arange(max(1, int(seconds * RATE))) / RATE
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 30))
    syllables = (np.sin(2 * np.pi * 4 * t) > -0.3).astype(np.float64)
    return level * x * syllables / (np.sqrt(np.mean(x**2)) + 1e-9)


def room_noise(seconds: float, seed: int, level: float = 600.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, level, int(seconds * RATE))


DENOISE = FrontEndConfig(agc=False, denoise=True)


@pytest.mark.parametrize("seed", range(3))
def test_denoise_lowers_a_steady_room_more_than_speech(seed):
    x = np.concatenate([room_noise(1.0, seed), voiced(2.0) + room_noise(2.0, seed + 10)])
    out = run(FrontEnd(DENOISE, room=pcm(room_noise(1.0, seed + 20))), x)
    assert out.size == x.size

    def db(a: np.ndarray, part: slice) -> float:
        return 10 * np.log10(np.mean(a[part] ** 2))

    room, speech = slice(RATE // 4, RATE), slice(RATE, 3 * RATE)
    assert db(out, room) < db(x, room) - 9  # the room alone: > 9 dB less
    snr_gain = db(out, speech) - db(out, room) - (db(x, speech) - db(x, room))
    assert snr_gain > 5  # speech over room: > 5 dB better


def test_denoise_needs_the_room_and_enough_of_it():
    with pytest.raises(ValueError, match="room heard before the prompt"):
        FrontEnd(DENOISE)
    with pytest.raises(ValueError, match="too short for a noise profile"):
        FrontEnd(DENOISE, room=pcm(room_noise(0.05, 7)))


@given(
    seconds=st.floats(0.0, 1.5),
    chunk=st.integers(40, 5000),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=25, deadline=None)
def test_denoise_output_does_not_depend_on_chunking(seconds, chunk, seed):
    x = np.concatenate([room_noise(0.6, seed), voiced(seconds)])
    room = pcm(room_noise(0.5, seed + 1))
    reference = run(FrontEnd(DENOISE, room=room), x, chunk=3200)
    assert reference.size == x.size
    assert np.array_equal(run(FrontEnd(DENOISE, room=room), x, chunk=chunk), reference)


def test_processed_stream_keeps_the_length_and_flushes_the_tail():
    import numpy as np

    from speech.frontend import LIVE, FrontEnd, processed

    rng = np.random.default_rng(7)
    room = rng.normal(0, 300, 8000).astype("<i2").tobytes()
    audio = rng.normal(0, 300, 16000 * 2).astype("<i2").tobytes()
    chunks = [audio[i : i + 3200] for i in range(0, len(audio), 3200)]
    out = list(processed(FrontEnd(LIVE, room=room), iter(chunks)))
    assert sum(map(len, out)) == len(audio)
    assert all(out)  # no empty chunks handed to the recognizer


def babble_like(seconds: float, seed: int, level: float) -> np.ndarray:
    """Four speech-like talkers (voiced() at different pitches and syllable phases), summed
    and scaled to RMS `level`: a room of voices, generated (no espeak needed)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    mixed = np.zeros(n)
    for f0 in (105.0, 150.0, 210.0, 260.0):
        talker = voiced(seconds + 1, level=1.0, f0=f0 * rng.uniform(0.95, 1.05))
        start = int(rng.integers(0, RATE))
        mixed += talker[start : start + n]
    return level * mixed / np.sqrt(np.mean(mixed**2))


@pytest.mark.parametrize("seed", range(2))
def test_denoise_lowers_babble_between_words_and_keeps_the_speech(seed):
    # The resident 10 dB above a room of voices; the room heard before the prompt is another
    # stretch of the same babble (as LocalVoice hears it).
    speech = voiced(2.0, level=3000.0, f0=180.0)
    babble_level = np.sqrt(np.mean(speech[speech != 0] ** 2)) / 10 ** (10 / 20)
    clean = np.concatenate([np.zeros(RATE), speech, np.zeros(RATE)])
    babble = babble_like(4.0, seed, babble_level)
    x = clean + babble
    out = run(FrontEnd(DENOISE, room=pcm(babble_like(0.5, seed + 100, babble_level))), x)

    def db(a: np.ndarray, part: slice) -> float:
        return 10 * np.log10(np.mean(a[part] ** 2))

    alone, during = slice(3 * RATE + RATE // 4, 4 * RATE), slice(RATE, 3 * RATE)
    assert db(out, alone) < db(x, alone) - 8  # babble with nobody answering: > 8 dB less
    stands_out = db(out, during) - db(out, alone) - (db(x, during) - db(x, alone))
    assert stands_out > 3  # the answer over the babble-only stretches: > 3 dB better
    kept = np.dot(out[during], clean[during]) / np.dot(clean[during], clean[during])
    assert kept > 0.3  # the speech itself is attenuated by less than ~10 dB
