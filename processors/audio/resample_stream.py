"""Streaming polyphase resampler whose state is a few arrays (so a call can move between workers).

Input: float32 chunks of any size at `rate_in`. Output: float32 at 16 kHz.
Every output sample is a fixed function of the input samples (a windowed-sinc polyphase FIR, group
delay compensated), computed row by row, so the output is bit-identical whatever the chunking:
no clicks or gaps at frame boundaries. soxr is better for whole files but its stream state cannot
be serialised, hence this small one.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
from scipy.signal import firwin, kaiserord

from processors.types import SAMPLE_RATE


@lru_cache(maxsize=16)
def polyphase_filter(rate_in: int, rate_out: int = SAMPLE_RATE) -> tuple[int, int, np.ndarray, int]:
    """(up L, down M, phases (L, K) float32, delay in upsampled samples) for rate_in -> rate_out.

    Low-pass at 47% of the lower rate, 60 dB stop band, transition 12% of the lower rate:
    telephone speech (< 3.4 kHz at 8 kHz) passes untouched, images/aliases are 60 dB down.
    """
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    fs = rate_in * up
    low = min(rate_in, rate_out)
    numtaps, beta = kaiserord(60.0, (0.12 * low) / (fs / 2))
    taps_per_phase = -(-numtaps // up)
    numtaps = taps_per_phase * up
    if numtaps % 2 == 0:  # odd length -> integer group delay
        numtaps -= 1
    h = firwin(numtaps, 0.47 * low, window=("kaiser", beta), fs=fs) * up
    h = np.concatenate([h, np.zeros(taps_per_phase * up - numtaps)])
    phases = h.reshape(taps_per_phase, up).T.astype(np.float32)  # phases[p, k] = h[p + k*up]
    return up, down, np.ascontiguousarray(phases), (numtaps - 1) // 2


class StreamResampler:
    """rate_in -> 16 kHz, chunk-invariant. `to_state`/`from_state` carry it between workers."""

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE):
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.identity = self.rate_in == self.rate_out
        if not self.identity:
            self.up, self.down, self.phases, self.delay = polyphase_filter(self.rate_in, self.rate_out)
            self.taps = self.phases.shape[1]
            self.history = np.zeros(self.taps, dtype=np.float32)
        self.n_in = 0
        self.n_out = 0

    def _outputs_ready(self, n_in: int) -> int:
        """Number of outputs computable from the first n_in inputs: base(j) <= n_in - 1."""
        # base(j) = (j*down + delay) // up  <= n_in - 1  <=>  j*down + delay <= n_in*up - 1
        last = n_in * self.up - 1 - self.delay
        return 0 if last < 0 else last // self.down + 1

    def _compute(self, buf: np.ndarray, buf_start: int, j0: int, j1: int) -> np.ndarray:
        if self.up <= 4:
            return self._compute_strided(buf, buf_start, j0, j1)
        j = np.arange(j0, j1, dtype=np.int64)
        n = j * self.down + self.delay
        base, phase = n // self.up, n % self.up
        idx = (base - buf_start)[:, None] - np.arange(self.taps)[None, :]
        rows = buf[idx] * self.phases[phase]
        return rows.sum(axis=1, dtype=np.float32)

    def _compute_strided(self, buf: np.ndarray, buf_start: int, j0: int, j1: int) -> np.ndarray:
        """Few phases (8 kHz, 48 kHz): one strided dot product per phase, ~8x faster than gathering.

        Outputs j0+r, j0+r+up, ... share a phase and their input windows step by `down`."""
        out = np.empty(j1 - j0, dtype=np.float32)
        item = buf.strides[0]
        for r in range(min(self.up, j1 - j0)):
            j = j0 + r
            n = j * self.down + self.delay
            base, phase = n // self.up, n % self.up
            count = len(range(j, j1, self.up))
            first = base - self.taps + 1 - buf_start
            rows = np.ndarray((count, self.taps), np.float32, buf, first * item, (self.down * item, item))
            out[r::self.up] = np.einsum("ij,j->i", rows, self.phases[phase, ::-1])
        return out

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.identity:
            self.n_in += x.size
            self.n_out += x.size
            return x
        buf = np.concatenate([self.history, x])
        buf_start = self.n_in - self.taps  # input index of buf[0]
        self.n_in += x.size
        ready = self._outputs_ready(self.n_in)
        out = self._compute(buf, buf_start, self.n_out, ready) if ready > self.n_out else np.zeros(0, np.float32)
        self.n_out = max(self.n_out, ready)
        self.history = buf[-self.taps:].copy()
        return out

    def flush(self) -> np.ndarray:
        """Emit the tail (input padded with zeros) so output length is round(n_in * out/in)."""
        if self.identity:
            return np.zeros(0, np.float32)
        total = -(-self.n_in * self.up // self.down)
        pad = np.zeros(self.taps + self.delay // self.up + 2, np.float32)
        buf = np.concatenate([self.history, pad])
        buf_start = self.n_in - self.taps
        out = self._compute(buf, buf_start, self.n_out, total) if total > self.n_out else np.zeros(0, np.float32)
        self.n_out = max(self.n_out, total)
        return out

    def to_state(self) -> dict:
        st = {"rate_in": self.rate_in, "rate_out": self.rate_out, "n_in": self.n_in, "n_out": self.n_out}
        if not self.identity:
            st["history"] = self.history
        return st

    @classmethod
    def from_state(cls, st: dict) -> "StreamResampler":
        r = cls(int(st["rate_in"]), int(st["rate_out"]))
        r.n_in, r.n_out = int(st["n_in"]), int(st["n_out"])
        if not r.identity:
            r.history = np.asarray(st["history"], dtype=np.float32).copy()
        return r
