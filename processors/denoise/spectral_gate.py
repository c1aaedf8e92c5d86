"""Spectral gating in numpy whose noise floor adapts from the VAD's non-speech blocks.

Input: 512-sample 16 kHz blocks + their speech probabilities. Output: the gated stream, 256
samples late (50%-overlap STFT, 512-point sqrt-Hann frames: perfect reconstruction at unit gain).

Noise floor per frequency bin: exponential average of the power of frames in blocks the VAD calls
non-speech (p < `noise_prob`); before the first such block, a minimum-statistics estimate (the
running minimum of the smoothed power), so the very first seconds are already gated. Gain: a
Wiener-style rule G = max(floor, 1 - oversubtract * N/|X|^2), smoothed over time and frequency,
never below `max_attenuation_db` (-12 dB by default: mild, so it does not erase the breathy,
low-energy cues emotion depends on, and has no musical noise).
"""

from __future__ import annotations

import numpy as np

from processors.denoise.base import Denoiser

FRAME = 512
HOP = 256
_WINDOW = np.sqrt(np.hanning(FRAME + 1)[:FRAME]).astype(np.float32)  # periodic sqrt-Hann: COLA at 50%


class SpectralGate(Denoiser):
    name = "spectral_gate"
    latency = HOP

    def __init__(self, noise_prob: float = 0.3, noise_smoothing: float = 0.9, oversubtract: float = 1.5,
                 max_attenuation_db: float = 12.0, gain_smoothing: float = 0.5):
        self.noise_prob = noise_prob
        self.alpha = noise_smoothing
        self.over = oversubtract
        self.floor = 10.0 ** (-max_attenuation_db / 20.0)
        self.gain_alpha = gain_smoothing
        self.history = np.zeros(HOP, np.float32)
        self.overlap = np.zeros(HOP, np.float32)
        self.noise = np.zeros(FRAME // 2 + 1, np.float32)
        self.smoothed = np.zeros(FRAME // 2 + 1, np.float32)
        self.gain = np.ones(FRAME // 2 + 1, np.float32)
        self.frames = 0
        self.noise_frames = 0

    def _frame(self, frame: np.ndarray, non_speech: bool) -> np.ndarray:
        spec = np.fft.rfft(frame * _WINDOW)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        self.frames += 1
        self.smoothed = power if self.frames == 1 else 0.7 * self.smoothed + 0.3 * power
        if non_speech:
            self.noise = power if self.noise_frames == 0 else self.alpha * self.noise + (1 - self.alpha) * power
            self.noise_frames += 1
        elif self.noise_frames == 0:
            # minimum statistics until the VAD has shown us some noise
            self.noise = self.smoothed.copy() if self.frames == 1 else np.minimum(self.noise * 1.02, self.smoothed)
        gain = np.maximum(self.floor, 1.0 - self.over * self.noise / np.maximum(power, 1e-12))
        gain = np.convolve(gain, np.ones(3, np.float32) / 3, mode="same")
        self.gain = self.gain_alpha * self.gain + (1 - self.gain_alpha) * gain
        return np.fft.irfft(spec * self.gain, n=FRAME).astype(np.float32) * _WINDOW

    def process(self, blocks: np.ndarray, speech_probs: np.ndarray) -> np.ndarray:
        blocks = np.asarray(blocks, np.float32).reshape(-1, FRAME)
        out = np.empty(blocks.size, np.float32)
        for b, (block, prob) in enumerate(zip(blocks, np.asarray(speech_probs, np.float32))):
            non_speech = bool(prob < self.noise_prob)
            for h in range(FRAME // HOP):
                hop = block[h * HOP:(h + 1) * HOP]
                y = self._frame(np.concatenate([self.history, hop]), non_speech)
                out[b * FRAME + h * HOP:b * FRAME + (h + 1) * HOP] = self.overlap + y[:HOP]
                self.overlap = y[HOP:]
                self.history = hop.copy()
        return out

    def to_state(self) -> dict:
        return {"history": self.history, "overlap": self.overlap, "noise": self.noise, "smoothed": self.smoothed,
                "gain": self.gain, "frames": self.frames, "noise_frames": self.noise_frames}

    def load_state(self, st: dict) -> None:
        for key in ("history", "overlap", "noise", "smoothed", "gain"):
            setattr(self, key, np.asarray(st[key], np.float32).copy())
        self.frames, self.noise_frames = int(st["frames"]), int(st["noise_frames"])
