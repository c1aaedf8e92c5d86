"""Log-mel features: shape, gain invariance, determinism, and clear errors for bad audio."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from processors.emotion.features import DEFAULT_PARAMS, BadAudioError, check_audio, log_mel_features, mel_filterbank

SR = DEFAULT_PARAMS.sample_rate


def _voice_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a moving pitch and amplitude envelope (no real data needed for these checks)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2)
    return (0.1 * x + 0.001 * rng.standard_normal(len(t))).astype(np.float32)


def test_shape_and_normalisation():
    f = log_mel_features(_voice_like(2.0))
    assert f.dtype == np.float32 and f.shape[1] == DEFAULT_PARAMS.n_mels
    assert 190 <= f.shape[0] <= 1 + (2 * SR - DEFAULT_PARAMS.win_length) // DEFAULT_PARAMS.hop_length
    np.testing.assert_allclose(f.mean(axis=0), 0.0, atol=1e-4)  # per-band mean removed (shipped setting)
    g = log_mel_features(_voice_like(2.0), dataclasses.replace(DEFAULT_PARAMS, mean_norm="global"))
    assert abs(float(g.mean())) < 1e-4 and float(np.ptp(g.mean(axis=0))) > 0.5  # global keeps the tilt
    assert abs(float(f.std()) - 1.0) < 1e-3


def test_gain_invariant_and_deterministic():
    x = _voice_like(1.5)
    a, b = log_mel_features(x), log_mel_features(x * 0.05)
    np.testing.assert_allclose(a, b, atol=1e-3)
    np.testing.assert_array_equal(log_mel_features(x), log_mel_features(x.copy()))


def test_edge_silence_trimmed():
    x = _voice_like(1.0)
    padded = np.concatenate([np.zeros(SR, np.float32), x, np.zeros(SR, np.float32)]) + 1e-6
    assert log_mel_features(padded).shape[0] < log_mel_features(x).shape[0] + 10


def test_filterbank_covers_band():
    fb = mel_filterbank(DEFAULT_PARAMS)
    assert fb.shape == (DEFAULT_PARAMS.n_fft // 2 + 1, DEFAULT_PARAMS.n_mels)
    assert np.all(fb.sum(axis=0) > 0), "every mel band has some FFT bins"


@pytest.mark.parametrize(
    "audio, reason",
    [
        (np.zeros(int(0.29 * SR), np.float32) + 0.1, "too short"),
        (np.zeros(SR, np.float32), "silent"),
        (np.full(SR, 1e-5, np.float32), "silent"),
        (np.concatenate([_voice_like(1.0)[:-1], [np.nan]]).astype(np.float32), "NaN"),
        (np.zeros((2, SR), np.float32), "1-D"),
    ],
)
def test_bad_audio_rejected(audio, reason):
    with pytest.raises(BadAudioError, match=reason):
        check_audio(audio)
    assert issubclass(BadAudioError, ValueError)


def test_minimum_length_accepted():
    f = log_mel_features(_voice_like(0.3))
    assert f.shape[0] >= DEFAULT_PARAMS.min_frames - 1
