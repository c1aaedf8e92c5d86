"""CPU µs per event to encode/decode callpulse events (audio frames are the hot path).

Run: OMP_NUM_THREADS=1 python bench/bench_codec.py [--n 20000]
Writes bench/results/bench_codec.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from processors.types import AudioFrame, FusedTurn, SpeechTurn
from schemas import codec
from streams import records


def per_call_us(fn, n: int) -> float:
    """Best of 3 runs of CPU time per call (process CPU time: robust to other processes sharing
    the cores, unlike wall time)."""
    fn()
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t) / n * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cases = {
        "audio_frame 20 ms mulaw 8 kHz (160 B)": ("audio_frame", records.frame_to_record(
            AudioFrame("call-000123", 1, 4711, 1_763_760_000_000, 8000, "mulaw", rng.bytes(160)))),
        "audio_frame 20 ms pcm_s16le 16 kHz (640 B)": ("audio_frame", records.frame_to_record(
            AudioFrame("call-000123", 1, 4711, 1_763_760_000_000, 16000, "pcm_s16le", rng.bytes(640)))),
        "fused_turn": ("fused_turn", records.to_record(
            FusedTurn("call-000123", "call-000123:1:00042", "customer", 12.5, 15.25, 0.7, 0.6, 0.8, -0.4, "angry",
                      "I have been waiting for an hour", revision=1))),
        "speech_turn 3 s PCM16 (96 kB)": ("speech_turn", records.turn_to_record(
            SpeechTurn("call-000123", "call-000123:1:00042", "customer", 1, 12.5, 15.5,
                       (rng.standard_normal(48_000) * 0.1).astype(np.float32)))),
    }
    results = {}
    for label, (name, rec) in cases.items():
        data = codec.encode(name, rec)
        n = args.n if len(data) < 10_000 else max(args.n // 10, 100)
        enc = per_call_us(lambda: codec.encode(name, rec), n)
        dec = per_call_us(lambda: codec.decode(name, data), n)
        results[label] = {"schema": name, "bytes": len(data), "encode_us": round(enc, 2), "decode_us": round(dec, 2)}
        print(f"{label:45s} {len(data):6d} B  encode {enc:7.2f} µs  decode {dec:7.2f} µs")
    # The generic fastavro path for the same frame, for comparison with the hand-written fast path.
    import io

    from fastavro import schemaless_reader, schemaless_writer
    parsed = codec._REGISTRY.latest["audio_frame"].parsed
    rec = cases["audio_frame 20 ms mulaw 8 kHz (160 B)"][1]
    data = codec.encode("audio_frame", rec)

    def generic_encode():
        buf = io.BytesIO()
        buf.write(data[:codec.HEADER.size])
        schemaless_writer(buf, parsed, rec)
        return buf.getvalue()

    def generic_decode():
        buf = io.BytesIO(data)
        buf.seek(codec.HEADER.size)
        return schemaless_reader(buf, parsed)

    assert generic_encode() == data and generic_decode() == rec
    enc, dec = per_call_us(generic_encode, args.n), per_call_us(generic_decode, args.n)
    results["audio_frame 160 B via fastavro generic path"] = {"encode_us": round(enc, 2), "decode_us": round(dec, 2)}
    print(f"{'audio_frame 160 B, fastavro generic path':45s}         encode {enc:7.2f} µs  decode {dec:7.2f} µs")
    frame = AudioFrame("call-000123", 1, 4711, 1_763_760_000_000, 8000, "mulaw", rng.bytes(160))
    data = codec.encode("audio_frame", records.frame_to_record(frame))
    full = per_call_us(lambda: records.record_to_frame(codec.decode("audio_frame", data)), args.n)
    results["bytes -> AudioFrame (decode + record_to_frame)"] = {"us": round(full, 2)}
    print(f"{'bytes -> AudioFrame':45s}          total  {full:7.2f} µs")
    out = {"bench": "codec", "python": platform.python_version(), "cpu_count": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "results": results}
    path = Path(__file__).resolve().parent / "results" / "bench_codec.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
