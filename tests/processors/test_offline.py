"""Offline runner on a real recording with the real front end: frame-size and arrival-order invariance,
agent audio never scored with agent emotion off.  The emotion model is replaced by a small deterministic
scorer (loudness) so these tests run before/without the trained model; test_cli_analyze uses the real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processors.call_chain import ChainConfig
from processors.offline import analyze_samples, chain_records
from processors.types import AGENT, CUSTOMER, EMOTION_LABELS, Alert, EmotionResult, FusedTurn, WindowAggregate

DEMO = Path(__file__).resolve().parents[2] / "demo" / "calls"


class LoudnessScorer:
    """upset = how loud the turn is (a stand-in with the EmotionModel.score_many interface)."""

    def __init__(self):
        self.seen: list[int] = []

    def score_many(self, audios):
        out = []
        for a in audios:
            self.seen.append(len(a))
            rms = float(np.sqrt(np.mean(np.square(a)))) if len(a) else 0.0
            u = float(min(1.0, rms * 3))
            probs = {lab: (u / 4 if lab in ("angry", "disgust", "fear", "sad") else (1 - u) / 3) for lab in EMOTION_LABELS}
            out.append(EmotionResult(probs, u, max(probs, key=probs.get), "loudness"))
        return out


@pytest.fixture(scope="module")
def upset_stereo():
    path = DEMO / "upset_stereo.flac"
    if not path.exists():
        pytest.skip("demo calls missing")
    from processors.audio.io import load_audio

    return load_audio(path, keep_channels=True).samples


def _key(records):
    return [r for r in records if not isinstance(r, FusedTurn)], {
        r.turn_id: r.negativity for r in records if isinstance(r, FusedTurn)}


def test_same_records_for_any_frame_size(upset_stereo):
    results = [
        analyze_samples("demo", upset_stereo, LoudnessScorer(), stereo=True, customer_channel=1, frame_ms=ms,
                        polarity=lambda t: 0.0)
        for ms in (20, 50, 7)
    ]
    assert results[0].records[-1].customer_turns > 3
    assert any(isinstance(r, WindowAggregate) for r in results[0].records)
    for other in results[1:]:
        assert _key(other.records) == _key(results[0].records)


def test_streaming_arrival_order_gives_the_offline_result(upset_stereo):
    res = analyze_samples("demo", upset_stereo, LoudnessScorer(), stereo=True, customer_channel=1,
                          polarity=lambda t: 0.0)
    replay = chain_records("demo", res.turns, (), polarity=lambda t: 0.0, duration_s=res.duration_s,
                           arrival_order=True)
    assert replay[-1].late_events_dropped == 0
    assert _key(replay) == _key(res.records)


def test_agent_audio_never_scored_when_agent_emotion_is_off(upset_stereo):
    scorer = LoudnessScorer()
    res = analyze_samples("demo", upset_stereo, scorer, stereo=True, customer_channel=1, agent_emotion=False,
                          config=ChainConfig(agent_emotion=False), polarity=lambda t: 0.0)
    turns = {r.turn_id: r for r in res.records if isinstance(r, FusedTurn)}
    customer = [t for t in turns.values() if t.speaker == CUSTOMER]
    agent = [t for t in turns.values() if t.speaker == AGENT]
    assert customer and agent
    assert len(scorer.seen) == len(customer)
    assert all(t.voice_upset is None for t in agent)
    assert all(t.turn_id not in res.emotions for t in agent)


def test_alert_evidence_points_at_customer_turns(upset_stereo):
    res = analyze_samples("demo", upset_stereo, LoudnessScorer(), stereo=True, customer_channel=1,
                          polarity=lambda t: 0.0,
                          config=ChainConfig())
    turns = {r.turn_id: r for r in res.records if isinstance(r, FusedTurn)}
    for a in (r for r in res.records if isinstance(r, Alert)):
        assert all(turns[e.turn_id].speaker == CUSTOMER for e in a.evidence)
