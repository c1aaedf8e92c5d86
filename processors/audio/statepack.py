"""Compact, pickle-free serialisation of per-call state: nested dicts/lists of JSON scalars and
numpy arrays -> bytes (a JSON header, then the raw array buffers), and back.

Why not pickle: state travels through Kafka changelogs between workers; unpickling bytes from a
topic would execute code. Why not np.savez: a zip per call is ~10x larger for small states.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

_MAGIC = b"CPS1"


class StateError(ValueError):
    """The bytes are not a state written by `pack_state` (or are corrupted)."""


def pack_state(tree: object) -> bytes:
    arrays: list[bytes] = []

    def encode(node: object) -> object:
        if isinstance(node, np.ndarray):
            arr = np.ascontiguousarray(node)
            arrays.append(arr.tobytes())
            return {"__nd__": len(arrays) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if isinstance(node, dict):
            return {str(k): encode(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [encode(v) for v in node]
        if isinstance(node, np.generic):
            return node.item()
        return node

    header = zlib.compress(json.dumps(encode(tree), separators=(",", ":")).encode(), 6)
    sizes = struct.pack(f"<I{len(arrays)}I", len(arrays), *[len(a) for a in arrays])
    return _MAGIC + struct.pack("<I", len(header)) + header + sizes + b"".join(arrays)


def unpack_state(data: bytes) -> object:
    try:
        if data[:4] != _MAGIC:
            raise StateError("not a callpulse state (bad magic)")
        (hlen,) = struct.unpack_from("<I", data, 4)
        tree = json.loads(zlib.decompress(data[8:8 + hlen]))
        pos = 8 + hlen
        (count,) = struct.unpack_from("<I", data, pos)
        sizes = struct.unpack_from(f"<{count}I", data, pos + 4)
        pos += 4 + 4 * count
        buffers = []
        for size in sizes:
            buffers.append(data[pos:pos + size])
            pos += size
    except StateError:
        raise
    except Exception as exc:
        raise StateError(f"corrupted state: {exc}") from exc

    def decode(node: object) -> object:
        if isinstance(node, dict):
            if "__nd__" in node:
                arr = np.frombuffer(buffers[node["__nd__"]], dtype=np.dtype(node["dtype"]))
                return arr.reshape(node["shape"]).copy()
            return {k: decode(v) for k, v in node.items()}
        if isinstance(node, list):
            return [decode(v) for v in node]
        return node

    return decode(tree)
