"""Generated noise for the benchmarks (speech.testaudio): levels and the room before speech."""

from __future__ import annotations

import numpy as np
import pytest

from speech.testaudio import mix_with_room, music, noise_track

RATE = 16000


def speech_like(seconds: float = 1.5) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    x = 4000 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return np.round(x).astype("<i2").tobytes()


@pytest.mark.parametrize("snr", [20, 10, 5])
def test_white_noise_is_mixed_at_the_snr_over_active_speech(snr, tmp_path):
    clip = speech_like()
    mixed, room = mix_with_room(clip, "white", snr, [], tmp_path, seed=3)
    speech = np.frombuffer(clip, "<i2").astype(np.float64)
    noise = np.frombuffer(mixed, "<i2").astype(np.float64) - speech
    active = speech[np.abs(speech) > 100]
    measured = 10 * np.log10(np.mean(active**2) / np.mean(noise**2))
    assert abs(measured - snr) < 0.3
    room_x = np.frombuffer(room, "<i2").astype(np.float64)
    assert room_x.size == RATE  # one second before the prompt
    assert abs(10 * np.log10(np.mean(room_x**2) / np.mean(noise**2))) < 0.5  # same level
    assert not np.array_equal(room_x[:1000], noise[:1000])  # another stretch of the track


def test_music_bed_is_unit_level_and_tonal():
    x = music(RATE * 2, seed=1)
    assert abs(np.sqrt(np.mean(x**2)) - 1) < 1e-6
    spectrum = np.abs(np.fft.rfft(x))
    assert spectrum.max() > 20 * np.median(spectrum)  # peaks: notes, not noise


def test_unknown_noise_kind_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown noise kind 'rain'"):
        noise_track("rain", 100, [], tmp_path)
