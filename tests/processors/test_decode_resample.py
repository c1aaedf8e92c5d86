"""Decoding (PCM16, G.711) and the streaming resampler: exact, chunk-invariant, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from processors.audio.decode import (
    DecodeError,
    canonical_encoding,
    decode_payload,
    encode_samples,
    float_to_int16,
    full_scale_count,
)
from processors.audio.resample_stream import StreamResampler
from processors.audio.statepack import StateError, pack_state, unpack_state


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # removed in Python 3.13; a reference implementation of G.711 where present
        except ImportError:
            return None
    return audioop


def test_g711_matches_reference_codec():
    audioop = _audioop()
    if audioop is None:
        pytest.skip("audioop (reference G.711) not available on this Python")
    pcm = np.arange(-32768, 32768, 7, dtype=np.int32).astype("<i2").tobytes()
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    assert encode_samples(x, "mulaw") == audioop.lin2ulaw(pcm, 2)
    assert encode_samples(x, "alaw") == audioop.lin2alaw(pcm, 2)
    codes = bytes(range(256))
    for enc, ref in (("mulaw", audioop.ulaw2lin), ("alaw", audioop.alaw2lin)):
        expected = np.frombuffer(ref(codes, 2), "<i2").astype(np.float32) / 32768.0
        assert np.array_equal(decode_payload(codes, enc), expected)


def test_pcm_roundtrip_and_errors():
    x = np.array([0.0, 0.5, -0.5, 0.999, -1.0], np.float32)
    assert np.allclose(decode_payload(encode_samples(x, "pcm_s16le"), "pcm_s16le"), x, atol=1 / 32768)
    with pytest.raises(DecodeError, match="odd byte length"):
        decode_payload(b"\x00\x01\x02", "pcm_s16le")
    with pytest.raises(DecodeError, match="unknown audio encoding"):
        decode_payload(b"\x00\x01", "opus")
    assert canonical_encoding("PCMU") == "mulaw" and canonical_encoding("G711A") == "alaw"


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_resampler_is_chunk_invariant_and_accurate(rate):
    rng = np.random.default_rng(rate)
    n = rate * 2
    t = np.arange(n) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)
    whole = StreamResampler(rate)
    y_whole = np.concatenate([whole.process(x), whole.flush()])
    pieces, pos = [], 0
    chunked = StreamResampler(rate)
    while pos < n:
        step = int(rng.integers(1, 3000))
        pieces.append(chunked.process(x[pos:pos + step]))
        # state survives a round trip through bytes mid-stream
        chunked = StreamResampler.from_state(unpack_state(pack_state(chunked.to_state())))
        pos += step
    pieces.append(chunked.flush())
    y_chunked = np.concatenate(pieces)
    assert len(y_whole) == 32000
    assert np.array_equal(y_whole, y_chunked)
    t16 = np.arange(32000) / 16000
    err = y_whole[400:-400] - 0.5 * np.sin(2 * np.pi * 440 * t16[400:-400])
    assert np.sqrt(np.mean(err ** 2)) < 0.02  # the added noise is 0.01 RMS before filtering


def test_state_pack_rejects_garbage():
    with pytest.raises(StateError):
        unpack_state(b"not a state")
    tree = {"a": np.arange(5, dtype=np.int16), "b": [1, 2.5, None, "x"], "c": {"d": np.zeros((2, 3), np.float32)}}
    back = unpack_state(pack_state(tree))
    assert np.array_equal(back["a"], tree["a"]) and back["a"].dtype == np.int16
    assert back["b"] == [1, 2.5, None, "x"] and back["c"]["d"].shape == (2, 3)


def test_full_scale_count_and_float_to_int16_match_the_decoded_definitions():
    """Clipping is counted on the payload (no decoding) and float->int16 runs in float32: both must
    equal the plain definitions on the decoded floats, full-scale codes included."""
    level = {"pcm_s16le": 32767 / 32768.0, "mulaw": 32124 / 32768.0, "alaw": 32256 / 32768.0}
    rng = np.random.default_rng(4)
    for enc, lv in level.items():
        width = 2 if enc == "pcm_s16le" else 1
        for trial in range(60):
            raw = rng.integers(0, 256, int(rng.integers(0, 300)) * width, dtype=np.uint8)
            if enc == "pcm_s16le" and trial % 2:
                v = raw.view("<i2").copy()
                v[rng.integers(0, max(1, len(v)), 4)] = rng.choice([32767, -32768, -32767, 32766], 4)
                raw = v.view(np.uint8)
            payload = raw.tobytes()
            x = decode_payload(payload, enc)
            assert full_scale_count(payload, enc) == np.count_nonzero(np.abs(x) >= lv)
            y = (x * rng.uniform(0.5, 1.1)).astype(np.float32)
            ref = np.clip(np.round(y.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
            assert np.array_equal(float_to_int16(y), ref)
