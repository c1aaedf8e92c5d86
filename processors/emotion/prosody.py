"""Utterance-level acoustic statistics of a turn: pitch, energy, voice quality and spectral shape.

Input: one turn, 16 kHz mono float32 in [-1, 1] (validated by features.check_audio).
Output: float32 vector of `N_STATS` statistics (names in `STAT_NAMES`), gain-independent.

Why: the log-mel CNN sees spectral texture but per-utterance normalisation hides the cues listeners
use most for arousal and valence: how high and how variable the pitch is, how loud and how dynamic
the voice is, how tense it sounds (spectral tilt, harmonicity). These statistics are what classical
speech-emotion systems (eGeMAPS) are built on, they survive the 300-3400 Hz phone band (pitch comes
back from the harmonics by autocorrelation) and they cost about half a millisecond per second of audio.
Everything is relative to the turn's own level, so input gain does not change the result.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.signal

from processors.emotion.features import (
    DEFAULT_PARAMS,
    FeatureParams,
    check_audio,
    mel_power,
)
from processors.types import SAMPLE_RATE

PITCH_RATE = 8000
"""Pitch is tracked on an 8 kHz copy: the phone band, and 4x fewer samples."""
PITCH_FRAME = 320
"""40 ms at 8 kHz: two periods of a 50 Hz voice."""
PITCH_HOP = 160
"""20 ms at 8 kHz: every other log-mel frame (statistics need the distribution, not every frame)."""
PITCH_FFT = 512
"""Circular autocorrelation is exact up to lag PITCH_FFT - PITCH_FRAME = 192 > the longest period (133)."""
F0_MIN, F0_MAX = 60.0, 450.0
YIN_THRESHOLD = 0.2
"""First dip of the normalised difference below this is the period (YIN's absolute threshold)."""
VOICING_THRESHOLD = 0.7
"""1 - normalised difference at the period above which a frame counts as voiced."""
N_MFCC = 20
_HANN = np.hanning(PITCH_FRAME).astype(np.float32)
_W_AC = np.correlate(_HANN, _HANN, "full")[PITCH_FRAME - 1 :]
_WINDOW_AC_CORRECTION = (_W_AC[0] / np.maximum(_W_AC, 1e-3 * _W_AC[0])).astype(np.float32)
_DECIMATE_SOS = scipy.signal.butter(4, 3600.0, btype="low", fs=16000, output="sos")


def _stat_names(n_mels: int) -> tuple[str, ...]:
    names = [f"mel_shape_{i}" for i in range(n_mels)]
    names += [f"mel_std_{i}" for i in range(n_mels)]
    names += [f"mfcc_mean_{i}" for i in range(1, N_MFCC)]
    names += [f"mfcc_std_{i}" for i in range(1, N_MFCC)]
    names += [f"dmfcc_std_{i}" for i in range(1, N_MFCC)]
    names += ["energy_std", "energy_p10", "energy_p50", "energy_p90", "loud_fraction", "energy_delta"]
    names += ["voiced_fraction", "f0_median", "f0_p10", "f0_p90", "f0_range_st", "f0_std_st",
              "f0_delta_st", "voicing_strength", "voiced_energy_ratio"]
    names += ["centroid_mean", "centroid_std", "flux_mean", "flux_std", "tilt_mean", "tilt_std"]
    return tuple(names)


STAT_NAMES = _stat_names(DEFAULT_PARAMS.n_mels)
N_STATS = len(STAT_NAMES)


def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def pitch_track(x16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz per 20 ms frame, voicing strength in [0, 1]) by normalised autocorrelation at 8 kHz."""
    x = scipy.signal.sosfilt(_DECIMATE_SOS, x16)[::2].astype(np.float32)
    if x.shape[0] < PITCH_FRAME:
        x = np.pad(x, (0, PITCH_FRAME - x.shape[0]))
    n_frames = 1 + (x.shape[0] - PITCH_FRAME) // PITCH_HOP
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, PITCH_FRAME), strides=(x.strides[0] * PITCH_HOP, x.strides[0]), writeable=False
    )
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = scipy.fft.rfft(frames * _HANN, n=PITCH_FFT, axis=1, workers=1)
    ac = scipy.fft.irfft(spec.real**2 + spec.imag**2, axis=1, workers=1)[:, :PITCH_FRAME]
    ac = ac * _WINDOW_AC_CORRECTION  # undo the taper, or long periods (low voices) look aperiodic
    # YIN's cumulative-mean-normalised difference, from the autocorrelation (energy taken as constant
    # over the frame): d(tau) = 2 (r(0) - r(tau)); d'(tau) = d(tau) * tau / sum_{j<=tau} d(j).
    lo, hi = int(PITCH_RATE / F0_MAX), int(PITCH_RATE / F0_MIN)
    d = 2.0 * (ac[:, :1] - ac[:, 1 : hi + 2])
    tau = np.arange(1, hi + 2, dtype=np.float32)
    cmnd = d * tau / np.maximum(np.cumsum(d, axis=1), 1e-10)
    seg = cmnd[:, lo - 1 : hi]  # lags lo..hi
    rows = np.arange(n_frames)
    below = seg < YIN_THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
    # slide from the first dip below the threshold down to its local minimum
    window = np.minimum(first[:, None] + np.arange(8)[None, :], seg.shape[1] - 1)
    best = window[rows, seg[rows[:, None], window].argmin(axis=1)]
    strength = 1.0 - seg[rows, best]
    i = np.clip(best, 1, seg.shape[1] - 2)
    a, b, c = seg[rows, i - 1], seg[rows, i], seg[rows, i + 1]
    denom = a - 2 * b + c
    safe = np.where(np.abs(denom) > 1e-12, denom, 1.0)
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / safe, 0.0)
    lag = np.where((best > 0) & (best < seg.shape[1] - 1), i + np.clip(shift, -1, 1), best) + lo
    return (PITCH_RATE / lag).astype(np.float32), np.clip(strength, 0.0, 1.0).astype(np.float32)


def utterance_stats(audio: np.ndarray, params: FeatureParams = DEFAULT_PARAMS, mel: np.ndarray | None = None) -> np.ndarray:
    """Validated turn -> (N_STATS,) float32 statistics, computed over the turn without its edge silence.

    `mel` may pass in `mel_power(audio, params)` when the caller already has it (the scorer computes
    it once for both the log-mel frames and these statistics).
    """
    x = check_audio(audio, params)
    mel = mel_power(x, params) if mel is None else mel
    power = np.maximum(mel, 1e-12)
    floor = power.max() * 10.0 ** (-params.top_db / 10.0)
    db = np.maximum(10.0 * np.log10(power), 10.0 * np.log10(floor))
    frame_db = 10.0 * np.log10(np.maximum(mel.sum(axis=1), 1e-12))
    loud = np.flatnonzero(frame_db >= frame_db.max() - params.trim_db)
    start, stop = int(loud[0]), int(loud[-1]) + 1
    if stop - start < params.min_frames:
        start, stop = 0, db.shape[0]
    db, frame_db, power = db[start:stop], frame_db[start:stop], power[start:stop]
    frame_db = frame_db - frame_db.max()
    active = frame_db >= -30.0

    db_active = db[active]
    level = db_active.mean()
    shape = db_active.mean(axis=0) - level
    band_std = db_active.std(axis=0)
    mfcc = db @ _dct_matrix(params.n_mels, N_MFCC).T
    mfcc_a = mfcc[active][:, 1:]
    dmfcc = np.diff(mfcc[:, 1:], axis=0) if mfcc.shape[0] > 1 else np.zeros((1, N_MFCC - 1), np.float32)

    e10, e50, e90 = np.percentile(frame_db, (10, 50, 90))
    energy = [float(frame_db.std()), float(e10), float(e50), float(e90),
              float(active.mean()), float(np.abs(np.diff(frame_db)).mean()) if frame_db.size > 1 else 0.0]

    seg = x[start * params.hop_length : (stop - 1) * params.hop_length + params.win_length]
    f0, strength = pitch_track(seg)
    step = PITCH_HOP * (SAMPLE_RATE // PITCH_RATE) // params.hop_length  # log-mel frames per pitch frame
    fdb_pitch = frame_db[::step]
    n = min(f0.shape[0], fdb_pitch.shape[0])
    f0, strength, fdb = f0[:n], strength[:n], fdb_pitch[:n]
    voiced = (strength >= VOICING_THRESHOLD) & (fdb >= -30.0)
    st = 12.0 * np.log2(np.maximum(f0[voiced], 1.0) / 100.0)
    if st.size >= 3:
        med = float(np.median(st))
        both = voiced[1:] & voiced[:-1]
        dst = np.abs(np.diff(12.0 * np.log2(np.maximum(f0, 1.0) / 100.0)))[both]
        dst = dst[dst < 6.0]  # octave jumps are tracking errors, not intonation
        s10, s90 = (float(v) for v in np.percentile(st, (10, 90)))
        pitch = [float(voiced.mean()), med, s10, s90, s90 - s10,
                 float(np.std(st[np.abs(st - med) < 12.0])), float(dst.mean()) if dst.size else 0.0,
                 float(strength[voiced].mean()), float(fdb[voiced].mean() - fdb.mean())]
    else:
        pitch = [float(voiced.mean()), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, float(strength.mean()), 0.0]

    lin = np.maximum(power, floor) / np.maximum(power, floor).max()  # = 10 ** ((db - db.max()) / 10)
    centre = np.arange(params.n_mels, dtype=np.float32)
    centroid = (lin * centre).sum(axis=1) / np.maximum(lin.sum(axis=1), 1e-12) / params.n_mels
    flux = np.sqrt(np.mean(np.diff(db, axis=0) ** 2, axis=1)) if db.shape[0] > 1 else np.zeros(1, np.float32)
    half = params.n_mels // 2
    tilt = db[:, :half].mean(axis=1) - db[:, half:].mean(axis=1)
    spectral = [float(centroid[active].mean()), float(centroid[active].std()), float(flux.mean()),
                float(flux.std()), float(tilt[active].mean()), float(tilt[active].std())]

    out = np.concatenate([shape, band_std, mfcc_a.mean(axis=0), mfcc_a.std(axis=0), dmfcc.std(axis=0),
                          energy, pitch, spectral]).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
