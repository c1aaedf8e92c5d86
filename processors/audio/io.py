"""Read audio files into the one format every processor uses: 16 kHz mono float32.

Input: a WAV/FLAC/OGG path (any sample rate, any channel count).
Output: `AudioClip` (samples at SAMPLE_RATE, per-channel if asked) or `AudioReadError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from processors.types import SAMPLE_RATE


class AudioReadError(ValueError):
    """The file could not be read as audio (missing, unreadable, empty)."""


@dataclass(frozen=True)
class AudioClip:
    samples: np.ndarray
    """float32, shape (n,) when mono or downmixed, (channels, n) when channels were kept."""
    sample_rate: int
    source_rate: int
    source_channels: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def resample(x: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality resampling (soxr) of a 1-D float signal; identity when rates match."""
    x = np.asarray(x, dtype=np.float32)
    if rate_in == rate_out:
        return x
    return soxr.resample(x, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, keep_channels: bool = False) -> AudioClip:
    """Decode a file, resample to 16 kHz; downmix to mono unless `keep_channels`."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types; callers want one
        raise AudioReadError(f"cannot read {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise AudioReadError(f"{path} holds no samples")
    channels = data.shape[1]
    if keep_channels:
        out = np.stack([resample(data[:, c], rate) for c in range(channels)])
    else:
        out = resample(data.mean(axis=1), rate)
    return AudioClip(samples=out, sample_rate=SAMPLE_RATE, source_rate=int(rate), source_channels=channels)
