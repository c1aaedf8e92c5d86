"""Transcript segments from a platform's ASR, read from JSON and normalised.

Input: JSON, either a list of segment objects or {"call_id": ..., "segments": [...]}; each segment:

    {"speaker": "customer" | "agent",   # or "channel": 0 | 1 (mapped with agent_channel)
     "start": 12.3, "end": 15.0,        # seconds since the call started (event time);
                                        # "start_s" / "end_s" are accepted as the same keys
     "text": "I want a refund",
     "is_final": true,                  # optional, default true; false = interim hypothesis
     "segment_id": "..."}               # optional; a deterministic id is made when absent

Output: `TranscriptSegment`s sorted by (start, end), with interim segments dropped where a final
segment of the same speaker covers the same time (the final supersedes them), and segments with no
text dropped. Any malformed segment raises `TranscriptError` naming the file and segment index;
nothing is silently skipped, so a bad file never yields a partial transcript.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from processors.types import AGENT, CUSTOMER, TranscriptSegment

SPEAKER_ALIASES: dict[str, str] = {
    "agent": AGENT, "rep": AGENT, "representative": AGENT, "operator": AGENT,
    "customer": CUSTOMER, "caller": CUSTOMER, "client": CUSTOMER,
}


class TranscriptError(ValueError):
    """The transcript JSON is unreadable or a segment is malformed."""


def _number(seg: dict, key: str, where: str) -> float:
    if key not in seg and f"{key}_s" in seg:
        key = f"{key}_s"
    value = seg.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TranscriptError(f"{where}: '{key}' must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise TranscriptError(f"{where}: '{key}' must be >= 0, got {value!r}")
    return float(value)


def _speaker(seg: dict, agent_channel: int, where: str) -> str:
    if "speaker" in seg and seg["speaker"] is not None:
        name = seg["speaker"]
        if not isinstance(name, str) or name.strip().lower() not in SPEAKER_ALIASES:
            raise TranscriptError(f"{where}: 'speaker' must be one of {sorted(SPEAKER_ALIASES)}, got {name!r}")
        return SPEAKER_ALIASES[name.strip().lower()]
    if "channel" in seg:
        ch = seg["channel"]
        if isinstance(ch, bool) or not isinstance(ch, int) or ch not in (0, 1):
            raise TranscriptError(f"{where}: 'channel' must be 0 or 1, got {ch!r}")
        return AGENT if ch == agent_channel else CUSTOMER
    raise TranscriptError(f"{where}: a segment needs 'speaker' (agent/customer) or 'channel' (0/1)")


def parse_segment(seg: Any, call_id: str, index: int, agent_channel: int = 0,
                  source: str = "transcript") -> TranscriptSegment:
    """One segment object -> `TranscriptSegment` (raises `TranscriptError` on anything malformed)."""
    where = f"{source}: segment {index}"
    if not isinstance(seg, dict):
        raise TranscriptError(f"{where}: expected an object, got {type(seg).__name__}")
    start, end = _number(seg, "start", where), _number(seg, "end", where)
    if end < start:
        raise TranscriptError(f"{where}: end {end} is before start {start}")
    text = seg.get("text")
    if not isinstance(text, str):
        raise TranscriptError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    is_final = seg.get("is_final", True)
    if not isinstance(is_final, bool):
        raise TranscriptError(f"{where}: 'is_final' must be true or false, got {is_final!r}")
    segment_id = seg.get("segment_id")
    if segment_id is not None and not isinstance(segment_id, str):
        raise TranscriptError(f"{where}: 'segment_id' must be a string, got {segment_id!r}")
    speaker = _speaker(seg, agent_channel, where)
    return TranscriptSegment(call_id=call_id, segment_id=segment_id or f"{call_id}:tx:{index:05d}",
                             speaker=speaker, start_s=start, end_s=end, text=" ".join(text.split()),
                             is_final=is_final)


def _overlaps(seg: TranscriptSegment, start_s: float, end_s: float) -> bool:
    if seg.end_s > seg.start_s:
        return seg.start_s < end_s and seg.end_s > start_s
    return start_s <= seg.start_s < end_s  # zero-length segment: a point in time


def normalize_segments(segments: Iterable[TranscriptSegment]) -> list[TranscriptSegment]:
    """Sort by time, drop empty texts and interim segments superseded by an overlapping final one."""
    kept = [s for s in segments if s.text.strip()]
    finals = [s for s in kept if s.is_final]
    out = [s for s in kept if s.is_final or not any(
        f.speaker == s.speaker and (_overlaps(f, s.start_s, s.end_s) or _overlaps(s, f.start_s, f.end_s))
        for f in finals)]
    return sorted(out, key=lambda s: (s.start_s, s.end_s, s.speaker))


def parse_transcript(obj: Any, call_id: str, agent_channel: int = 0,
                     source: str = "transcript") -> list[TranscriptSegment]:
    """Decoded JSON (list, or object with "segments") -> normalised segments."""
    if isinstance(obj, dict):
        if "segments" not in obj:
            raise TranscriptError(f"{source}: an object transcript needs a 'segments' list")
        declared = obj.get("call_id")
        if declared is not None and declared != call_id:
            raise TranscriptError(f"{source}: transcript is for call {declared!r}, not {call_id!r}")
        obj = obj["segments"]
    if not isinstance(obj, list):
        raise TranscriptError(f"{source}: expected a list of segments, got {type(obj).__name__}")
    if agent_channel not in (0, 1):
        raise TranscriptError(f"agent_channel must be 0 or 1, got {agent_channel!r}")
    segments = [parse_segment(seg, call_id, i, agent_channel, source) for i, seg in enumerate(obj)]
    ids = [s.segment_id for s in segments]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise TranscriptError(f"{source}: segment_id {dup!r} appears more than once")
    return normalize_segments(segments)


def load_transcript_json(path: str | Path, call_id: str, agent_channel: int = 0) -> list[TranscriptSegment]:
    """Read a `--transcript FILE.json` (format in this module's docstring)."""
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except OSError as exc:
        raise TranscriptError(f"cannot read transcript {path}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TranscriptError(f"{path} is not valid JSON: {exc}") from exc
    return parse_transcript(obj, call_id, agent_channel, source=str(path))


def segments_overlapping(segments: Sequence[TranscriptSegment], start_s: float, end_s: float,
                         speaker: str | None) -> list[TranscriptSegment]:
    """Segments of `speaker` (any speaker when None) that share time with [start_s, end_s)."""
    return [s for s in segments if (speaker is None or s.speaker == speaker) and _overlaps(s, start_s, end_s)]
