"""Log-mel features for the emotion model, in numpy/scipy only (the runtime has no librosa/torch).

Input: one turn, 16 kHz mono float32 in [-1, 1].
Output: float32 array (frames, n_mels), edge silence trimmed, per-utterance normalised (CMVN).

Training (models/emotion) calls the very same `log_mel_features`, so what the network learnt and what
the service computes cannot drift apart. The parameters travel in the ONNX metadata (`FeatureParams`).

Why these choices:
- per-mel-bin mean subtraction over the utterance (mean_norm="per_band") removes a fixed channel colouring (handset, codec,
  gain), the main difference between acted studio clips and phone calls;
- one global standard deviation (not per bin) keeps bins that only hold noise (above 3.4 kHz on a phone
  line) from being blown up to unit variance;
- the floor at `top_db` below the loudest bin makes the features independent of the input gain;
- edge-silence trimming makes studio clips (RAVDESS has ~1 s of silence around each sentence) look like
  the VAD-cut turns the streaming front end produces.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from processors.types import SAMPLE_RATE


class BadAudioError(ValueError):
    """The turn cannot be scored: too short, silent, not finite, or not 1-D audio."""


@dataclass(frozen=True)
class FeatureParams:
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400
    """25 ms Hann window."""
    hop_length: int = 160
    """10 ms hop: 100 frames per second."""
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    top_db: float = 80.0
    trim_db: float = 40.0
    """Edge frames more than this below the loudest frame are trimmed."""
    min_frames: int = 28
    """Never trim below this many frames (0.3 s)."""
    min_duration_s: float = 0.3
    silence_dbfs: float = -80.0
    mean_norm: str = "per_band"
    """"per_band" (shipped model 1.0): subtract each band's mean (channel normalisation, also erases the tilt);
    "global": one mean over all bands and frames. Tried with model 1.1: worse on the same folds (model card)."""
    """A turn whose loudest 25 ms frame (RMS) is below this is 'silent'."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def feature_key(self) -> str:
        """JSON of the fields that change the features (not the validation thresholds)."""
        d = asdict(self)
        for name in ("min_duration_s", "silence_dbfs"):
            d.pop(name)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureParams":
        fields = json.loads(text)
        fields.setdefault("mean_norm", "per_band")  # models exported before the field existed
        return cls(**fields)


DEFAULT_PARAMS = FeatureParams()


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(params: FeatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular HTK-scale filters, area-normalised (Slaney style)."""
    n_bins = params.n_fft // 2 + 1
    freqs = np.linspace(0.0, params.sample_rate / 2.0, n_bins)
    mel_pts = np.linspace(_hz_to_mel(params.fmin), _hz_to_mel(params.fmax), params.n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts)
    lower, centre, upper = hz_pts[:-2, None], hz_pts[1:-1, None], hz_pts[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb *= (2.0 / (upper - lower))
    return np.ascontiguousarray(fb.T, dtype=np.float32)


@lru_cache(maxsize=8)
def _window(params: FeatureParams) -> np.ndarray:
    n = np.arange(params.win_length)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / params.win_length)).astype(np.float32)


def check_audio(audio: np.ndarray, params: FeatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """Return the turn as contiguous float32 1-D, or raise BadAudioError saying why."""
    x = np.asarray(audio)
    if x.ndim != 1:
        raise BadAudioError(f"expected 1-D mono audio, got shape {x.shape}")
    x = x.astype(np.float32, copy=False)
    duration = x.shape[0] / params.sample_rate
    if duration < params.min_duration_s:
        raise BadAudioError(f"turn too short: {duration:.3f} s < {params.min_duration_s} s")
    if not np.all(np.isfinite(x)):
        raise BadAudioError("audio holds NaN or infinite samples")
    n_frames = x.shape[0] // params.win_length
    power = np.mean(np.square(x[: n_frames * params.win_length], dtype=np.float64).reshape(n_frames, -1), axis=1)
    peak = float(np.max(power - np.mean(x[: n_frames * params.win_length].reshape(n_frames, -1), axis=1) ** 2))
    level = 10.0 * np.log10(peak) if peak > 0 else -np.inf
    if level < params.silence_dbfs:
        raise BadAudioError(f"turn is silent: loudest frame {level:.1f} dBFS < {params.silence_dbfs} dBFS")
    return np.ascontiguousarray(x)


def mel_power(x: np.ndarray, params: FeatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """(frames, n_mels) mel power spectrogram; no centre padding, so frames = 1 + (n - win) // hop."""
    n_frames = 1 + (x.shape[0] - params.win_length) // params.hop_length
    frames = np.lib.stride_tricks.as_strided(
        x,
        shape=(n_frames, params.win_length),
        strides=(x.strides[0] * params.hop_length, x.strides[0]),
        writeable=False,
    )
    spec = scipy.fft.rfft(frames * _window(params), n=params.n_fft, axis=1, workers=1)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32, copy=False)
    return power @ mel_filterbank(params)


def log_mel_features(audio: np.ndarray, params: FeatureParams = DEFAULT_PARAMS, mel: np.ndarray | None = None) -> np.ndarray:
    """Validated turn -> trimmed, normalised (frames, n_mels) float32 log-mel features.

    `mel` may pass in `mel_power(audio, params)` when the caller already has it."""
    x = check_audio(audio, params)
    mel = mel_power(x, params) if mel is None else mel
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    db = np.maximum(db, db.max() - params.top_db)

    frame_db = 10.0 * np.log10(np.maximum(mel.sum(axis=1), 1e-12))
    loud = np.flatnonzero(frame_db >= frame_db.max() - params.trim_db)
    start, stop = int(loud[0]), int(loud[-1]) + 1
    if stop - start < params.min_frames:
        centre = (start + stop) // 2
        start = max(0, min(centre - params.min_frames // 2, db.shape[0] - params.min_frames))
        stop = min(db.shape[0], start + params.min_frames)
    db = db[start:stop]

    db = db - (db.mean(axis=0, keepdims=True) if params.mean_norm == "per_band" else db.mean())
    scale = float(db.std())
    db = db / max(scale, 1e-3)
    return db.astype(np.float32, copy=False)
