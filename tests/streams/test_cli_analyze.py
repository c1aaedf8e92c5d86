"""`callpulse analyze` on the demo recordings: record types, determinism across frame sizes,
agent emotion off, transcripts, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from streams.cli import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "calls"
MODEL = Path(os.environ.get("CALLPULSE_EMOTION_MODEL", REPO / "models" / "emotion" / "emotion.onnx"))


def _require():
    if not MODEL.exists():
        pytest.skip(f"emotion model not built yet ({MODEL})")
    if not (DEMO / "upset_stereo.flac").exists():
        pytest.skip("demo calls missing")


def _run(capsys, *argv) -> tuple[int, list[dict], str]:
    rc = main(["analyze", "--no-asr", "--model", str(MODEL), *argv])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return rc, lines, captured.err


def test_stereo_call_record_types_and_frame_size_invariance(capsys):
    _require()
    f = str(DEMO / "upset_stereo.flac")
    rc, lines, _ = _run(capsys, "--stereo", "--customer-channel", "1", f)
    assert rc == 0
    types = [d["type"] for d in lines]
    assert types[-1] == "summary" and types.count("summary") == 1
    assert {"turn", "window", "summary"} <= set(types)
    turns = [d for d in lines if d["type"] == "turn"]
    customer = [d for d in turns if d["speaker"] == "customer"]
    assert customer and all("emotion" in d and abs(sum(d["emotion"]["probs"].values()) - 1) < 1e-4 for d in customer)
    assert all(0.0 <= d["negativity"] <= 1.0 for d in turns)
    windows = [d for d in lines if d["type"] == "window"]
    assert [w["window_start_s"] for w in windows] == [5.0 * k for k in range(len(windows))]
    for a in (d for d in lines if d["type"] == "alert"):
        assert a["severity"] in ("medium", "high", "critical") and a["evidence"]
        assert {"turn_id", "negativity", "text", "start_s", "end_s"} <= set(a["evidence"][0])
    rc2, lines50, _ = _run(capsys, "--stereo", "--customer-channel", "1", "--frame-ms", "50", f)
    assert rc2 == 0
    assert [d for d in lines50 if d["type"] != "turn"] == [d for d in lines if d["type"] != "turn"]
    assert [(d["turn_id"], d["negativity"]) for d in lines50 if d["type"] == "turn"] == [
        (d["turn_id"], d["negativity"]) for d in turns]


def test_no_agent_emotion_never_scores_agents(capsys, monkeypatch):
    _require()
    from processors.emotion.model import EmotionModel

    scored = []
    original = EmotionModel.score_many

    def spy(self, audios):
        scored.extend(len(a) for a in audios)
        return original(self, audios)

    monkeypatch.setattr(EmotionModel, "score_many", spy)
    rc, lines, _ = _run(capsys, "--stereo", "--no-agent-emotion", str(DEMO / "upset_stereo.flac"))
    assert rc == 0
    turns = [d for d in lines if d["type"] == "turn"]
    agent = [d for d in turns if d["speaker"] == "agent"]
    customer = [d for d in turns if d["speaker"] == "customer"]
    assert agent and customer
    for d in agent:
        assert not {"emotion", "voice_upset", "emotion_label", "negativity", "confidence", "polarity"} & set(d)
    assert len(scored) == len({d["turn_id"] for d in customer})
    windows = [d for d in lines if d["type"] == "window"]
    assert any(w["agent_speech_s"] > 0 for w in windows)  # conversation metrics stay
    assert lines[-1]["agent_turns"] == len({d["turn_id"] for d in agent})


def test_transcript_words_reach_the_turns(capsys, tmp_path):
    _require()
    f = DEMO / "upset_stereo.flac"
    transcript = tmp_path / "t.json"
    transcript.write_text(json.dumps([
        {"speaker": "customer", "start": 8.8, "end": 10.2, "text": "This is ridiculous, you lost my bag again"},
        {"speaker": "customer", "start": 3.5, "end": 4.9, "text": "Hello, I am calling about my booking"},
        {"channel": 0, "start": 0.7, "end": 2.4, "text": "Thank you for calling, how can I help?"},
    ]))
    rc, lines, _ = _run(capsys, "--stereo", "--transcript", str(transcript), str(f))
    assert rc == 0
    turns = {d["turn_id"]: d for d in lines if d["type"] == "turn"}  # latest revision per turn
    angry = [d for d in turns.values() if d["speaker"] == "customer" and "ridiculous" in d["text"]]
    polite = [d for d in turns.values() if d["speaker"] == "customer" and "booking" in d["text"]]
    assert len(angry) == 1 and len(polite) == 1
    assert angry[0]["polarity"] < polite[0]["polarity"]
    assert any(d["speaker"] == "agent" and "Thank you" in d["text"] for d in turns.values())


def test_bad_file_is_reported_and_others_go_on(capsys, tmp_path):
    _require()
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    rc, lines, err = _run(capsys, "--no-windows", str(bad), str(DEMO / "calm_mono.flac"))
    assert rc == 1
    assert json.loads(err.strip().splitlines()[-1])["file"] == str(bad)
    assert [d["type"] for d in lines].count("summary") == 1
    assert all(d["type"] != "window" for d in lines)


def test_stereo_needs_two_channels(capsys):
    _require()
    rc, lines, err = _run(capsys, "--stereo", str(DEMO / "calm_mono.flac"))
    assert rc == 1 and lines == [] and "2-channel" in err
