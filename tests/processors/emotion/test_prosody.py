"""Utterance statistics (pitch, energy, spectral shape) that feed the emotion model's second branch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from processors.emotion.features import BadAudioError
from processors.emotion.prosody import N_STATS, STAT_NAMES, pitch_track, utterance_stats
from tests.conftest import require_data

SR = 16_000


def _voice(f0: float, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A harmonic 'vowel' at f0 with a slow amplitude envelope and a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 25) if k * f0 < 7000)
    env = 0.5 - 0.5 * np.cos(2 * np.pi * t / seconds)
    rng = np.random.default_rng(seed)
    return (0.2 * x * env + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("f0", [90.0, 150.0, 240.0, 380.0])
def test_pitch_of_harmonic_voice(f0):
    hz, strength = pitch_track(_voice(f0))
    voiced = strength > 0.7
    assert voiced.mean() > 0.6
    assert abs(np.median(hz[voiced]) / f0 - 1) < 0.02


def test_pitch_survives_telephone_band():
    """300-3400 Hz removes a 120 Hz fundamental; the period still comes back from the harmonics."""
    sos = scipy.signal.butter(6, (300, 3400), btype="band", fs=SR, output="sos")
    x = scipy.signal.sosfilt(sos, _voice(120.0)).astype(np.float32)
    hz, strength = pitch_track(x)
    voiced = strength > 0.7
    assert voiced.mean() > 0.5
    assert abs(np.median(hz[voiced]) / 120.0 - 1) < 0.03


def test_stats_shape_names_and_gain_independence():
    x = _voice(180.0)
    s = utterance_stats(x)
    assert s.shape == (N_STATS,) == (len(STAT_NAMES),) and s.dtype == np.float32 and np.all(np.isfinite(s))
    np.testing.assert_allclose(utterance_stats(0.05 * x), s, atol=1e-3)


def test_higher_voice_has_higher_median_pitch_stat():
    i = STAT_NAMES.index("f0_median")
    assert utterance_stats(_voice(250.0))[i] - utterance_stats(_voice(125.0))[i] == pytest.approx(12.0, abs=0.5)


def test_bad_audio_rejected():
    with pytest.raises(BadAudioError):
        utterance_stats(np.zeros(SR, np.float32))
    with pytest.raises(BadAudioError):
        utterance_stats(_voice(150.0)[:1000])


def test_angry_speech_louder_and_higher_than_sad_same_speaker():
    """Real clips of one RAVDESS actor: anger is higher pitched and more dynamic than sadness."""
    from processors.audio.io import load_audio

    root = require_data("ser", "ravdess", "Actor_01")
    angry = [utterance_stats(load_audio(f).samples) for f in sorted(root.glob("03-01-05-*.flac"))[:8]]
    sad = [utterance_stats(load_audio(f).samples) for f in sorted(root.glob("03-01-04-*.flac"))[:8]]
    f0 = STAT_NAMES.index("f0_median")
    assert np.median([a[f0] for a in angry]) > np.median([s[f0] for s in sad]) + 2.0  # semitones
