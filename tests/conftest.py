"""Shared fixtures: where the real data lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("CALLPULSE_DATA", REPO_ROOT.parent / "shared" / "data"))


def require_data(*parts: str) -> Path:
    """Path under the shared data folder, or skip the test saying what is missing."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set CALLPULSE_DATA to the shared data folder)")
    return path


def sample_as_stereo():
    """diarization/sample.flac split into two channels by its reference RTTM (speaker90 on channel 0,
    the other speaker on channel 1): a real two-speaker stereo call (float32, shape (2, n))."""
    import numpy as np

    from processors.audio.io import load_audio

    folder = require_data("diarization")
    x = load_audio(folder / "sample.flac").samples
    chans = np.zeros((2, len(x)), np.float32)
    for line in (folder / "sample.rttm").read_text().splitlines():
        _, _, _, start, dur, _, _, spk, *_ = line.split()
        a, b = int(float(start) * 16000), int((float(start) + float(dur)) * 16000)
        chans[0 if spk == "speaker90" else 1, a:b] = x[a:b]
    return chans


@pytest.fixture
def data_dir() -> Path:
    return require_data()


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory) -> Path:
    """The one embedded-store (chdb) directory of this test process: chdb runs one data directory per
    process for the process's lifetime, so every in-process store test shares it (one database each)."""
    from streams import store

    return store.process_chdb_path() or tmp_path_factory.mktemp("chdb")
