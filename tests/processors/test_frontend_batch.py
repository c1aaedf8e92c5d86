"""FrontEndBatch: many calls interleaved through one batched VAD give exactly push's turns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from processors.audio.io import load_audio
from processors.frontend import FrameError, FrontEnd, FrontEndConfig, frames_from_clip
from processors.frontend_batch import FrontEndBatch
from processors.types import CallInfo
from tests.conftest import require_data, sample_as_stereo


@pytest.fixture(scope="module")
def calls():
    """Ten calls cut from real two-speaker audio: stereo (each speaker on a side, some with line
    noise, mu-law 8 kHz or PCM 16 kHz, 20-100 ms frames) and two mono ones."""
    stereo = sample_as_stereo()
    noise = load_audio(require_data("noise") / "cafe_short.flac").samples
    rng = np.random.default_rng(5)
    out = []
    for k in range(10):
        off = int(rng.integers(0, 14)) * 16000
        seg = stereo[:, off:off + 16 * 16000]
        if k % 2:
            n = np.tile(noise, 4)[: seg.shape[1]]
            seg = (seg + 0.003 * n / np.sqrt(np.mean(n ** 2))).astype(np.float32)
        stereo_call = k < 8
        info = CallInfo(f"call{k}", stereo=stereo_call, agent_channel=k % 2)
        audio = seg if stereo_call else seg.sum(axis=0)
        enc, rate = ("mulaw", 8000) if k % 3 == 0 else ("pcm_s16le", 16000)
        frames = list(frames_from_clip(info.call_id, audio, (20, 60, 100)[k % 3], enc, rate))
        out.append((info, frames))
    return out


CONFIG = FrontEndConfig(diarize_mono=False)


def pushed(info, frames):
    fe = FrontEnd(info, CONFIG)
    turns = []
    for f in frames:
        turns += fe.push(f)
    return turns + fe.flush()


def key(t):
    return (t.turn_id, t.speaker, t.channel, t.start_s, t.end_s, t.overlap, t.audio.tobytes())


def test_batched_calls_give_pushs_turns(calls):
    ref = {info.call_id: [key(t) for t in pushed(info, frames)] for info, frames in calls}
    assert sum(len(v) for v in ref.values()) >= 30
    rng = np.random.default_rng(11)
    fes = {info.call_id: FrontEnd(info, CONFIG) for info, _ in calls}
    queues = {info.call_id: list(frames) for info, frames in calls}
    got = {cid: [] for cid in fes}
    batch = FrontEndBatch()
    rounds = 0
    while any(queues.values()):
        # a random share of the calls sends 1-3 frames each, in a random order, then one run
        for cid in rng.permutation(list(queues)):
            q = queues[cid]
            for _ in range(int(rng.integers(0, 4))):
                if q:
                    batch.add(fes[cid], q.pop(0))
        for res in batch.run():
            assert res.error is None
            got[res.fe.call.call_id] += res.turns
        rounds += 1
        if rounds == 40:  # a call moves to another worker mid-call
            fes["call3"] = FrontEnd.from_state_bytes(fes["call3"].state_bytes())
    for cid, fe in fes.items():
        got[cid] += fe.flush()
    for cid, turns in ref.items():
        assert [key(t) for t in got[cid]] == turns, cid


def test_a_bad_frame_or_a_flushed_call_does_not_disturb_the_batch(calls):
    (info_a, frames_a), (info_b, frames_b) = calls[0], calls[1]
    ref_b = [key(t) for t in pushed(info_b, frames_b)]
    a, b = FrontEnd(info_a, CONFIG), FrontEnd(info_b, CONFIG)
    batch = FrontEndBatch()
    got_b = []
    for i, fb in enumerate(frames_b):
        if i <= 30:
            if i == 12:  # a redelivered frame: refused as not new audio, nothing else changes
                assert batch.add(a, frames_a[i - 3]) is False
            if i == 7:
                with pytest.raises(FrameError):
                    batch.add(a, dataclasses.replace(frames_a[i], encoding="opus"))
            else:
                assert batch.add(a, frames_a[i]) is True
        if i == 30:
            a.flush()  # the call ended between add() and run(): its queued windows were cut there
        batch.add(b, fb)
        for res in batch.run():
            assert res.error is None
            if res.fe is b:
                got_b += res.turns
    got_b += b.flush()
    assert [key(t) for t in got_b] == ref_b
    assert a.stats.rejected_frames == 1 and a.stats.dropped_late == 1
