"""The one place callpulse events are encoded to and decoded from bytes (Avro via fastavro).

Input: a schema name from SCHEMA_NAMES and an Avro record dict (see `streams/records.py` for the
dataclass <-> dict mapping). Output: bytes = a 4-byte header then the schemaless Avro body.

Header (big-endian): magic byte 0xCB, schema id (1 byte, fixed per name, never reused),
writer version (2 bytes). A reader therefore always knows which writer schema produced the body and
resolves it to its own latest schema (Avro schema resolution: added fields take their defaults,
removed fields are skipped). Rules for changing schemas: `schemas/EVOLUTION.md`.

Schemas live in `schemas/avro/`: `<name>.avsc` is the latest version, `<name>.vN.avsc` the older
ones still readable. Each file states `callpulse_schema`, `callpulse_schema_id` and
`callpulse_version`.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

SCHEMA_NAMES: tuple[str, ...] = (
    "audio_frame",
    "call_event",
    "transcript_segment",
    "speech_turn",
    "emotion_score",
    "fused_turn",
    "window_aggregate",
    "escalation_alert",
    "call_summary",
    "dead_letter",
)

MAGIC = 0xCB
HEADER = struct.Struct(">BBH")
"""magic, schema id, writer version."""
AVRO_DIR = Path(__file__).resolve().parent / "avro"


class SchemaError(ValueError):
    """Bytes that cannot be decoded (or a record that cannot be encoded) under a known schema."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    schema_id: int
    version: int
    path: Path
    parsed: Any
    """fastavro-parsed schema."""


@dataclass(frozen=True)
class _Registry:
    latest: dict[str, SchemaVersion]
    by_id: dict[tuple[int, int], SchemaVersion]
    """(schema id, version) -> writer schema."""
    id_of: dict[str, int]


def _load_registry(avro_dir: Path = AVRO_DIR) -> _Registry:
    """Read every .avsc once; check ids, names and versions are consistent."""
    versions: dict[str, dict[int, SchemaVersion]] = {}
    latest: dict[str, SchemaVersion] = {}
    for path in sorted(avro_dir.glob("*.avsc")):
        raw = json.loads(path.read_text())
        name, schema_id, version = raw["callpulse_schema"], raw["callpulse_schema_id"], raw["callpulse_version"]
        stem = path.name[: -len(".avsc")]
        if name not in SCHEMA_NAMES:
            raise RuntimeError(f"{path}: unknown schema name {name!r}")
        if stem not in (name, f"{name}.v{version}"):
            raise RuntimeError(f"{path}: file name does not match schema {name!r} version {version}")
        sv = SchemaVersion(name, schema_id, version, path, parse_schema(raw, _write_hint=False))
        if version in versions.setdefault(name, {}):
            raise RuntimeError(f"{path}: version {version} of {name} defined twice")
        versions[name][version] = sv
        if stem == name:
            latest[name] = sv
    missing = [n for n in SCHEMA_NAMES if n not in latest]
    if missing:
        raise RuntimeError(f"no latest .avsc for {missing} in {avro_dir}")
    by_id: dict[tuple[int, int], SchemaVersion] = {}
    id_of: dict[str, int] = {}
    for name, vs in versions.items():
        ids = {sv.schema_id for sv in vs.values()}
        if len(ids) != 1:
            raise RuntimeError(f"{name}: schema id differs between versions: {sorted(ids)}")
        if max(vs) != latest[name].version:
            raise RuntimeError(f"{name}: {name}.avsc must hold the highest version ({max(vs)})")
        id_of[name] = ids.pop()
        for sv in vs.values():
            by_id[(sv.schema_id, sv.version)] = sv
    if len(set(id_of.values())) != len(id_of):
        raise RuntimeError(f"schema ids must be unique: {id_of}")
    return _Registry(latest, by_id, id_of)


_REGISTRY = _load_registry()
_HEADERS = {name: HEADER.pack(MAGIC, _REGISTRY.id_of[name], sv.version) for name, sv in _REGISTRY.latest.items()}
_NAME_OF_ID = {schema_id: name for name, schema_id in _REGISTRY.id_of.items()}


def schema_version(name: str) -> int:
    """Latest version of a schema (the one `encode` writes)."""
    return _latest(name).version


def schema_id(name: str) -> int:
    """The fixed id of a schema in the event header."""
    return _REGISTRY.id_of[_latest(name).name]


def schema_versions(name: str) -> list[int]:
    """Every version of a schema this build can read, oldest first."""
    wanted = schema_id(name)
    return sorted(v for (sid, v) in _REGISTRY.by_id if sid == wanted)


def schema_json(name: str, version: int | None = None) -> dict:
    """The .avsc of a schema version as a dict (e.g. to publish to a registry or a doc)."""
    sv = _latest(name) if version is None else _writer(_REGISTRY.id_of[_latest(name).name], version)
    return json.loads(sv.path.read_text())


def encode(name: str, record: dict, *, version: int | None = None) -> bytes:
    """Header + schemaless Avro body, under the latest version (or an older `version`, for tests
    and for producers that have not upgraded yet)."""
    if name == "audio_frame" and _FAST_FRAME and version is None:
        return _encode_frame(record)
    if version is None:
        header, sv = _HEADERS.get(name), _REGISTRY.latest.get(name)
        if sv is None:
            raise SchemaError(f"unknown schema {name!r}")
    else:
        sv = _writer(_REGISTRY.id_of[_latest(name).name], version)
        header = HEADER.pack(MAGIC, sv.schema_id, version)
    buf = io.BytesIO()
    buf.write(header)
    try:
        schemaless_writer(buf, sv.parsed, record)
    except Exception as exc:  # fastavro raises ValueError, TypeError, AttributeError, KeyError...
        raise SchemaError(f"cannot encode {name} v{sv.version}: {type(exc).__name__}: {exc}") from exc
    return buf.getvalue()


def peek(data: bytes) -> tuple[str, int]:
    """(schema name, writer version) of encoded bytes, without decoding the body."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SchemaError(f"expected bytes, got {type(data).__name__}")
    if len(data) < HEADER.size:
        raise SchemaError(f"{len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, schema_id, version = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SchemaError(f"bad magic byte 0x{magic:02x} (expected 0x{MAGIC:02x}): not a callpulse event")
    name = _NAME_OF_ID.get(schema_id)
    if name is None:
        raise SchemaError(f"unknown schema id {schema_id}")
    if (schema_id, version) not in _REGISTRY.by_id:
        raise SchemaError(f"{name} version {version} is unknown to this reader (knows {schema_versions(name)})")
    return name, version


def decode(name: str, data: bytes) -> dict:
    """The record in `data`, resolved from its writer's version to the latest version of `name`."""
    found, version = peek(data)
    if found != name:
        raise SchemaError(f"expected a {name} event, got {found} v{version}")
    return _decode_body(found, version, data)


def decode_any(data: bytes) -> tuple[str, dict]:
    """(schema name, record) of any callpulse event (dead-letter inspection, debugging)."""
    name, version = peek(data)
    return name, _decode_body(name, version, data)


def _decode_body(name: str, version: int, data: bytes) -> dict:
    if name == "audio_frame" and _FAST_FRAME and version == _REGISTRY.latest[name].version:
        return _decode_frame(data)
    reader = _REGISTRY.latest[name]
    writer = reader if version == reader.version else _REGISTRY.by_id[(reader.schema_id, version)]
    buf = io.BytesIO(data)
    buf.seek(HEADER.size)
    try:
        record = schemaless_reader(buf, writer.parsed, None if writer is reader else reader.parsed)
    except Exception as exc:  # truncated body, bad utf-8, bad union index, failed resolution...
        raise SchemaError(f"malformed {name} v{version} body: {type(exc).__name__}: {exc}") from exc
    if buf.tell() != len(data):
        raise SchemaError(f"{len(data) - buf.tell()} trailing bytes after the {name} v{version} body")
    return record


def _latest(name: str) -> SchemaVersion:
    sv = _REGISTRY.latest.get(name)
    if sv is None:
        raise SchemaError(f"unknown schema {name!r}")
    return sv


def _writer(schema_id: int, version: int) -> SchemaVersion:
    sv = _REGISTRY.by_id.get((schema_id, version))
    if sv is None:
        raise SchemaError(f"{_NAME_OF_ID.get(schema_id, schema_id)} version {version} is unknown")
    return sv


# ---------------------------------------------------------------- audio-frame fast path
# Audio frames are ~50 events per second per channel of every call, so they get a hand-written
# encoder/decoder of exactly the Avro binary encoding (zig-zag varints, length-prefixed strings
# and bytes), ~3x faster than fastavro's generic path. It is used only while the latest
# audio_frame schema has exactly the field layout below; tests check it is byte-identical to
# fastavro on random records.

_FRAME_LAYOUT = (("call_id", "string"), ("channel", "int"), ("seq", "long"), ("capture_ts_ms", "long"),
                 ("sample_rate", "int"), ("encoding", "string"), ("payload", "bytes"), ("channels", "int"))
_FAST_FRAME = tuple((f["name"], f["type"]) for f in schema_json("audio_frame")["fields"]) == _FRAME_LAYOUT
_FRAME_HEADER = _HEADERS["audio_frame"]
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _put_varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _put_long(v: int, bounds: tuple[int, int], out: bytearray, field: str) -> None:
    if not isinstance(v, int):
        raise SchemaError(f"cannot encode audio_frame: {field} must be an int, got {type(v).__name__}")
    if not bounds[0] <= v <= bounds[1]:
        raise SchemaError(f"cannot encode audio_frame: {field}={v} out of range")
    _put_varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF, out)


def _encode_frame(r: dict) -> bytes:
    try:
        call_id, encoding, payload = r["call_id"], r["encoding"], r["payload"]
        ints = (r["channel"], r["seq"], r["capture_ts_ms"], r["sample_rate"], r.get("channels", 1))
    except (KeyError, TypeError) as exc:
        raise SchemaError(f"cannot encode audio_frame: missing field {exc}") from exc
    if not isinstance(call_id, str) or not isinstance(encoding, str):
        raise SchemaError("cannot encode audio_frame: call_id and encoding must be str")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise SchemaError(f"cannot encode audio_frame: payload must be bytes, got {type(payload).__name__}")
    out = bytearray(_FRAME_HEADER)
    cid = call_id.encode()
    _put_varint(len(cid) << 1, out)
    out += cid
    _put_long(ints[0], _INT32, out, "channel")
    _put_long(ints[1], _INT64, out, "seq")
    _put_long(ints[2], _INT64, out, "capture_ts_ms")
    _put_long(ints[3], _INT32, out, "sample_rate")
    enc = encoding.encode()
    _put_varint(len(enc) << 1, out)
    out += enc
    _put_varint(len(payload) << 1, out)
    out += payload
    _put_long(ints[4], _INT32, out, "channels")
    return bytes(out)


def _get_long(data: bytes, i: int) -> tuple[int, int]:
    b = data[i]
    i += 1
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), i
    n, shift = b & 0x7F, 7
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), i
        shift += 7
        if shift > 63:
            raise SchemaError("malformed audio_frame body: varint longer than 10 bytes")


def _get_bytes(data: bytes, i: int) -> tuple[bytes, int]:
    n, i = _get_long(data, i)
    if n < 0 or i + n > len(data):
        raise SchemaError(f"malformed audio_frame body: length {n} at byte {i} of {len(data)}")
    return data[i:i + n], i + n


def _decode_frame(data: bytes) -> dict:
    data = bytes(data)
    try:
        cid, i = _get_bytes(data, HEADER.size)
        channel, i = _get_long(data, i)
        seq, i = _get_long(data, i)
        ts, i = _get_long(data, i)
        rate, i = _get_long(data, i)
        enc, i = _get_bytes(data, i)
        payload, i = _get_bytes(data, i)
        channels, i = _get_long(data, i)
        record = {"call_id": cid.decode(), "channel": channel, "seq": seq, "capture_ts_ms": ts,
                  "sample_rate": rate, "encoding": enc.decode(), "payload": payload, "channels": channels}
    except IndexError:
        raise SchemaError("malformed audio_frame body: truncated") from None
    except UnicodeDecodeError as exc:
        raise SchemaError(f"malformed audio_frame body: {exc}") from None
    if i != len(data):
        raise SchemaError(f"{len(data) - i} trailing bytes after the audio_frame body")
    if not all(_INT32[0] <= v <= _INT32[1] for v in (channel, rate, channels)):
        raise SchemaError("malformed audio_frame body: int field out of range")
    return record
