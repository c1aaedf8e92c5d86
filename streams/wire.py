"""Control messages that travel in order with the data on the internal turns and scores topics.

A turn is delivered only when it ends, so downstream stages cannot know on their own that a call
started, that time moved on without anyone speaking (windows must still close), or that it ended.
The frames stage therefore sends, on the call's partition and in order with its turns:
  started  {call_event record}   the call's facts (agent id, queue, start time)
  progress {t}                   no turn still to come starts before t - the chain's allowed
                                 lateness (so windows ending by then may close); sent only when t
                                 passes the next point where a window can close (every step_s)
  ended    {t, reason}           the call is over at event time t; flush everything

Format: b"CPCTL1" + JSON. `schemas.codec` events start with the byte 0xCB, so a reader tells them
apart from the first bytes. Also here: the Kafka headers that carry per-call context to the sink.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import SchemaError, peek

CONTROL_PREFIX = b"CPCTL1"
STARTED, PROGRESS, ENDED = "started", "progress", "ended"
CTX_HEADER = "cp-ctx"
PROBS_HEADER = "cp-probs"


@dataclass(frozen=True)
class Control:
    kind: str
    call_id: str
    t: float = 0.0
    reason: str = ""
    call_event: dict[str, Any] | None = field(default=None)
    """kind=started: the call_event record (see streams.records.call_started_record)."""


def encode_control(c: Control) -> bytes:
    body = {"kind": c.kind, "call_id": c.call_id, "t": c.t, "reason": c.reason, "call_event": c.call_event}
    return CONTROL_PREFIX + json.dumps(body, separators=(",", ":")).encode()


def decode_control(data: bytes) -> Control:
    try:
        body = json.loads(bytes(data[len(CONTROL_PREFIX):]))
        c = Control(body["kind"], body["call_id"], float(body.get("t", 0.0)), body.get("reason", ""),
                    body.get("call_event"))
    except (ValueError, KeyError, TypeError) as exc:
        raise SchemaError(f"malformed control message: {exc}") from exc
    if c.kind not in (STARTED, PROGRESS, ENDED):
        raise SchemaError(f"unknown control kind {c.kind!r}")
    return c


def kind_of(data: bytes | None) -> str:
    """"control" or the codec schema name of a value; SchemaError when it is neither."""
    if data is None:
        raise SchemaError("empty value (tombstone) where an event was expected")
    if bytes(data[: len(CONTROL_PREFIX)]) == CONTROL_PREFIX:
        return "control"
    return peek(data)[0]


def headers_dict(headers: Any) -> dict[str, bytes]:
    """Faust/aiokafka headers (list of pairs or mapping) as a dict."""
    if not headers:
        return {}
    items = headers.items() if hasattr(headers, "items") else headers
    return {k: v for k, v in items}


def dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
