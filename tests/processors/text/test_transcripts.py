"""Transcript JSON: the --transcript format, normalisation, and clear errors on malformed input."""

from __future__ import annotations

import json

import pytest

from processors.text.transcripts import (TranscriptError, load_transcript_json, parse_transcript,
                                         segments_overlapping)
from processors.types import AGENT, CUSTOMER


def write(tmp_path, obj, name="t.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


SEGMENTS = [
    {"speaker": "customer", "start": 4.0, "end": 6.5, "text": "I want a refund.", "is_final": True},
    {"speaker": "agent", "start": 0.0, "end": 3.0, "text": "Thank you for calling, how can I help?"},
    {"channel": 1, "start": 7.0, "end": 9.0, "text": "This is the  third time\tI call."},
]


def test_list_format_sorted_mapped_and_identified(tmp_path):
    segs = load_transcript_json(write(tmp_path, SEGMENTS), "call-1")
    assert [s.start_s for s in segs] == [0.0, 4.0, 7.0]
    assert [s.speaker for s in segs] == [AGENT, CUSTOMER, CUSTOMER]  # channel 1 != agent_channel 0
    assert segs[2].text == "This is the third time I call."
    assert all(s.call_id == "call-1" and s.is_final for s in segs)
    assert len({s.segment_id for s in segs}) == 3
    assert load_transcript_json(write(tmp_path, SEGMENTS), "call-1") == segs  # deterministic ids


def test_object_format_and_agent_channel(tmp_path):
    path = write(tmp_path, {"call_id": "call-2", "segments": [{"channel": 1, "start": 1, "end": 2, "text": "hi"},
                                                               {"channel": 0, "start": 2, "end": 3, "text": "yo"}]})
    segs = load_transcript_json(path, "call-2", agent_channel=1)
    assert [s.speaker for s in segs] == [AGENT, CUSTOMER]
    with pytest.raises(TranscriptError, match="not 'other'"):
        load_transcript_json(path, "other")


def test_start_s_end_s_keys_are_accepted():
    segs = parse_transcript([{"speaker": "customer", "start_s": 1.5, "end_s": 2.5, "text": "hello"}], "c")
    assert (segs[0].start_s, segs[0].end_s) == (1.5, 2.5)


def test_interim_superseded_by_overlapping_final_and_empty_text_dropped():
    segs = parse_transcript([
        {"speaker": "customer", "start": 1.0, "end": 2.0, "text": "I want a ref", "is_final": False},
        {"speaker": "customer", "start": 1.0, "end": 3.0, "text": "I want a refund", "is_final": True},
        {"speaker": "agent", "start": 1.5, "end": 2.5, "text": "sure", "is_final": False},
        {"speaker": "customer", "start": 5.0, "end": 6.0, "text": "still typ", "is_final": False},
        {"speaker": "agent", "start": 7.0, "end": 8.0, "text": "   "},
    ], "c")
    assert [(s.speaker, s.text, s.is_final) for s in segs] == [
        (CUSTOMER, "I want a refund", True), (AGENT, "sure", False), (CUSTOMER, "still typ", False)]


@pytest.mark.parametrize("segment, message", [
    ({"speaker": "customer", "start": 1, "end": 2}, "'text' must be a string"),
    ({"speaker": "customer", "start": 3, "end": 2, "text": "x"}, "before start"),
    ({"speaker": "customer", "start": -1, "end": 2, "text": "x"}, ">= 0"),
    ({"speaker": "customer", "start": "1", "end": 2, "text": "x"}, "finite number"),
    ({"speaker": "customer", "start": True, "end": 2, "text": "x"}, "finite number"),
    ({"speaker": "customer", "start": float("nan"), "end": 2, "text": "x"}, "finite number"),
    ({"speaker": "boss", "start": 1, "end": 2, "text": "x"}, "'speaker' must be one of"),
    ({"channel": 2, "start": 1, "end": 2, "text": "x"}, "'channel' must be 0 or 1"),
    ({"start": 1, "end": 2, "text": "x"}, "needs 'speaker'"),
    ({"speaker": "agent", "start": 1, "end": 2, "text": "x", "is_final": "yes"}, "'is_final'"),
    ("just text", "expected an object"),
])
def test_malformed_segment_names_file_and_index(tmp_path, segment, message):
    path = write(tmp_path, [SEGMENTS[0], segment])
    with pytest.raises(TranscriptError, match=message) as err:
        load_transcript_json(path, "c")
    assert str(path) in str(err.value) and "segment 1" in str(err.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(TranscriptError, match="cannot read"):
        load_transcript_json(tmp_path / "missing.json", "c")
    with pytest.raises(TranscriptError, match="not valid JSON"):
        load_transcript_json(write(tmp_path, "[{\"start\": 1,"), "c")
    with pytest.raises(TranscriptError, match="expected a list"):
        load_transcript_json(write(tmp_path, "42"), "c")
    with pytest.raises(TranscriptError, match="'segments' list"):
        load_transcript_json(write(tmp_path, {"call_id": "c"}), "c")
    dup = [dict(SEGMENTS[0], segment_id="a"), dict(SEGMENTS[1], segment_id="a")]
    with pytest.raises(TranscriptError, match="more than once"):
        load_transcript_json(write(tmp_path, dup), "c")
    assert load_transcript_json(write(tmp_path, []), "c") == []


def test_segments_overlapping():
    segs = parse_transcript(SEGMENTS + [{"speaker": "customer", "start": 10.0, "end": 10.0, "text": "ok"}], "c")
    customer = lambda a, b: [s.text for s in segments_overlapping(segs, a, b, CUSTOMER)]  # noqa: E731
    assert customer(5.0, 7.5) == ["I want a refund.", "This is the third time I call."]
    assert customer(6.5, 7.0) == []  # touching ends do not overlap
    assert customer(0.0, 3.0) == []
    assert customer(9.5, 10.5) == ["ok"]  # a zero-length segment counts where it sits
    assert [s.speaker for s in segments_overlapping(segs, 0.0, 5.0, None)] == [AGENT, CUSTOMER]
