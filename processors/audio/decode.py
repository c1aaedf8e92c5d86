"""Turn a frame's payload bytes into float samples, and back (for replay and tests).

Input: payload bytes + encoding name ("pcm_s16le", "mulaw", "alaw").
Output: float32 samples in [-1, 1] at the frame's own sample rate, or `DecodeError`.

G.711 (mu-law / A-law) follows the ITU reference algorithm (the classic Sun g711.c), done with
256-entry decode tables and 65,536-entry encode tables built once with numpy, so decoding a frame
is one table look-up and never depends on the frame size.
"""

from __future__ import annotations

import numpy as np

ENCODINGS: tuple[str, ...] = ("pcm_s16le", "mulaw", "alaw")
SUPPORTED_RATES: tuple[int, ...] = (8000, 16000, 44100, 48000)
_ALIASES = {
    "pcm_s16le": "pcm_s16le", "pcm16": "pcm_s16le", "s16le": "pcm_s16le", "linear16": "pcm_s16le",
    "mulaw": "mulaw", "ulaw": "mulaw", "pcmu": "mulaw", "g711u": "mulaw",
    "alaw": "alaw", "pcma": "alaw", "g711a": "alaw",
}


class DecodeError(ValueError):
    """The payload cannot be decoded (unknown encoding, truncated sample)."""


def canonical_encoding(name: str) -> str:
    """Canonical encoding name, accepting common aliases (PCMU, ulaw, linear16...)."""
    if name in ENCODINGS:
        return name
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    for alias, canon in _ALIASES.items():
        if alias.replace("_", "") == key:
            return canon
    raise DecodeError(f"unknown audio encoding {name!r}; expected one of {', '.join(ENCODINGS)}")


def _ulaw_to_int16(u: np.ndarray) -> np.ndarray:
    u = (~u.astype(np.int32)) & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_to_int16(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the first segment end >= value (8 when beyond the last)."""
    return np.searchsorted(ends, value, side="left")


def _int16_to_ulaw(x: np.ndarray) -> np.ndarray:
    v = x.astype(np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + (0x84 >> 2)
    seg = _segment(v, np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]))
    uval = (np.minimum(seg, 7) << 4) | ((v >> (np.minimum(seg, 7) + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


def _int16_to_alaw(x: np.ndarray) -> np.ndarray:
    v = x.astype(np.int32) >> 3
    mask = np.where(v >= 0, 0xD5, 0x55)
    v = np.where(v >= 0, v, -v - 1)
    seg = _segment(v, np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]))
    s = np.minimum(seg, 7)
    aval = (s << 4) | np.where(s < 2, (v >> 1) & 0x0F, (v >> s) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


_ALL_BYTES = np.arange(256, dtype=np.uint8)
_ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
_DECODE_TABLES = {
    "mulaw": _ulaw_to_int16(_ALL_BYTES).astype(np.float32) / 32768.0,
    "alaw": _alaw_to_int16(_ALL_BYTES).astype(np.float32) / 32768.0,
}
_ENCODE_TABLES = {"mulaw": _int16_to_ulaw(_ALL_INT16), "alaw": _int16_to_alaw(_ALL_INT16)}


_FULL_SCALE_BYTES = {
    enc: [bytes([b]) for b in np.flatnonzero(np.abs(table) >= table.max())] for enc, table in _DECODE_TABLES.items()
}
"""G.711 codes of the largest magnitude (mu-law +-32124, A-law +-32256 of 32768)."""


def full_scale_count(payload: bytes, encoding: str) -> int:
    """Samples of a (valid) payload at the encoding's full scale: a clipping sign. PCM16: |v| >= 32767;
    G.711: the codes of the largest magnitude (counted on the bytes, no decoding)."""
    enc = canonical_encoding(encoding)
    if enc != "pcm_s16le":
        return sum(payload.count(code) for code in _FULL_SCALE_BYTES[enc])
    v = np.frombuffer(payload, dtype="<i2")
    if not len(v) or (v.max() < 32767 and v.min() > -32767):  # two reductions: the usual case
        return 0
    return int(np.count_nonzero(v >= 32767) + np.count_nonzero(v <= -32767))


def bytes_per_sample(encoding: str) -> int:
    return 2 if canonical_encoding(encoding) == "pcm_s16le" else 1


def decode_payload(payload: bytes, encoding: str) -> np.ndarray:
    """Payload bytes -> float32 samples in [-1, 1) at the payload's own rate."""
    enc = canonical_encoding(encoding)
    if enc == "pcm_s16le":
        if len(payload) % 2:
            raise DecodeError(
                f"pcm_s16le payload has an odd byte length ({len(payload)}): a sample is cut in half"
            )
        return np.multiply(np.frombuffer(payload, dtype="<i2"), np.float32(1 / 32768), dtype=np.float32)
    return _DECODE_TABLES[enc][np.frombuffer(payload, dtype=np.uint8)]


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Round (half to even) and saturate float samples in [-1, 1] to int16.

    float32 input is scaled in float32: multiplying by 2**15 is exact there, so the result is the
    same as in float64, at half the memory traffic (this runs on every piece of turn audio)."""
    x = np.asarray(x)
    y = x * np.float32(32768.0) if x.dtype == np.float32 else np.asarray(x, dtype=np.float64) * 32768.0
    np.rint(y, out=y)
    np.clip(y, -32768, 32767, out=y)
    return y.astype(np.int16)


def encode_samples(x: np.ndarray, encoding: str) -> bytes:
    """float32 samples in [-1, 1] -> payload bytes (the inverse of `decode_payload`)."""
    enc = canonical_encoding(encoding)
    pcm = float_to_int16(x)
    if enc == "pcm_s16le":
        return pcm.astype("<i2").tobytes()
    return _ENCODE_TABLES[enc][pcm.astype(np.int32) + 32768].tobytes()
