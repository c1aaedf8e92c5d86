"""Emotion scoring speed: features + ONNX inference, CPU time per second of audio and single-turn latency.

    OMP_NUM_THREADS=1 python bench/bench_emotion.py [--model PATH] [--repeats 5]

Measures, with one onnxruntime intra-op thread:
- batch 32: CPU time (time.process_time) of features + inference per second of turn audio, on 32 real
  clips from ../shared/data/ser (falls back to synthetic voiced audio when the data is absent);
- one 3 s turn: wall-clock latency (median and p95 over repeats) and CPU time.
Writes bench/results/emotion.json. Targets: <= 2 ms CPU per audio second at batch 32, <= 10 ms latency.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processors.emotion.model import EmotionModel  # noqa: E402

SR = 16_000


def real_turns(n: int) -> tuple[list[np.ndarray], str]:
    data = Path(os.environ.get("CALLPULSE_DATA", REPO.parent / "shared" / "data")) / "ser"
    files = sorted(data.rglob("*.flac"))
    if len(files) < n:
        rng = np.random.default_rng(0)
        t = np.arange(3 * SR) / SR
        return [(0.1 * np.sin(2 * np.pi * (120 + 10 * i) * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32) for i in range(n)], "synthetic"
    from processors.audio.io import load_audio

    pick = np.random.default_rng(0).choice(len(files), size=n, replace=False)
    return [load_audio(files[i]).samples for i in sorted(pick)], "real clips from data/ser"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "emotion.json"))
    args = parser.parse_args()

    model = EmotionModel(args.model, intra_op_threads=1)
    turns, source = real_turns(32)
    audio_s = sum(len(t) for t in turns) / SR
    model.score(turns)  # warm-up

    cpu_feat, cpu_total = [], []
    for _ in range(args.repeats):
        c0 = time.process_time()
        inputs = [model.chunk_inputs(t)[0] for t in turns]
        c1 = time.process_time()
        model.probabilities([f for f, _ in inputs], [s for _, s in inputs] if model.uses_stats else None)
        c2 = time.process_time()
        cpu_feat.append(c1 - c0)
        cpu_total.append(c2 - c0)
    batch_ms_per_s = 1000 * min(cpu_total) / audio_s
    feat_ms_per_s = 1000 * min(cpu_feat) / audio_s

    three = np.tile(turns[0], 2)[: 3 * SR]
    lat, lat_cpu = [], []
    for _ in range(max(20, args.repeats * 10)):
        w0, c0 = time.perf_counter(), time.process_time()
        model.score([three])
        lat.append(time.perf_counter() - w0)
        lat_cpu.append(time.process_time() - c0)
    result = {
        "model": str(model.path.name),
        "model_version": model.version,
        "providers": model.providers,
        "intra_op_threads": 1,
        "source": source,
        "batch32": {
            "turns": len(turns),
            "audio_s": round(audio_s, 2),
            "cpu_ms_per_audio_s": round(batch_ms_per_s, 3),
            "features_cpu_ms_per_audio_s": round(feat_ms_per_s, 3),
            "inference_cpu_ms_per_audio_s": round(batch_ms_per_s - feat_ms_per_s, 3),
            "target_ms_per_audio_s": 2.0,
        },
        "single_3s_turn": {
            "latency_ms_median": round(1000 * float(np.median(lat)), 3),
            "latency_ms_p95": round(1000 * float(np.percentile(lat, 95)), 3),
            "cpu_ms_median": round(1000 * float(np.median(lat_cpu)), 3),
            "target_latency_ms": 10.0,
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
