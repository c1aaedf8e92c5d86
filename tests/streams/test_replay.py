"""The replayer's frames: encoded once per call, yet exactly the events `frames_from_clip` makes."""

from __future__ import annotations

import numpy as np
import pytest

from processors.frontend import frames_from_clip
from schemas import codec
from streams.records import frame_to_record, interleaved_record, record_to_frames
from streams.replay import ReplayCall, _CallCursor


@pytest.mark.parametrize("channels, per_channel", [(2, False), (2, True), (1, False)])
def test_cursor_records_equal_frames_from_clip(channels, per_channel):
    rng = np.random.default_rng(channels)
    samples = np.clip(rng.normal(0, 0.3, (channels, 16000 + 123)), -1.2, 1.2).astype(np.float32)
    call = ReplayCall("c1", samples, stereo=channels == 2, per_channel_frames=per_channel)
    cur = _CallCursor(call, frame_ms=20)
    frames = list(frames_from_clip("c1", samples, frame_ms=20))
    want = ([interleaved_record(frames[i:i + 2]) for i in range(0, len(frames), 2)]
            if channels == 2 and not per_channel else [frame_to_record(f) for f in frames])
    got = []
    for _ in range(cur.n_ticks):
        got.extend(cur.frame_records())
        cur.tick += 1
    assert got == want
    # and through the codec, back to the per-channel frames the front end takes
    back = [f for rec in got for f in record_to_frames(codec.decode("audio_frame", codec.encode("audio_frame", rec)))]
    assert back == frames
