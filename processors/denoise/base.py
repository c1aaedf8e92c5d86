"""One interface for every denoiser, so the front end (and the benchmark) can swap them by name.

Input: consecutive 16 kHz float32 blocks of `VAD_WINDOW` (512) samples of one channel, with the
VAD's speech probability of each block (denoisers that learn a noise floor use the non-speech ones).
Output: the denoised stream, `latency` samples late (the front end re-aligns it), same length
overall once `flush()` has returned the tail. State is a dict of small arrays (`to_state`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Denoiser(ABC):
    name: str = "base"
    latency: int = 0
    """Output delay in samples (the first `latency` output samples precede the input)."""

    @abstractmethod
    def process(self, blocks: np.ndarray, speech_probs: np.ndarray) -> np.ndarray:
        """blocks: (n, 512) float32; speech_probs: (n,). Returns n*512 samples of output stream."""

    def flush(self) -> np.ndarray:
        """The last `latency` samples (input padded with silence)."""
        if self.latency == 0:
            return np.zeros(0, np.float32)
        pad = np.zeros((-(-self.latency // 512), 512), np.float32)
        return self.process(pad, np.zeros(len(pad), np.float32))[: self.latency]

    def to_state(self) -> dict:
        return {}

    def load_state(self, st: dict) -> None:
        pass


class NoDenoiser(Denoiser):
    """"off": the audio as decoded. Often the right choice for emotion: no cue is erased."""

    name = "off"

    def process(self, blocks: np.ndarray, speech_probs: np.ndarray) -> np.ndarray:
        return np.asarray(blocks, np.float32).reshape(-1)


def available_denoisers() -> tuple[str, ...]:
    from processors.denoise import registry

    return tuple(registry.FACTORIES)


def make_denoiser(name: str) -> Denoiser:
    """A fresh per-channel denoiser by name; ValueError names the choices when unknown."""
    from processors.denoise import registry

    try:
        factory = registry.FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown denoiser {name!r}; choose one of {', '.join(registry.FACTORIES)}") from None
    return factory()
