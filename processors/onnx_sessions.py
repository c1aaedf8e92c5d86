"""One shared, single-threaded CPU ONNX Runtime session per model file, per process.

Used by the small streaming models of the front end (VAD, speaker embedder, DTLN denoiser): they run on
short windows where threading costs more than it gains, and workers scale by process, not by thread.
The emotion model has its own session setup (processors/emotion/model.py): it batches and may use CUDA.
"""

from __future__ import annotations

import threading
from pathlib import Path

import onnxruntime as ort

_SESSIONS: dict[str, ort.InferenceSession] = {}
_LOCK = threading.Lock()


def single_thread_cpu_session(model: str | bytes) -> ort.InferenceSession:
    """A new single-threaded CPU session of a model file path or serialised model bytes."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def shared_cpu_session(path: str | Path) -> ort.InferenceSession:
    key = str(path)
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = single_thread_cpu_session(key)
    return session
