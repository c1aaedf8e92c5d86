"""Telephone-channel degradation in numpy (no torch): for training augmentation and for evaluation.

Input: 16 kHz mono float32 speech; output: the same length at 16 kHz, as it would sound after the
phone network: gain, additive background noise at a given SNR, G.712 band-limit (300-3400 Hz),
8 kHz sampling and G.711 mu-law companding, then back to 16 kHz (what our front end hands the model).

Other evaluations import `telephone_degrade` and `load_noise` from here, so this module must stay
importable without torch.

Noise recordings are short (4.5 s). To keep the evaluation honest the cafe recording is split in time:
`load_noise(..., part="train")` gives its first 60 %, `part="eval"` the last 40 %; training
augmentation uses only train parts (plus fish and synthetic coloured noise), evaluation only eval parts.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
import soxr

from processors.types import SAMPLE_RATE

DEFAULT_NOISE_DIR = (
    Path(os.environ.get("CALLPULSE_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")) / "noise"
)
TRAIN_SHARE = 0.6


def load_noise(name: str = "cafe_short", noise_dir: str | Path | None = None, part: str = "all") -> np.ndarray:
    """A noise recording as 16 kHz mono float32; part is "all", "train" (first 60 %) or "eval" (last 40 %)."""
    path = Path(noise_dir or DEFAULT_NOISE_DIR) / f"{name}.flac"
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    x = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    cut = int(len(x) * TRAIN_SHARE)
    if part == "train":
        return x[:cut].copy()
    if part == "eval":
        return x[cut:].copy()
    if part == "all":
        return x
    raise ValueError(f"part must be all, train or eval, not {part!r}")


@lru_cache(maxsize=4)
def _bandpass_sos(low_hz: float, high_hz: float, rate: int) -> np.ndarray:
    return scipy.signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=rate, output="sos")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Mix a random (looped) stretch of `noise` into `x` at `snr_db` (speech RMS over noise RMS)."""
    n = len(x)
    if len(noise) < n:
        noise = np.tile(noise, int(np.ceil(n / len(noise))) + 1)
    start = int(rng.integers(0, len(noise) - n + 1))
    seg = noise[start : start + n].astype(np.float64)
    gain = _rms(x) / (_rms(seg) * 10.0 ** (snr_db / 20.0))
    return (x + gain * seg).astype(np.float32)


def mulaw_roundtrip(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """G.711-style 8-bit mu-law encode + decode (clips to [-1, 1])."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round((y + 1.0) / 2.0 * mu)  # 256 levels
    y = q / mu * 2.0 - 1.0
    return (np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu).astype(np.float32)


def telephone_degrade(
    x: np.ndarray,
    rng: np.random.Generator | None = None,
    noise: np.ndarray | None = None,
    snr_db: float = 10.0,
    gain_db: float = 0.0,
    band_hz: tuple[float, float] | None = (300.0, 3400.0),
    narrowband_rate: int | None = 8000,
    mulaw: bool = True,
) -> np.ndarray:
    """Speech at 16 kHz -> the same speech after a phone line, back at 16 kHz, same length.

    The evaluation condition of the model card is the default with `noise=load_noise("cafe_short",
    part="eval")`, snr_db=10: cafe noise at 10 dB SNR, 300-3400 Hz, 8 kHz, mu-law.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    y = np.asarray(x, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    if noise is not None:
        y = add_noise(y, noise, snr_db, rng)
    if band_hz is not None:
        y = scipy.signal.sosfilt(_bandpass_sos(band_hz[0], band_hz[1], SAMPLE_RATE), y).astype(np.float32)
    if narrowband_rate is not None:
        y = soxr.resample(y, SAMPLE_RATE, narrowband_rate, quality="HQ")
    if mulaw:
        y = mulaw_roundtrip(y)
    if narrowband_rate is not None:
        y = soxr.resample(y, narrowband_rate, SAMPLE_RATE, quality="HQ")
    y = np.asarray(y, dtype=np.float32)
    if len(y) >= len(x):
        return y[: len(x)]
    return np.pad(y, (0, len(x) - len(y)))


def coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / f ** (exponent / 2.0), n)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


class TelephoneAugmenter:
    """Random phone-line conditions for training: noise 0-20 dB SNR, gain, band, 8 kHz, mu-law."""

    def __init__(self, noises: list[np.ndarray]):
        self.noises = noises

    @classmethod
    def from_noise_dir(cls, noise_dir: str | Path | None = None) -> "TelephoneAugmenter":
        return cls([load_noise("cafe_short", noise_dir, "train"), load_noise("fish", noise_dir, "all")])

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        choice = rng.integers(0, len(self.noises) + 2)
        if choice < len(self.noises):
            noise = self.noises[choice]
        else:
            noise = coloured_noise(len(x), rng, exponent=float(rng.uniform(0.0, 2.0)))
        low = float(rng.uniform(200.0, 400.0))
        high = float(rng.uniform(3200.0, 3600.0))
        y = telephone_degrade(
            x,
            rng,
            noise=noise if rng.random() < 0.85 else None,
            snr_db=float(rng.uniform(0.0, 20.0)),
            gain_db=float(rng.uniform(-12.0, 6.0)),
            band_hz=(low, high),
            narrowband_rate=8000,
            mulaw=bool(rng.random() < 0.8),
        )
        return y
