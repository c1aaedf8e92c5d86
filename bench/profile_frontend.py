"""Where the front end's CPU goes: exclusive process time per component (functions wrapped with
time.process_time, so the figures carry ~1 us of wrapper per call: small, frequent functions look
a little dearer than they are; the total is printed next to the unwrapped bench figure's scale).

One stereo call (bench_frontend's input: sample.flac x3 split by speaker; `--noise` adds cafe noise at
-50 dBFS to both sides), FrontEnd.push per frame; or `--calls N --batch B`: N calls through
FrontEndBatch in groups of B calls per run (bench_frontend's many-calls input).

    OMP_NUM_THREADS=1 python -m bench.profile_frontend [--encoding mulaw --rate 8000] [--frame-ms 100]
        [--noise] [--calls 100 --batch 100]      -> prints, writes bench/results/frontend_profile.json
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.bench_frontend import (
    DATA,
    REPO,
    many_calls_frames,
    run_calls,
    stereo_from_rttm,
)
from processors import frontend, turns, vad
from processors.audio import resample_stream, sequencing
from processors.audio.io import load_audio
from processors.types import CallInfo

_acc: collections.Counter = collections.Counter()
_stack: list[float] = []

COMPONENTS = [
    (ort.InferenceSession, "run", "VAD model (ONNX run)"),
    (vad, "_run_streamwise", "VAD python (gates, rows, states)"),
    (vad, "_run_vectorised", "VAD python (gates, rows, states)"),
    (frontend, "decode_payload", "decode"),
    (resample_stream.StreamResampler, "process", "resample"),
    (resample_stream.StreamResampler, "flush", "resample"),
    (frontend.FrontEnd, "_check_frame", "frame checks"),
    (sequencing.Sequencer, "push", "sequencer"),
    (frontend.FrontEnd, "_consume", "consume (clip count, buffering)"),
    (frontend.FrontEnd, "_feed", "windowing (feed)"),
    (frontend.FrontEnd, "vad_jobs", "VAD planning/dispatch"),
    (frontend.FrontEnd, "_after_jobs", "VAD planning/dispatch"),
    (frontend.FrontEnd, "_note_speech", "turns: overlap bookkeeping"),
    (turns.SpeechGate, "push", "turns: speech gate"),
    (turns.SpeechGate, "push_many", "turns: speech gate"),
    (turns.TurnAssembler, "add", "turns: assembler (int16)"),
    (frontend.FrontEnd, "_after_vad", "turns: denoiser/gate glue"),
    (frontend.FrontEnd, "_gate", "turns: denoiser/gate glue"),
    (frontend.FrontEnd, "_apply_events", "turns: denoiser/gate glue"),
    (frontend.FrontEnd, "_release", "turns: release + SpeechTurn"),
    (frontend.FrontEnd, "prepare", "push/prepare/complete/batch glue"),
    (frontend.FrontEnd, "complete", "push/prepare/complete/batch glue"),
    (frontend.FrontEnd, "push", "push/prepare/complete/batch glue"),
]


def _wrap(owner, name: str, label: str) -> None:
    fn = getattr(owner, name)

    def wrapped(*a, **k):
        t = time.process_time()
        _stack.append(0.0)
        try:
            return fn(*a, **k)
        finally:
            dt = time.process_time() - t
            child = _stack.pop()
            _acc[label] += dt - child
            if _stack:
                _stack[-1] += dt

    setattr(owner, name, wrapped)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoding", default="pcm_s16le")
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--frame-ms", type=float, default=100.0)
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("--calls", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0, help="with --calls: calls per FrontEndBatch run (0: push)")
    ap.add_argument("--seconds", type=float, default=10.0, help="with --calls: audio per call")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "frontend_profile.json")
    args = ap.parse_args(argv)
    for owner, name, label in COMPONENTS:
        _wrap(owner, name, label)
    from processors import frontend_batch

    frontend.run_vad_jobs = frontend_batch.run_vad_jobs = vad.run_vad_jobs
    if args.calls:
        steps = many_calls_frames(args.calls, args.seconds, args.frame_ms, args.encoding, args.rate)
        run_calls(steps[:10], args.calls, args.batch or None)
        _acc.clear()
        cpu, _ = run_calls(steps, args.calls, args.batch or None)
        audio_s = args.calls * len(steps) * args.frame_ms / 1000.0
        name = f"{args.calls}_calls_batch{args.batch or 'push'}_{args.encoding}_{args.rate}_{int(args.frame_ms)}ms"
    else:
        x = np.tile(stereo_from_rttm(load_audio(DATA / "sample.flac").samples), (1, 3))
        if args.noise:
            noise = load_audio(REPO.parent / "shared" / "data" / "noise" / "cafe_short.flac").samples
            noise = np.tile(noise, -(-x.shape[1] // len(noise)))[: x.shape[1]]
            x = (x + 10 ** (-50 / 20) * noise / np.sqrt(np.mean(noise ** 2))).astype(np.float32)
        frames = list(frontend.frames_from_clip("c", x, args.frame_ms, args.encoding, args.rate))
        best = None
        for rep in range(4):  # the first warms up; the least disturbed of the others is kept
            _acc.clear()
            fe = frontend.FrontEnd(CallInfo("c", stereo=True))
            t = time.process_time()
            for f in frames:
                fe.push(f)
            fe.flush()
            cpu = time.process_time() - t
            if rep and (best is None or cpu < best[0]):
                best = (cpu, dict(_acc), fe.stats.audio_s)
        cpu, parts, audio_s = best
        _acc.clear()
        _acc.update(parts)
        name = f"one_call_push_{args.encoding}_{args.rate}_{int(args.frame_ms)}ms{'_line_noise' if args.noise else ''}"
    print(f"{name}: {1000 * cpu / audio_s:.2f} ms CPU per stereo call-second (wrapped)")
    result = {"cpu_ms_per_call_s_wrapped": round(1000 * cpu / audio_s, 3), "components_ms_per_call_s": {}}
    for label, v in _acc.most_common():
        print(f"    {label:36} {1000 * v / audio_s:6.3f} ms/s  {100 * v / cpu:5.1f}%")
        result["components_ms_per_call_s"][label] = round(1000 * v / audio_s, 3)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    old[name] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(old, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
