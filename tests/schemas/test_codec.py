"""The codec: every schema round-trips, and bad bytes give SchemaError (never another exception)."""

from __future__ import annotations

import random
import struct

import pytest
from fastavro.utils import generate_many

from schemas import codec

SAMPLES: dict[str, dict] = {
    "audio_frame": {"call_id": "c1", "channel": 1, "seq": 42, "capture_ts_ms": 1_763_760_000_000,
                    "sample_rate": 8000, "encoding": "mulaw", "payload": bytes(range(160)), "channels": 1},
    "call_event": {"call_id": "c1", "kind": "started", "ts_ms": 1_763_760_000_000, "stereo": True,
                   "agent_channel": 1, "agent_id": "a7", "queue": "billing", "language": "de",
                   "agent_voiceprint": [0.5, -0.25], "end_reason": ""},
    "transcript_segment": {"call_id": "c1", "segment_id": "s1", "speaker": "customer", "start_s": 1.0,
                           "end_s": 2.5, "text": "this is not ok", "is_final": True},
    "speech_turn": {"call_id": "c1", "turn_id": "c1:1:00000", "speaker": "customer", "channel": 1,
                    "start_s": 0.5, "end_s": 1.5, "sample_rate": 16000, "audio_pcm16": b"\x01\x00" * 100,
                    "overlap": False},
    "emotion_score": {"call_id": "c1", "turn_id": "c1:1:00000", "speaker": "customer", "channel": 1,
                      "start_s": 0.5, "end_s": 1.5, "overlap": True, "probs": {"angry": 0.75, "neutral": 0.25},
                      "upset": 0.75, "label": "angry", "model_version": "ser-1"},
    "fused_turn": {"call_id": "c1", "turn_id": "c1:1:00000", "speaker": "customer", "start_s": 0.5,
                   "end_s": 1.5, "negativity": 0.8, "confidence": 0.6, "voice_upset": None, "polarity": -0.5,
                   "text": "no", "emotion_label": None, "revision": 2},
    "window_aggregate": {"call_id": "c1", "window_start_s": 0.0, "window_end_s": 30.0, "customer_turns": 3,
                         "customer_speech_s": 9.5, "mean_negativity": 0.5, "max_negativity": 0.9,
                         "upset_share": 0.4, "agent_speech_s": 8.0, "talk_ratio": 0.45, "interruptions": 1,
                         "longest_silence_s": 2.0, "upset": True},
    "escalation_alert": {"call_id": "c1", "alert_id": "c1:episode:0", "episode": 0, "at_s": 35.0,
                         "severity": "high", "score": 0.7, "windows": 2,
                         "evidence": [{"turn_id": "c1:1:00003", "start_s": 20.0, "end_s": 24.0,
                                       "negativity": 0.9, "text": "cancel it"}]},
    "call_summary": {"call_id": "c1", "duration_s": 300.0, "customer_turns": 40, "agent_turns": 38,
                     "customer_speech_s": 120.0, "agent_speech_s": 110.0, "mean_negativity": 0.3,
                     "max_negativity": 0.9, "upset_share": 0.2, "alerts": 1, "late_events_dropped": 0,
                     "end_reason": "ended"},
    "dead_letter": {"topic": "callpulse.audio-frames", "partition": 3, "offset": 1234, "key": b"c1",
                    "value": b"\x00garbage", "reason": "bad magic byte", "ts_ms": 1_763_760_000_000},
}


def test_samples_cover_every_schema():
    assert set(SAMPLES) == set(codec.SCHEMA_NAMES)


@pytest.mark.parametrize("name", codec.SCHEMA_NAMES)
def test_round_trip_and_header(name):
    data = codec.encode(name, SAMPLES[name])
    assert codec.decode(name, data) == SAMPLES[name]
    assert codec.peek(data) == (name, codec.schema_version(name))
    assert data[0] == codec.MAGIC
    assert codec.decode_any(data) == (name, SAMPLES[name])


@pytest.mark.parametrize("name", codec.SCHEMA_NAMES)
def test_random_records_round_trip(name):
    """fastavro-generated records of the latest schema (any value it allows, NaN and 32-bit floats
    included) decode to a record that encodes to the very same bytes."""
    for rec in generate_many(codec.schema_json(name), 50):
        data = codec.encode(name, rec)
        back = codec.decode(name, data)
        assert back.keys() == rec.keys()
        assert codec.encode(name, back) == data


def test_wrong_schema_name_is_refused():
    data = codec.encode("fused_turn", SAMPLES["fused_turn"])
    with pytest.raises(codec.SchemaError, match="expected a window_aggregate event, got fused_turn"):
        codec.decode("window_aggregate", data)


@pytest.mark.parametrize("data, reason", [
    (b"", "shorter than the 4-byte header"),
    (b"\xcb\x01", "shorter than the 4-byte header"),
    (b"{\"call_id\": 1}", "bad magic byte"),
    (struct.pack(">BBH", codec.MAGIC, 200, 1) + b"\x00", "unknown schema id 200"),
    (struct.pack(">BBH", codec.MAGIC, 1, 99) + b"\x00", "version 99 is unknown"),
])
def test_bad_headers(data, reason):
    with pytest.raises(codec.SchemaError, match=reason) as err:
        codec.decode("audio_frame", data)
    assert reason in err.value.reason


def test_truncated_and_trailing_bytes():
    data = codec.encode("audio_frame", SAMPLES["audio_frame"])
    for cut in range(codec.HEADER.size, len(data)):
        with pytest.raises(codec.SchemaError):
            codec.decode("audio_frame", data[:cut])
    with pytest.raises(codec.SchemaError, match="trailing bytes"):
        codec.decode("audio_frame", data + b"\x00")


def test_random_garbage_only_ever_raises_schema_error():
    rng = random.Random(7)
    good = codec.encode("escalation_alert", SAMPLES["escalation_alert"])
    for i in range(2000):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        data = good[: codec.HEADER.size] + body if i % 2 else bytes(rng.randrange(256) for _ in range(4)) + body
        try:
            codec.decode("escalation_alert", data)
        except codec.SchemaError:
            pass


@pytest.mark.parametrize("record", [
    {**SAMPLES["audio_frame"], "seq": "forty-two"},
    {k: v for k, v in SAMPLES["audio_frame"].items() if k != "payload"},
    {**SAMPLES["call_event"], "kind": "paused"},
])
def test_bad_records_cannot_be_encoded(record):
    name = "call_event" if "kind" in record else "audio_frame"
    with pytest.raises(codec.SchemaError, match=f"cannot encode {name}"):
        codec.encode(name, record)


def test_unknown_schema_name():
    with pytest.raises(codec.SchemaError, match="unknown schema"):
        codec.encode("nope", {})
    with pytest.raises(codec.SchemaError, match="unknown schema"):
        codec.schema_version("nope")


def _fastavro_frame(rec: dict) -> bytes:
    import io

    from fastavro import schemaless_writer
    buf = io.BytesIO()
    buf.write(codec._HEADERS["audio_frame"])
    schemaless_writer(buf, codec._REGISTRY.latest["audio_frame"].parsed, rec)
    return buf.getvalue()


def _fastavro_read_frame(data: bytes):
    import io

    from fastavro import schemaless_reader
    buf = io.BytesIO(data)
    buf.seek(codec.HEADER.size)
    try:
        rec = schemaless_reader(buf, codec._REGISTRY.latest["audio_frame"].parsed)
    except Exception:
        return None
    return rec if buf.tell() == len(data) else None


def test_audio_frame_fast_path_is_byte_identical_to_fastavro():
    assert codec._FAST_FRAME
    recs = list(generate_many(codec.schema_json("audio_frame"), 300))
    recs += [{**SAMPLES["audio_frame"], "seq": s, "capture_ts_ms": -s} for s in (0, 1, 63, 64, 8191, 8192, 2**31, 2**62)]
    for rec in recs:
        data = codec.encode("audio_frame", rec)
        assert data == _fastavro_frame(rec)
        assert codec.decode("audio_frame", data) == rec


def test_audio_frame_fast_decoder_agrees_with_fastavro_on_corrupt_bytes():
    """Differential fuzz: flip, cut and extend valid frames; the fast decoder returns what fastavro
    returns, or raises SchemaError where fastavro fails."""
    rng = random.Random(11)
    base = codec.encode("audio_frame", SAMPLES["audio_frame"])
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            if op == 0 and len(data) > codec.HEADER.size:
                data[rng.randrange(codec.HEADER.size, len(data))] = rng.randrange(256)
            elif op == 1:
                del data[rng.randrange(codec.HEADER.size, len(data) + 1):]
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
        want = _fastavro_read_frame(bytes(data))
        try:
            got = codec.decode("audio_frame", bytes(data))
        except codec.SchemaError:
            got = None
        if want is not None and got is None:
            # the fast path is stricter only about 32-bit int ranges
            assert not (-(2**31) <= want["channel"] < 2**31 and -(2**31) <= want["sample_rate"] < 2**31)
        else:
            assert got == want
