"""Dataclass <-> Avro record <-> bytes round trips, and the ClickHouse rows of each dataclass."""

from __future__ import annotations

import numpy as np
import pytest

from processors.types import (
    Alert, AlertEvidence, AudioFrame, CallInfo, CallSummary, EmotionResult, FusedTurn, SpeechTurn,
    TranscriptSegment, WindowAggregate,
)
from schemas import codec
from streams import records as r

T0 = 1_763_760_000_000


def _through_bytes(name: str, rec: dict) -> dict:
    return codec.decode(name, codec.encode(name, rec))


def test_audio_frame_round_trip():
    f = AudioFrame("c1", 1, 7, T0, 8000, "alaw", b"\xd5" * 160)
    assert r.record_to_frame(_through_bytes("audio_frame", r.frame_to_record(f))) == f


def test_interleaved_stereo_frame_splits_into_the_per_channel_frames():
    """One v2 event with both channels (as Genesys AudioHook sends a stereo call) carries exactly the
    two per-channel frames, for 16-bit PCM and for 8-bit G.711."""
    rng = np.random.default_rng(0)
    for enc, rate, width in (("pcm_s16le", 16000, 2), ("mulaw", 8000, 1)):
        frames = [AudioFrame("c1", ch, 3, T0, rate, enc, rng.integers(0, 256, 160 * width, np.uint8).tobytes())
                  for ch in (0, 1)]
        rec = _through_bytes("audio_frame", r.interleaved_record(frames))
        assert rec["channels"] == 2 and len(rec["payload"]) == 2 * len(frames[0].payload)
        assert r.record_to_frames(rec) == frames
    one = AudioFrame("c1", 1, 7, T0, 8000, "alaw", b"\xd5" * 160)
    assert r.record_to_frames(_through_bytes("audio_frame", r.frame_to_record(one))) == [one]


@pytest.mark.parametrize("change, reason", [
    ({"channels": 3}, "1 or 2 interleaved channels"),
    ({"channel": 1}, "must start at channel 0"),
    ({"payload": b"\x00" * 6}, "not a whole number"),
    ({"encoding": "opus"}, "unknown audio encoding"),
])
def test_bad_interleaved_frames_are_schema_errors(change, reason):
    frames = [AudioFrame("c1", ch, 0, T0, 16000, "pcm_s16le", b"\x01\x00" * 4) for ch in (0, 1)]
    rec = {**r.interleaved_record(frames), **change}
    with pytest.raises(codec.SchemaError, match=reason):
        r.record_to_frames(_through_bytes("audio_frame", rec))


def test_old_per_channel_frames_read_as_one_channel():
    """An audio_frame v1 writer (before `channels`) is read as a single-channel frame."""
    f = AudioFrame("c1", 1, 7, T0, 8000, "alaw", b"\xd5" * 160)
    rec = {k: v for k, v in r.frame_to_record(f).items() if k != "channels"}
    data = codec.encode("audio_frame", rec, version=1)
    assert codec.decode("audio_frame", data)["channels"] == 1
    assert r.record_to_frames(codec.decode("audio_frame", data)) == [f]


def test_call_lifecycle_round_trip():
    info = CallInfo("c1", stereo=False, agent_channel=0, agent_id="a1", queue="q", language="fr",
                    agent_voiceprint=(0.5, -0.25, 0.125))
    rec = _through_bytes("call_event", r.call_started_record(info, T0))
    assert r.record_to_call_info(rec) == info
    ctx = r.record_to_call_context(rec)
    assert ctx.started_ms == T0 and ctx.call_id == "c1"
    ended = _through_bytes("call_event", r.call_ended_record("c1", T0 + 5000, reason="hangup"))
    assert (ended["kind"], ended["ts_ms"], ended["end_reason"]) == ("ended", T0 + 5000, "hangup")
    with pytest.raises(codec.SchemaError, match="carries no CallInfo"):
        r.record_to_call_info(ended)


def test_voiceprint_is_stored_as_32_bit_floats():
    vp = tuple(np.random.default_rng(0).standard_normal(256).tolist())
    info = CallInfo("c1", stereo=False, agent_voiceprint=vp)
    back = r.record_to_call_info(_through_bytes("call_event", r.call_started_record(info, T0))).agent_voiceprint
    np.testing.assert_allclose(back, vp, rtol=1e-6)


def test_speech_turn_audio_as_pcm16():
    audio = np.sin(np.linspace(0, 200, 16000)).astype(np.float32) * 0.9
    audio[0], audio[1] = 1.5, -2.0  # clipped
    turn = SpeechTurn("c1", "c1:1:00003", "customer", 1, 3.0, 4.0, audio, overlap=True)
    back = r.record_to_turn(_through_bytes("speech_turn", r.turn_to_record(turn)))
    assert (back.call_id, back.turn_id, back.speaker, back.channel, back.start_s, back.end_s, back.overlap) == \
        ("c1", "c1:1:00003", "customer", 1, 3.0, 4.0, True)
    assert back.audio.dtype == np.float32 and len(back.audio) == len(audio)
    assert back.audio[0] == 1.0 and back.audio[1] == -1.0
    assert np.max(np.abs(back.audio[2:] - audio[2:])) <= 0.5 / r.PCM16_SCALE + 1e-7


def test_speech_turn_other_sample_rate_is_refused():
    rec = r.turn_to_record(SpeechTurn("c", "t", "agent", 0, 0.0, 1.0, np.zeros(10, np.float32)))
    rec["sample_rate"] = 8000
    with pytest.raises(codec.SchemaError, match="8000 Hz"):
        r.record_to_turn(rec)


def test_emotion_scored_and_unscored():
    turn = SpeechTurn("c1", "c1:0:00001", "agent", 0, 1.0, 2.0, np.zeros(16000, np.float32))
    e = EmotionResult({"angry": 0.5, "neutral": 0.5}, 0.5, "angry", "ser-1")
    fields, back = r.record_to_emotion(_through_bytes("emotion_score", r.emotion_to_record("c1", turn, e)))
    assert back == e
    assert fields == r.TurnFields("c1", "c1:0:00001", "agent", 0, 1.0, 2.0, False)
    fields2, none = r.record_to_emotion(_through_bytes("emotion_score", r.emotion_to_record("c1", fields, None)))
    assert none is None and fields2 == fields


SAMPLES = [
    TranscriptSegment("c1", "s1", "customer", 1.0, 2.0, "why is this so hard", is_final=False),
    FusedTurn("c1", "c1:1:00000", "customer", 0.5, 2.0, 0.7, 0.6, 0.8, -0.4, "angry", "why", revision=3),
    FusedTurn("c1", "c1:0:00000", "agent", 0.0, 0.5, 0.1, 0.3, None, None, None, ""),
    WindowAggregate("c1", 5.0, 35.0, 4, 12.0, 0.5, 0.9, 0.4, 10.0, 0.45, 2, 3.5, True),
    Alert("c1", "c1:episode:1", 1, 40.0, "critical", 0.95, 3,
          (AlertEvidence("c1:1:00004", 30.0, 33.0, 0.9, "cancel"), AlertEvidence("c1:1:00005", 34.0, 36.0, 0.8, ""))),
    CallSummary("c1", 300.0, 40, 38, 120.0, 110.0, 0.3, 0.9, 0.2, 1, 2, "idle_timeout"),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_to_record_from_record_round_trip(obj):
    name = r.schema_name_of(obj)
    assert r.from_record(name, _through_bytes(name, r.to_record(obj))) == obj


def test_dead_letter_keeps_original_bytes():
    raw = b"\xff\x00not avro"
    rec = _through_bytes("dead_letter", r.dead_letter_record("callpulse.audio-frames", None, raw, "bad magic", T0, 2, 99))
    assert rec["value"] == raw and rec["key"] is None and (rec["partition"], rec["offset"]) == (2, 99)
    table, row = r.row_for(rec, now_ms=T0)
    assert table == "dead_letters" and row["value"] == raw and set(row) == set(r.TABLES["dead_letters"])


def test_rows_have_their_table_columns_and_call_context():
    ctx = r.CallContext(CallInfo("c1", True, agent_id="a1", queue="billing"), T0)
    expected = {FusedTurn: "turns", WindowAggregate: "windows", Alert: "alerts", CallSummary: "calls"}
    for obj in SAMPLES[1:]:
        table, row = r.row_for(obj, ctx, now_ms=T0 + 99_000)
        assert table == expected[type(obj)]
        assert tuple(row) == r.TABLES[table]
        if table != "calls":
            assert (row["agent_id"], row["queue"]) == ("a1", "billing")
    _, turn = r.row_for(SAMPLES[1], ctx, now_ms=T0 + 99_000, emotion_probs={"angry": 0.8})
    assert turn["event_time"] == T0 + 500  # call start + start_s (epoch ms), not ingest time
    assert turn["ingested_at"] == T0 + 99_000
    assert turn["emotion_probs"] == {"angry": 0.8}
    _, start = r.row_for(ctx, now_ms=T0)
    assert (start["started_at"], start["agent_id"], start["stereo"], start["ended_at"]) == (T0, "a1", 1, None)
    _, end = r.call_ended_row("c1", T0 + 60_000)
    assert end["ended_at"] == T0 + 60_000 and end["agent_id"] is None
    with pytest.raises(TypeError):
        r.row_for(object())
