"""Which denoiser (if any) should the front end use? Measured, not assumed.

1. SI-SDR improvement: real speech from data/ser mixed with cafe, fish and babble (4 clips of
   other speakers summed) noise at 0, 5 and 10 dB SNR; each denoiser runs through the streaming
   `Denoiser` interface fed with the silero VAD probabilities, exactly as inside the front end.
   Also: SI-SDR of the output for clean input (how much a denoiser damages clean speech), CPU cost.
2. Emotion accuracy on noisy speech with and without each denoiser. Honest version: the
   speaker-held-out fold models `build/folds/fold{k}.onnx` (+ folds.json naming the held-out
   speakers), each scoring only its held-out speakers' clips. Without them, the shipped model
   (which has heard these clips in training: optimistic) and the report says so.

    python -m bench.bench_denoise [--clips-per-fold 28] [--sisdr-clips 40]
    -> prints the tables, writes bench/results/denoise.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from processors.audio.io import load_audio
from processors.denoise import make_denoiser
from processors.vad import VAD_WINDOW, VadState, speech_probs

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DENOISERS = ("off", "spectral_gate", "dtln")
NOISES = ("cafe", "fish", "babble")
SNRS = (0, 5, 10)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    scale = np.dot(estimate, reference) / (np.dot(reference, reference) + 1e-12)
    target = scale * reference
    error = estimate - target
    return float(10 * np.log10((np.dot(target, target) + 1e-12) / (np.dot(error, error) + 1e-12)))


def vad_probs(audio: np.ndarray) -> np.ndarray:
    padded = np.concatenate([audio, np.zeros(-len(audio) % VAD_WINDOW, np.float32)]).astype(np.float32)
    return speech_probs(padded.reshape(-1, VAD_WINDOW), VadState())


def denoise(name: str, audio: np.ndarray, probs: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Run one denoiser as the front end does (VAD probs, 512-sample blocks); output aligned."""
    n = len(audio)
    padded = np.concatenate([audio, np.zeros(-n % VAD_WINDOW, np.float32)]).astype(np.float32)
    blocks = padded.reshape(-1, VAD_WINDOW)
    if probs is None:
        probs = speech_probs(blocks, VadState())
    d = make_denoiser(name)
    t0 = time.process_time()
    out = np.concatenate([d.process(blocks, probs), d.flush()])
    cpu = time.process_time() - t0
    return out[d.latency:d.latency + n], cpu


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    if len(noise) < len(clean):
        noise = np.tile(noise, -(-len(clean) // len(noise)))
    start = int(rng.integers(0, len(noise) - len(clean) + 1))
    seg = noise[start:start + len(clean)]
    gain = np.sqrt(np.mean(clean ** 2) / (np.mean(seg ** 2) + 1e-12) / 10 ** (snr_db / 10))
    out = clean + gain * seg
    peak = np.abs(out).max()
    return (out / peak * 0.99 if peak > 0.99 else out).astype(np.float32)


def list_clips():
    from models.emotion.corpora import list_clips as corpora_list

    return corpora_list(DATA / "ser")


def babble_for(clip, pool, rng, length: int, talkers: int = 4) -> np.ndarray:
    others = [c for c in pool if c.speaker_key != clip.speaker_key]
    picks = rng.choice(len(others), size=talkers, replace=False)
    out = np.zeros(length, np.float32)
    for i in picks:
        x = load_audio(others[int(i)].path).samples
        x = np.tile(x, -(-length // len(x)))[:length]
        out += x / (np.sqrt(np.mean(x ** 2)) + 1e-9)
    return out / talkers


def load_noises() -> dict[str, np.ndarray]:
    return {"cafe": load_audio(DATA / "noise" / "cafe_short.flac").samples,
            "fish": load_audio(DATA / "noise" / "fish.flac").samples}


def conditions():
    yield (None, None)
    for noise in NOISES:
        for snr in SNRS:
            yield (noise, snr)


def sisdr_table(clips, n_clips: int, denoisers, rng) -> dict:
    noises = load_noises()
    english = [c for c in clips if c.corpus in ("ravdess", "savee")]
    chosen = [english[int(i)] for i in rng.choice(len(english), size=min(n_clips, len(english)), replace=False)]
    table: dict = defaultdict(lambda: defaultdict(list))
    cpu: dict = defaultdict(float)
    audio_s = 0.0
    for clip in chosen:
        clean = load_audio(clip.path).samples
        babble = babble_for(clip, english, rng, len(clean))
        for noise, snr in conditions():
            noisy = clean if noise is None else mix(clean, babble if noise == "babble" else noises[noise], snr, rng)
            base = si_sdr(clean, noisy)
            probs = vad_probs(noisy)
            for name in denoisers:
                out, t = denoise(name, noisy, probs)
                cpu[name] += t
                key = "clean" if noise is None else f"{noise}@{snr}"
                table[name][key].append(si_sdr(clean, out) - (0.0 if noise is None else base))
            if noise is None:
                audio_s += len(clean) / 16000
    result = {name: {k: float(np.mean(v)) for k, v in conds.items()} for name, conds in table.items()}
    for name in result:
        result[name]["cpu_ms_per_s"] = 1000 * cpu[name] / (audio_s * 10)  # 10 conditions per clip
    return {"clips": len(chosen), "si_sdr_improvement_db": result,
            "note": "'clean' is the output SI-SDR for clean input (higher = less damage); others are improvements"}


def read_folds(folder: Path) -> list[tuple[Path, set[str]]]:
    """[(model path, held-out speaker keys)] from build/folds (lenient about folds.json's layout);
    the model may not exist yet (audio can be prepared before the fold models are trained)."""
    spec = json.loads((folder / "folds.json").read_text())
    entries = spec.get("folds", spec) if isinstance(spec, dict) else spec
    if isinstance(entries, dict):
        entries = [entries[k] for k in sorted(entries)]
    out = []
    for k, entry in enumerate(entries):
        if isinstance(entry, dict):
            speakers = next((v for key, v in entry.items() if "speaker" in key or "held" in key or "test" in key), [])
            k = int(entry.get("fold", k))
            model = Path(entry["model"]) if "model" in entry else folder / f"fold{k}.onnx"
        else:
            speakers, model = entry, folder / f"fold{k}.onnx"
        if not model.is_absolute():
            model = folder / model.name
        out.append((model, {str(s) for s in speakers}))
    return out


def _conditions_audio(clip, pool, noises, denoisers, cache: Path | None) -> dict:
    """Every (denoiser, condition) version of one clip; cached as .npz when `cache` is given.
    Mixing is seeded by the clip's name, so cached and fresh runs give the same audio."""
    name = f"{clip.speaker_key.replace(':', '_')}_{clip.path.stem}.npz"
    if cache is not None and (cache / name).exists():
        with np.load(cache / name) as z:
            stored = {tuple(k.split("|")): z[k] for k in z.files}
        if all((d, c) in stored for d in denoisers for c in ["clean"] + [f"{n}@{s}" for n in NOISES for s in SNRS]):
            return stored
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    clean = load_audio(clip.path).samples
    babble = babble_for(clip, pool, rng, len(clean))
    audios: dict = {}
    for noise, snr in conditions():
        noisy = clean if noise is None else mix(clean, babble if noise == "babble" else noises[noise], snr, rng)
        key = "clean" if noise is None else f"{noise}@{snr}"
        probs = vad_probs(noisy)
        for d in denoisers:
            audios[(d, key)] = noisy if d == "off" else denoise(d, noisy, probs)[0]
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / name, **{"|".join(k): v.astype(np.float32) for k, v in audios.items()})
    return audios


def emotion_table(clips, per_fold: int, denoisers, cache: Path | None = None, prepare_only: bool = False) -> dict:
    from processors.types import EMOTION_LABELS

    noises = load_noises()
    folds_dir = REPO / "build" / "folds"
    folds = read_folds(folds_dir) if (folds_dir / "folds.json").exists() else []
    honest = bool(folds) and (prepare_only or all(m.exists() for m, _ in folds))
    if folds and not honest:
        missing = [str(m) for m, _ in folds if not m.exists()]
        print(f"fold models missing ({', '.join(missing)}): scoring with the shipped model instead", file=sys.stderr)
    if folds and not honest:  # same held-out clips, scored by the shipped model
        folds = [(None, held) for _, held in folds]
    if not folds:
        folds = [(None, {c.speaker_key for c in clips})]
    correct: dict = defaultdict(lambda: defaultdict(list))
    per_class: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    paired: dict = defaultdict(lambda: [0, 0])
    """denoiser -> [right where 'off' was wrong, wrong where 'off' was right] over noisy conditions."""
    scored = 0
    pool = [c for c in clips if c.corpus in ("ravdess", "savee", "emodb")]
    for fold_no, (model_path, held) in enumerate(folds):
        mine = [c for c in clips if c.speaker_key in held or c.speaker in held]
        if not mine:
            continue
        rng = np.random.default_rng(1000 + fold_no)
        by_label = defaultdict(list)  # stratified by label so every class is present
        for c in mine:
            by_label[c.label].append(c)
        take = []
        quota = max(1, per_fold // max(1, len(by_label)))
        for label in sorted(by_label):
            group = by_label[label]
            idx = rng.choice(len(group), size=min(quota, len(group)), replace=False)
            take.extend(group[int(i)] for i in sorted(idx))
        model = None
        if not prepare_only:
            from processors.emotion.model import EmotionModel

            model = EmotionModel(model_path)
        for clip in take:
            audios = _conditions_audio(clip, pool, noises, denoisers, cache)
            if model is None:
                continue
            keys = [(d, k) for d in denoisers for k in ["clean"] + [f"{n}@{s}" for n in NOISES for s in SNRS]]
            results = model.score([audios[k] for k in keys])
            verdict = {}
            for (d, key), res in zip(keys, results):
                ok = res.label == clip.label
                verdict[(d, key)] = ok
                correct[d][key].append(ok)
                per_class[d][key][clip.label].append(ok)
            for (d, key), ok in verdict.items():
                if d != "off" and key != "clean" and ok != verdict[("off", key)]:
                    paired[d][0 if ok else 1] += 1
            scored += 1
    acc = {n: {k: float(np.mean(v)) for k, v in conds.items()} for n, conds in correct.items()}
    ua = {n: {k: float(np.mean([np.mean(v) for v in cls.values()])) for k, cls in conds.items()}
          for n, conds in per_class.items()}
    for table in (acc, ua):
        for name in table:
            noisy_keys = [k for k in table[name] if k != "clean"]
            table[name]["noisy_mean"] = float(np.mean([table[name][k] for k in noisy_keys]))
    from scipy.stats import binomtest

    versus_off = {d: {"better": b, "worse": w,
                      "mcnemar_p": float(binomtest(b, b + w, 0.5).pvalue) if b + w else 1.0}
                  for d, (b, w) in paired.items()}
    return {"honest_speaker_held_out": honest, "folds": len(folds), "clips": scored,
            "accuracy": acc, "unweighted_accuracy": ua,
            "versus_off_noisy": versus_off,
            "model": "build/folds/fold{k}.onnx, each on its held-out speakers" if honest else
            "shipped models/emotion/emotion.onnx on clips it was trained on (optimistic: fold models not found)",
            "labels": list(EMOTION_LABELS)}


def print_table(title: str, table: dict, fmt: str) -> None:
    keys = ["clean"] + [f"{n}@{s}" for n in NOISES for s in SNRS] + [k for k in ("noisy_mean", "cpu_ms_per_s") if any(k in v for v in table.values())]
    print(f"\n{title}")
    print(f"{'denoiser':15}" + "".join(f"{k:>13}" for k in keys))
    for name, row in table.items():
        print(f"{name:15}" + "".join(f"{fmt.format(row[k]) if k in row else '-':>13}" for k in keys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sisdr-clips", type=int, default=40)
    parser.add_argument("--clips-per-fold", type=int, default=28)
    parser.add_argument("--denoisers", nargs="*", default=list(DENOISERS))
    parser.add_argument("--skip-emotion", action="store_true")
    parser.add_argument("--sisdr-from", type=Path, help="reuse the SI-SDR table of an earlier run's JSON")
    parser.add_argument("--cache", type=Path, default=REPO / "build" / "denoise_cache",
                        help="noisy/denoised audio per clip (build/ is not committed)")
    parser.add_argument("--prepare-only", action="store_true", help="only make the noisy/denoised audio (no model needed)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "denoise.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    clips = list_clips()
    if args.sisdr_from is not None:
        result = {"sisdr": json.loads(args.sisdr_from.read_text())["sisdr"]}
    else:
        result = {"sisdr": sisdr_table(clips, args.sisdr_clips, args.denoisers, rng)}
    print_table(f"SI-SDR improvement, dB ({result['sisdr']['clips']} clips; 'clean' = output SI-SDR on clean input)",
                result["sisdr"]["si_sdr_improvement_db"], "{:+.1f}")
    if not args.skip_emotion:
        result["emotion"] = emotion_table(clips, args.clips_per_fold, args.denoisers, args.cache, args.prepare_only)
        if args.prepare_only:
            print(f"prepared audio in {args.cache}")
            return 0
        e = result["emotion"]
        print(f"\nEmotion model: {e['model']}; {e['clips']} clips, {e['folds']} folds")
        print_table("7-class accuracy", e["accuracy"], "{:.3f}")
        print_table("7-class unweighted accuracy (mean recall)", e["unweighted_accuracy"], "{:.3f}")
        print("\nPaired with 'off' on the noisy conditions (clip x condition decisions that differ):")
        for d, v in e["versus_off_noisy"].items():
            print(f"  {d:15} right where off was wrong {v['better']:4d}, wrong where off was right {v['worse']:4d}, "
                  f"McNemar exact p = {v['mcnemar_p']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
