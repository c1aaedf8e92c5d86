"""The flat silero rebuild against the wheel's own graph, and batch independence of its rows."""

from __future__ import annotations

import numpy as np
import pytest

from processors.audio.io import load_audio
from processors.vad import (
    VAD_WINDOW,
    VadJob,
    VadState,
    run_vad_jobs,
    silero_session,
    speech_probs,
)
from processors.vad_model import silero_batch
from tests.conftest import require_data

SR = np.array(16000, dtype=np.int64)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    x = load_audio(require_data("diarization") / "sample.flac").samples
    n = len(x) // VAD_WINDOW
    return x[: n * VAD_WINDOW].reshape(n, VAD_WINDOW)


def test_flat_model_matches_the_wheels_graph_on_real_speech(speech):
    session = silero_session()
    ref_state = np.zeros((2, 1, 128), np.float32)
    state = ref_state.copy()
    context = np.zeros(64, np.float32)
    ref, got = [], []
    for window in speech:
        row = np.concatenate([context, window])[None, :]
        out, ref_state = session.run(None, {"input": row, "state": ref_state, "sr": SR})
        prob, state = silero_batch(row, state)
        ref.append(float(out[0, 0]))
        got.append(float(prob[0]))
        context = window[-64:]
    ref, got = np.array(ref), np.array(got)
    assert (ref >= 0.5).sum() > 200 and (ref < 0.35).sum() > 50  # speech and pauses both present
    assert np.abs(ref - got).max() < 1e-5
    assert np.abs(ref_state - state).max() < 1e-3  # after 30 s of recurrence
    assert np.array_equal(ref >= 0.5, got >= 0.5) and np.array_equal(ref >= 0.35, got >= 0.35)


def test_a_rows_result_does_not_depend_on_its_batch(speech):
    rng = np.random.default_rng(1)
    rows = np.concatenate([speech[:100, -64:], speech[1:101]], axis=1).astype(np.float32)
    state = (0.3 * rng.standard_normal((2, 100, 128))).astype(np.float32)
    full_p, full_s = silero_batch(rows, state)
    for size in (1, 2, 3, 7, 8, 32, 33):
        for start in range(0, 100 - size, max(size, 9)):
            p, s = silero_batch(rows[start:start + size], state[:, start:start + size])
            assert np.array_equal(p, full_p[start:start + size])
            assert np.array_equal(s, full_s[:, start:start + size])


def test_jobs_of_many_streams_equal_each_stream_alone(speech):
    """Streams of different lengths, gates on and off, batched together: bit-identical probabilities
    and states to running each stream by itself."""
    rng = np.random.default_rng(2)
    noise = (0.003 * rng.standard_normal(speech.shape)).astype(np.float32)
    streams = []
    for k in range(12):
        start = int(rng.integers(0, len(speech) - 200))
        w = speech[start:start + int(rng.integers(1, 200))]
        if k % 3 == 0:  # a listening side: line noise alone, then speech over it
            w = np.concatenate([np.zeros((30, VAD_WINDOW), np.float32), w])
            w = w + noise[: len(w)]
        if k % 4 == 1:
            w = np.concatenate([np.zeros((20, VAD_WINDOW), np.float32), w])  # digital silence first
        streams.append(w)
    alone = []
    for k, w in enumerate(streams):
        st = VadState()
        alone.append((speech_probs(w, st, -60.0, 6.0 if k % 2 else None), st))
    jobs = [VadJob(w, VadState(), -60.0, 6.0 if k % 2 else None) for k, w in enumerate(streams)]
    run_vad_jobs(jobs)
    for (probs, st), job in zip(alone, jobs):
        assert np.array_equal(probs, job.probs)
        assert np.array_equal(st.rnn, job.state.rnn) and st.skipped == job.state.skipped
    # streams 3 and 9: line noise, noise gate on, no digital silence: gated windows, then warm-ups
    assert alone[3][1].skipped > 0 and alone[9][1].skipped > 0
