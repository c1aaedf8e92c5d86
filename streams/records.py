"""Stage dataclasses (processors/types.py) <-> Avro record dicts (schemas/avro) <-> ClickHouse rows.

Input: the dataclasses the processors hand each other, plus a `CallContext` (the call-started facts
the streaming layer keeps per call). Output: dicts for `schemas.codec.encode` and row dicts for
`streams.sinks.clickhouse.ClickHouseSink.add` (one table per row; see `row_for`).

Turn, window and alert rows carry the call's agent_id and queue (denormalised from the CallContext)
so the per-agent / per-queue roll-ups need no join; their `event_time` is the call's start wall time
plus the event-time offset, so the same event always lands on the same day whatever the ingest time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from processors.audio.decode import DecodeError, bytes_per_sample
from processors.types import (
    SAMPLE_RATE,
    Alert,
    AlertEvidence,
    AudioFrame,
    CallInfo,
    CallSummary,
    EmotionResult,
    FusedTurn,
    SpeechTurn,
    TranscriptSegment,
    WindowAggregate,
)
from schemas.codec import SchemaError

PCM16_SCALE = 32767.0


# ---------------------------------------------------------------- audio frames

def frame_to_record(f: AudioFrame) -> dict:
    return {
        "call_id": f.call_id,
        "channel": f.channel,
        "seq": f.seq,
        "capture_ts_ms": f.capture_ts_ms,
        "sample_rate": f.sample_rate,
        "encoding": f.encoding,
        "payload": f.payload,
        "channels": 1,
    }


def record_to_frame(r: dict) -> AudioFrame:
    return AudioFrame(r["call_id"], r["channel"], r["seq"], r["capture_ts_ms"], r["sample_rate"], r["encoding"], r["payload"])


MAX_INTERLEAVED_CHANNELS = 2


def _sample_width(encoding: str) -> int:
    try:
        return bytes_per_sample(encoding)
    except DecodeError as exc:
        raise SchemaError(f"audio_frame: {exc}") from None


def record_to_frames(r: dict) -> list[AudioFrame]:
    """The per-channel frames of an audio_frame record: itself when `channels` is 1 (v1 writers
    read the default 1), or the channels of an interleaved stereo event split apart (same seq and
    capture time). SchemaError for an interleaved event that cannot be split (nothing is used)."""
    n = r.get("channels", 1)
    if n == 1:
        return [record_to_frame(r)]
    if not 2 <= n <= MAX_INTERLEAVED_CHANNELS:
        raise SchemaError(f"audio_frame with channels={n}: 1 or 2 interleaved channels are supported")
    if r["channel"] != 0:
        raise SchemaError(f"interleaved audio_frame must start at channel 0, got channel {r['channel']}")
    width = _sample_width(r["encoding"])
    payload = r["payload"]
    if len(payload) % (width * n):
        raise SchemaError(f"interleaved audio_frame payload of {len(payload)} bytes is not a whole number of "
                          f"{n}-channel {r['encoding']} samples")
    samples = np.frombuffer(payload, dtype="<i2" if width == 2 else np.uint8).reshape(-1, n)
    return [AudioFrame(r["call_id"], c, r["seq"], r["capture_ts_ms"], r["sample_rate"], r["encoding"],
                       samples[:, c].tobytes()) for c in range(n)]


def interleaved_record(frames: list[AudioFrame]) -> dict:
    """One audio_frame record (v2, `channels` = len(frames)) carrying the frames of channels 0..n-1 of
    one time step, sample by sample: what a platform like Genesys AudioHook sends for a stereo call."""
    first = frames[0]
    width = _sample_width(first.encoding)
    if [f.channel for f in frames] != list(range(len(frames))) or any(
            (f.seq, f.sample_rate, f.encoding, len(f.payload)) != (first.seq, first.sample_rate, first.encoding,
                                                                   len(first.payload)) for f in frames):
        raise ValueError("interleaving needs channels 0..n-1 of one seq with the same rate, encoding and length")
    dtype = "<i2" if width == 2 else np.uint8
    payload = np.stack([np.frombuffer(f.payload, dtype=dtype) for f in frames], axis=1).tobytes()
    return {**frame_to_record(first), "payload": payload, "channels": len(frames)}


# ---------------------------------------------------------------- call lifecycle

@dataclass(frozen=True)
class CallContext:
    """What the streaming layer remembers about a call once it started: enough to stamp rows."""

    info: CallInfo
    started_ms: int
    """Wall time of the call-started event, ms since the Unix epoch."""

    @property
    def call_id(self) -> str:
        return self.info.call_id


def call_started_record(c: CallInfo, ts_ms: int) -> dict:
    return {
        "call_id": c.call_id,
        "kind": "started",
        "ts_ms": int(ts_ms),
        "stereo": bool(c.stereo),
        "agent_channel": int(c.agent_channel),
        "agent_id": c.agent_id,
        "queue": c.queue,
        "language": c.language,
        "agent_voiceprint": None if c.agent_voiceprint is None else [float(v) for v in c.agent_voiceprint],
        "end_reason": "",
    }


def call_ended_record(call_id: str, ts_ms: int, reason: str = "") -> dict:
    return {
        "call_id": call_id,
        "kind": "ended",
        "ts_ms": int(ts_ms),
        "stereo": None,
        "agent_channel": 0,
        "agent_id": "",
        "queue": "",
        "language": "",
        "agent_voiceprint": None,
        "end_reason": reason,
    }


def record_to_call_info(r: dict) -> CallInfo:
    """CallInfo of a call-started event; SchemaError for an ended event or a started one without `stereo`."""
    if r.get("kind") != "started":
        raise SchemaError(f"call_event of kind {r.get('kind')!r} carries no CallInfo")
    if r.get("stereo") is None:
        raise SchemaError(f"call_event started for {r.get('call_id')!r} lacks 'stereo'")
    vp = r.get("agent_voiceprint")
    return CallInfo(
        call_id=r["call_id"],
        stereo=bool(r["stereo"]),
        agent_channel=int(r.get("agent_channel", 0)),
        agent_id=r.get("agent_id", ""),
        queue=r.get("queue", ""),
        language=r.get("language") or "en",
        agent_voiceprint=None if vp is None else tuple(float(v) for v in vp),
    )


def record_to_call_context(r: dict) -> CallContext:
    """CallContext (CallInfo + start time) of a call-started event."""
    return CallContext(record_to_call_info(r), int(r["ts_ms"]))


# ---------------------------------------------------------------- speech turns and emotion

def audio_to_pcm16(audio: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> 16-bit little-endian PCM (clipped)."""
    a = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return np.rint(a * PCM16_SCALE).astype("<i2").tobytes()


def pcm16_to_audio(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise SchemaError(f"PCM16 audio has an odd number of bytes ({len(data)})")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(PCM16_SCALE)


def turn_to_record(t: SpeechTurn) -> dict:
    return {
        "call_id": t.call_id,
        "turn_id": t.turn_id,
        "speaker": t.speaker,
        "channel": int(t.channel),
        "start_s": float(t.start_s),
        "end_s": float(t.end_s),
        "sample_rate": SAMPLE_RATE,
        "audio_pcm16": audio_to_pcm16(t.audio),
        "overlap": bool(t.overlap),
    }


def record_to_turn(r: dict) -> SpeechTurn:
    if r.get("sample_rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise SchemaError(f"speech_turn {r.get('turn_id')!r} at {r['sample_rate']} Hz; turns are {SAMPLE_RATE} Hz")
    return SpeechTurn(
        call_id=r["call_id"],
        turn_id=r["turn_id"],
        speaker=r["speaker"],
        channel=r["channel"],
        start_s=r["start_s"],
        end_s=r["end_s"],
        audio=pcm16_to_audio(r["audio_pcm16"]),
        overlap=r.get("overlap", False),
    )


@dataclass(frozen=True)
class TurnFields:
    """A turn without its audio: what travels with its emotion score."""

    call_id: str
    turn_id: str
    speaker: str
    channel: int
    start_s: float
    end_s: float
    overlap: bool = False


def emotion_to_record(call_id: str, turn: SpeechTurn | TurnFields, e: EmotionResult | None) -> dict:
    """`e` None: the turn was not scored (agent side with emotion scoring off)."""
    return {
        "call_id": call_id,
        "turn_id": turn.turn_id,
        "speaker": turn.speaker,
        "channel": int(turn.channel),
        "start_s": float(turn.start_s),
        "end_s": float(turn.end_s),
        "overlap": bool(turn.overlap),
        "probs": {} if e is None else {k: float(v) for k, v in e.probs.items()},
        "upset": None if e is None else float(e.upset),
        "label": None if e is None else e.label,
        "model_version": "" if e is None else e.model_version,
    }


def record_to_emotion(r: dict) -> tuple[TurnFields, EmotionResult | None]:
    fields = TurnFields(r["call_id"], r["turn_id"], r["speaker"], r["channel"], r["start_s"], r["end_s"], r.get("overlap", False))
    if r.get("upset") is None:
        return fields, None
    return fields, EmotionResult(dict(r["probs"]), r["upset"], r.get("label") or "", r.get("model_version", ""))


# ---------------------------------------------------------------- generic dataclasses

_SCHEMA_OF: dict[type, str] = {
    TranscriptSegment: "transcript_segment",
    FusedTurn: "fused_turn",
    WindowAggregate: "window_aggregate",
    Alert: "escalation_alert",
    CallSummary: "call_summary",
}


def schema_name_of(obj: Any) -> str:
    """Avro schema name for a TranscriptSegment, FusedTurn, WindowAggregate, Alert or CallSummary."""
    try:
        return _SCHEMA_OF[type(obj)]
    except KeyError:
        raise TypeError(f"no Avro schema for {type(obj).__name__}") from None


def to_record(obj: Any) -> dict:
    """Avro record dict of a TranscriptSegment, FusedTurn, WindowAggregate, Alert or CallSummary."""
    schema_name_of(obj)
    if isinstance(obj, Alert):
        rec = _fields(obj)
        rec["evidence"] = [_fields(ev) for ev in obj.evidence]
        return rec
    return _fields(obj)


def from_record(name: str, rec: dict) -> Any:
    """Inverse of `to_record` for schema `name`."""
    if name == "escalation_alert":
        r = dict(rec)
        r["evidence"] = tuple(AlertEvidence(**ev) for ev in r.get("evidence", ()))
        return Alert(**r)
    cls = {v: k for k, v in _SCHEMA_OF.items()}.get(name)
    if cls is None:
        raise SchemaError(f"no dataclass for schema {name!r}")
    return cls(**rec)


def _fields(obj: Any) -> dict:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def dead_letter_record(
    topic: str, key: bytes | None, value: bytes, reason: str, ts_ms: int,
    partition: int | None = None, offset: int | None = None,
) -> dict:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None if key is None else bytes(key),
        "value": bytes(value) if value is not None else b"",
        "reason": reason,
        "ts_ms": int(ts_ms),
    }


# ---------------------------------------------------------------- ClickHouse rows

TABLES: dict[str, tuple[str, ...]] = {
    "calls": (
        "call_id", "started_at", "ended_at", "agent_id", "queue", "stereo", "language",
        "duration_s", "customer_turns", "agent_turns", "customer_speech_s", "agent_speech_s",
        "mean_negativity", "max_negativity", "upset_share", "alerts", "late_events_dropped",
        "end_reason", "updated_at",
    ),
    "turns": (
        "call_id", "turn_id", "revision", "speaker", "start_s", "end_s", "negativity", "confidence",
        "voice_upset", "polarity", "emotion_label", "emotion_probs", "text", "agent_id", "queue",
        "event_time", "ingested_at",
    ),
    "windows": (
        "call_id", "window_start_s", "window_end_s", "customer_turns", "customer_speech_s",
        "mean_negativity", "max_negativity", "upset_share", "agent_speech_s", "talk_ratio",
        "interruptions", "longest_silence_s", "upset", "agent_id", "queue", "event_time", "ingested_at",
    ),
    "alerts": (
        "call_id", "alert_id", "episode", "at_s", "severity", "score", "windows", "evidence",
        "agent_id", "queue", "event_time", "ingested_at",
    ),
    "dead_letters": ("topic", "partition", "offset", "key", "value", "reason", "ts", "ingested_at"),
}
"""Columns each row dict of `row_for` carries, per table (database `callpulse`)."""


def ms_to_datetime(ms: float) -> datetime:
    """Epoch ms -> aware UTC datetime (row times are epoch ms; this is for display and tests)."""
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _event_time(ctx: CallContext | None, offset_s: float, now_ms: int) -> int:
    """Call start + event-time offset (epoch ms); the ingest time when the call's start is unknown."""
    if ctx is None or not math.isfinite(offset_s):
        return now_ms
    return ctx.started_ms + round(offset_s * 1000.0)


def row_for(obj: Any, ctx: CallContext | None = None, *, now_ms: int | None = None,
            emotion_probs: dict[str, float] | None = None) -> tuple[str, dict]:
    """(table, row) for a FusedTurn, WindowAggregate, Alert, CallSummary, CallContext (call started)
    or dead-letter record dict. `ctx` stamps agent_id, queue and event times; `emotion_probs` adds the
    emotion model's probabilities to a turn row. Times in rows are epoch milliseconds (the ticks of
    the DateTime64(3) columns: much cheaper to build and insert than datetime objects)."""
    now = _now_ms() if now_ms is None else int(now_ms)
    ingested = now
    agent_id, queue = (ctx.info.agent_id, ctx.info.queue) if ctx is not None else ("", "")
    if isinstance(obj, FusedTurn):
        return "turns", {
            "call_id": obj.call_id,
            "turn_id": obj.turn_id,
            "revision": int(obj.revision),
            "speaker": obj.speaker,
            "start_s": float(obj.start_s),
            "end_s": float(obj.end_s),
            "negativity": float(obj.negativity),
            "confidence": float(obj.confidence),
            "voice_upset": None if obj.voice_upset is None else float(obj.voice_upset),
            "polarity": None if obj.polarity is None else float(obj.polarity),
            "emotion_label": obj.emotion_label or "",
            "emotion_probs": {k: float(v) for k, v in emotion_probs.items()} if emotion_probs else {},
            "text": obj.text,
            "agent_id": agent_id,
            "queue": queue,
            "event_time": _event_time(ctx, obj.start_s, now),
            "ingested_at": ingested,
        }
    if isinstance(obj, WindowAggregate):
        row = {k: getattr(obj, k) for k in TABLES["windows"][:13]}
        row.update(agent_id=agent_id, queue=queue, event_time=_event_time(ctx, obj.window_start_s, now), ingested_at=ingested)
        return "windows", row
    if isinstance(obj, Alert):
        return "alerts", {
            "call_id": obj.call_id,
            "alert_id": obj.alert_id,
            "episode": int(obj.episode),
            "at_s": float(obj.at_s),
            "severity": obj.severity,
            "score": float(obj.score),
            "windows": int(obj.windows),
            "evidence": [(ev.turn_id, float(ev.start_s), float(ev.end_s), float(ev.negativity), ev.text) for ev in obj.evidence],
            "agent_id": agent_id,
            "queue": queue,
            "event_time": _event_time(ctx, obj.at_s, now),
            "ingested_at": ingested,
        }
    if isinstance(obj, CallContext):
        row = _empty_call_row(obj.call_id, ingested)
        info = obj.info
        row.update(started_at=obj.started_ms, agent_id=info.agent_id, queue=info.queue,
                   stereo=int(info.stereo), language=info.language)
        return "calls", row
    if isinstance(obj, CallSummary):
        row = _empty_call_row(obj.call_id, ingested)
        for k in ("duration_s", "customer_turns", "agent_turns", "customer_speech_s", "agent_speech_s",
                  "mean_negativity", "max_negativity", "upset_share", "alerts", "late_events_dropped", "end_reason"):
            row[k] = getattr(obj, k)
        if ctx is not None:
            row.update(started_at=ctx.started_ms, agent_id=ctx.info.agent_id, queue=ctx.info.queue,
                       stereo=int(ctx.info.stereo), language=ctx.info.language,
                       ended_at=ctx.started_ms + round(obj.duration_s * 1000.0))
        return "calls", row
    if isinstance(obj, dict) and {"topic", "value", "reason", "ts_ms"} <= obj.keys():
        return "dead_letters", {
            "topic": obj["topic"],
            "partition": obj.get("partition"),
            "offset": obj.get("offset"),
            "key": obj.get("key"),
            "value": obj["value"],
            "reason": obj["reason"],
            "ts": int(obj["ts_ms"]),
            "ingested_at": ingested,
        }
    raise TypeError(f"no ClickHouse table for {type(obj).__name__}")


def call_ended_row(call_id: str, ts_ms: int, *, now_ms: int | None = None, reason: str = "") -> tuple[str, dict]:
    """calls row for a call-ended lifecycle event (sets ended_at only; other columns stay as merged)."""
    row = _empty_call_row(call_id, _now_ms() if now_ms is None else int(now_ms))
    row["ended_at"] = int(ts_ms)
    if reason:
        row["end_reason"] = reason
    return "calls", row


def _empty_call_row(call_id: str, updated_at: int) -> dict:
    """A calls row where every fact is NULL: `calls` is an AggregatingMergeTree whose
    SimpleAggregateFunction columns ignore NULLs, so partial rows merge into one per call."""
    row: dict[str, Any] = dict.fromkeys(TABLES["calls"])
    row["call_id"] = call_id
    row["updated_at"] = updated_at
    return row
