"""Leave-speakers-out evaluation of the emotion recipe, clean and over a telephone channel.

    python -m models.emotion.evaluate --data ../shared/data/ser --out build/folds [--epochs 40]

For each fold: train on every speaker not in it (models.emotion.train, same recipe as the shipped
model), export `build/folds/fold{k}.onnx`, then score the held-out clips through the runtime path
(processors.emotion.model.EmotionModel) twice: as recorded, and degraded to telephone quality
(cafe noise at 10 dB SNR from the held-out part of the recording, 300-3400 Hz, 8 kHz, mu-law).
Writes build/folds/folds.json (held-out `corpus:speaker` keys and model path per fold, for the other
evaluations), build/folds/predictions.jsonl, build/folds/eval.json and build/folds/eval.md.

Folds (speaker-disjoint, gender-balanced where the corpus allows):
  0: RAVDESS 01 04 09 12 17, SAVEE DC, EmoDB 03 08 16
  1: RAVDESS 02 03 10 11 18, SAVEE JE, EmoDB 09 10 14
  2: RAVDESS 05 08 13 16,    SAVEE JK, EmoDB 11 13
  3: RAVDESS 06 07 14 15,              EmoDB 12 15
  4: TESS OAF (a single speaker: its own fold)
Speakers of other corpora/manifests are dealt round-robin over folds 0-3.

Metrics per corpus: UA7 (mean per-class recall over the classes present), UA4 (clips labelled angry,
happy, neutral or sad; prediction = argmax over those four probabilities), upset macro-F1 (label in
{angry, disgust, fear, sad} vs the rest; predicted upset = P(upset) >= 0.5), and confusion matrices.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from models.emotion.augment import load_noise, telephone_degrade
from models.emotion.corpora import Clip
from models.emotion.train import (
    REPO_ROOT,
    TrainConfig,
    add_head_arguments,
    feature_cache,
    gather_clips,
    head_from_args,
    train_and_export,
)
from processors.types import EMOTION_LABELS, NEGATIVE_EMOTIONS

log = logging.getLogger("models.emotion.evaluate")

FIXED_FOLDS: list[list[str]] = [
    ["ravdess:01", "ravdess:04", "ravdess:09", "ravdess:12", "ravdess:17", "savee:DC", "emodb:03", "emodb:08", "emodb:16"],
    ["ravdess:02", "ravdess:03", "ravdess:10", "ravdess:11", "ravdess:18", "savee:JE", "emodb:09", "emodb:10", "emodb:14"],
    ["ravdess:05", "ravdess:08", "ravdess:13", "ravdess:16", "savee:JK", "emodb:11", "emodb:13"],
    ["ravdess:06", "ravdess:07", "ravdess:14", "ravdess:15", "emodb:12", "emodb:15"],
    ["tess:OAF", "tess:YAF"],
]
FOUR = ("angry", "happy", "neutral", "sad")
ENGLISH = ("ravdess", "savee", "tess")
CONDITIONS = ("clean", "telephone")


def assign_folds(clips: list[Clip]) -> list[list[str]]:
    """Held-out speaker keys per fold: the fixed table, plus unknown speakers dealt over folds 0-3."""
    folds = [list(f) for f in FIXED_FOLDS]
    known = {s for f in folds for s in f}
    extra = sorted({c.speaker_key for c in clips} - known)
    for i, key in enumerate(extra):
        folds[i % 4].append(key)
    present = {c.speaker_key for c in clips}
    return [[s for s in f if s in present] for f in folds]


def degrade_for_eval(audio: np.ndarray, name: str, noise: np.ndarray) -> np.ndarray:
    """The card's telephone condition, deterministic per clip name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return telephone_degrade(audio, rng, noise=noise, snr_db=10.0)


# ---- metrics --------------------------------------------------------------------------------------
def unweighted_accuracy(y_true: list[str], y_pred: list[str]) -> float:
    classes = sorted(set(y_true))
    recalls = [np.mean([p == c for t, p in zip(y_true, y_pred) if t == c]) for c in classes]
    return float(np.mean(recalls)) if recalls else float("nan")


def macro_f1_binary(t: np.ndarray, p: np.ndarray) -> float:
    scores = []
    for positive in (True, False):
        tp = np.sum((p == positive) & (t == positive))
        fp = np.sum((p == positive) & (t != positive))
        fn = np.sum((p != positive) & (t == positive))
        scores.append(2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0)
    return float(np.mean(scores))


def confusion(y_true: list[str], y_pred: list[str]) -> list[list[int]]:
    m = np.zeros((len(EMOTION_LABELS), len(EMOTION_LABELS)), dtype=int)
    for t, p in zip(y_true, y_pred):
        m[EMOTION_LABELS.index(t), EMOTION_LABELS.index(p)] += 1
    return m.tolist()


def metrics(rows: list[dict]) -> dict:
    y = [r["label"] for r in rows]
    pred7 = [EMOTION_LABELS[int(np.argmax(r["probs"]))] for r in rows]
    four_idx = [EMOTION_LABELS.index(c) for c in FOUR]
    rows4 = [r for r in rows if r["label"] in FOUR]
    y4 = [r["label"] for r in rows4]
    pred4 = [FOUR[int(np.argmax(np.asarray(r["probs"])[four_idx]))] for r in rows4]
    upset_true = np.array([r["label"] in NEGATIVE_EMOTIONS for r in rows])
    upset_pred = np.array([r["upset"] >= 0.5 for r in rows])
    return {
        "n": len(rows),
        "speakers": len({r["speaker"] for r in rows}),
        "ua7": unweighted_accuracy(y, pred7),
        "acc7": float(np.mean([a == b for a, b in zip(y, pred7)])),
        "ua4": unweighted_accuracy(y4, pred4) if rows4 else float("nan"),
        "n4": len(rows4),
        "upset_macro_f1": macro_f1_binary(upset_true, upset_pred),
        "confusion7": confusion(y, pred7),
    }


def summarise(predictions: list[dict]) -> dict:
    groups = {
        **{c: [c] for c in sorted({p["corpus"] for p in predictions})},
        "english (ravdess+savee+tess)": list(ENGLISH),
        "all": sorted({p["corpus"] for p in predictions}),
    }
    out: dict = {}
    for cond in CONDITIONS:
        out[cond] = {}
        for name, corpora in groups.items():
            rows = [p for p in predictions if p["condition"] == cond and p["corpus"] in corpora]
            if rows:
                out[cond][name] = metrics(rows)
    out["per_fold"] = {}
    for fold in sorted({p["fold"] for p in predictions}):
        out["per_fold"][str(fold)] = {
            cond: metrics([p for p in predictions if p["fold"] == fold and p["condition"] == cond]) for cond in CONDITIONS
        }
    return out


def markdown(summary: dict) -> str:
    lines = ["| corpus | clips | speakers | UA7 clean | UA7 phone | UA4 clean | UA4 phone | upset F1 clean | upset F1 phone |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in summary["clean"].items():
        t = summary["telephone"].get(name, {})
        lines.append(
            f"| {name} | {m['n']} | {m['speakers']} | {m['ua7']:.3f} | {t.get('ua7', float('nan')):.3f} | "
            f"{m['ua4']:.3f} | {t.get('ua4', float('nan')):.3f} | {m['upset_macro_f1']:.3f} | {t.get('upset_macro_f1', float('nan')):.3f} |"
        )
    lines += ["", "Per fold (all corpora pooled):", "",
              "| fold | clips | UA7 clean | UA7 phone | UA4 clean | UA4 phone | upset F1 clean | upset F1 phone |",
              "|---|---|---|---|---|---|---|---|"]
    for fold, m in summary["per_fold"].items():
        c, t = m["clean"], m["telephone"]
        lines.append(f"| {fold} | {c['n']} | {c['ua7']:.3f} | {t['ua7']:.3f} | {c['ua4']:.3f} | {t['ua4']:.3f} | "
                     f"{c['upset_macro_f1']:.3f} | {t['upset_macro_f1']:.3f} |")
    for cond in CONDITIONS:
        for name, m in summary[cond].items():
            lines += ["", f"Confusion ({cond}, {name}; rows = truth, columns = prediction):", "",
                      "| truth \\ pred | " + " | ".join(EMOTION_LABELS) + " |", "|---" * (len(EMOTION_LABELS) + 1) + "|"]
            for label, row in zip(EMOTION_LABELS, m["confusion7"]):
                if sum(row):
                    lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


# ---- driver ---------------------------------------------------------------------------------------
def _train_fold(job: tuple) -> dict:
    k, train_clips, out, cfg, version, n_variants, head, cnn_from = job
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s fold{k} %(levelname)s %(name)s: %(message)s")
    return train_and_export(train_clips, out, cfg, version, n_variants=n_variants, head=head, cnn_from=cnn_from)


def score_fold(model_path: Path, clips: list[Clip], fold: int, noise: np.ndarray) -> list[dict]:
    from processors.audio.io import load_audio
    from processors.emotion.model import EmotionModel

    model = EmotionModel(model_path)
    rows = []
    audios = {c.path: load_audio(c.path).samples for c in clips}
    for cond in CONDITIONS:
        batch = [audios[c.path] if cond == "clean" else degrade_for_eval(audios[c.path], c.path.name, noise) for c in clips]
        for c, r in zip(clips, model.score_many(batch)):
            base = {"path": str(c.path), "corpus": c.corpus, "speaker": c.speaker_key, "label": c.label,
                    "fold": fold, "condition": cond}
            if isinstance(r, Exception):
                rows.append({**base, "error": str(r)})
            else:
                rows.append({**base, "probs": [r.probs[l] for l in EMOTION_LABELS], "upset": r.upset})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", default=[])
    parser.add_argument("--manifest", action="append", default=[])
    parser.add_argument("--out", default=str(REPO_ROOT / "build" / "folds"))
    parser.add_argument("--folds", default="", help="comma-separated fold numbers to (re)train (default all)")
    parser.add_argument("--skip-train", action="store_true", help="only score existing fold models")
    parser.add_argument("--parallel", type=int, default=2, help="folds trained at once (1 torch thread each)")
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--cnn-from", default=None,
                        help="folder with log-mel-only fold{k}.onnx CNNs of the same folds: train only the statistics branch")
    add_head_arguments(parser)
    for name, value in asdict(TrainConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clips = gather_clips(args.data or [str(REPO_ROOT.parent / "shared" / "data" / "ser")], args.manifest)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folds = assign_folds(clips)
    cfg = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    chosen = [int(f) for f in args.folds.split(",") if f] or list(range(len(folds)))
    stamp = time.strftime("%Y%m%d-%H%M", time.gmtime())

    (out / "folds.json").write_text(json.dumps({
        "description": "Leave-speakers-out folds of models/emotion/evaluate.py; fold k's model never saw its held-out speakers.",
        "labels": list(EMOTION_LABELS),
        "telephone_condition": "cafe_short (held-out last 40 %) at 10 dB SNR, 300-3400 Hz, 8 kHz, mu-law (models.emotion.augment.telephone_degrade)",
        "folds": [
            {"fold": k, "model": str((out / f"fold{k}.onnx").resolve()), "held_out_speakers": f,
             "n_held_out_clips": sum(c.speaker_key in f for c in clips)}
            for k, f in enumerate(folds)
        ],
    }, indent=1))

    if not args.skip_train:
        head = head_from_args(args)
        cnn_from = Path(args.cnn_from) if args.cnn_from else None
        if cnn_from is None:
            feature_cache(clips, n_variants=args.variants, workers=2)  # once, shared by all folds
        if head is not None:
            from models.emotion.stats_head import stats_cache

            stats_cache(clips, head.variants, workers=2)
        jobs = [(k, [c for c in clips if c.speaker_key not in set(folds[k])], out / f"fold{k}.onnx", cfg,
                 f"fold{k}-{stamp}", args.variants, head, cnn_from / f"fold{k}.onnx" if cnn_from else None)
                for k in chosen]
        t0 = time.time()
        with ProcessPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            for summary in pool.map(_train_fold, jobs):
                log.info("trained %s: %d clips, %.0f s", summary["model"], summary["clips"], summary["total_s"])
        log.info("all fold trainings: %.0f s wall", time.time() - t0)

    noise = load_noise("cafe_short", part="eval")
    predictions = []
    for k, held in enumerate(folds):
        test = [c for c in clips if c.speaker_key in set(held)]
        if test and (out / f"fold{k}.onnx").exists():
            predictions += score_fold(out / f"fold{k}.onnx", test, k, noise)
    with open(out / "predictions.jsonl", "w") as fh:
        for p in predictions:
            fh.write(json.dumps(p) + "\n")
    scored = [p for p in predictions if "error" not in p]
    summary = summarise(scored)
    summary["skipped_clips"] = [p for p in predictions if "error" in p]
    summary["config"] = asdict(cfg)
    head_cfg = head_from_args(args)
    summary["stats_head"] = asdict(head_cfg) if head_cfg is not None else None
    summary["cnn_from"] = args.cnn_from
    (out / "eval.json").write_text(json.dumps(summary, indent=1))
    (out / "eval.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
