"""Train the emotion network on labelled audio and export it to ONNX (one command).

    python -m models.emotion.train --data ../shared/data/ser [--manifest my_calls.csv] \
        --out models/emotion/emotion.onnx [--epochs 40] [--exclude-speakers ravdess:01,emodb:03] \
        [--cnn-from existing_cnn.onnx] [--no-stats-head]

Input: folders of corpus clips recognised by file name (models.emotion.corpora) and/or CSV manifests.
Output: the .onnx (with metadata) and `<out>.train.json` (clips, speakers, class counts, config, time).

Recipe (why): features are the runtime's own log-mel + CMVN (processors.emotion.features); each clip is
cached clean and as `n_variants` random telephone-degraded copies (models.emotion.augment), and every
epoch draws the clean copy with probability `clean_prob`, else one phone copy, so the model sees both
studio and phone-line audio of every training speaker. On top: random crops, SpecAugment (frequency
and time masks), inverse-frequency class weights (the score that matters is mean per-class recall),
label smoothing, AdamW with a one-cycle schedule, a fixed number of epochs (no peeking at test folds).
Then (model 2.0 on) the statistics branch (models.emotion.stats_head): utterance statistics of the same
clips (clean + 2 phone copies) -> a bag of MLPs, merged into the same ONNX graph. `--cnn-from` reuses
an already trained log-mel-only CNN file (e.g. model 1.0's) and trains only the statistics branch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pickle
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.emotion.augment import TelephoneAugmenter
from models.emotion.corpora import Clip, list_clips, read_manifest
from models.emotion.stats_head import (
    HeadConfig,
    head_config_json,
    merge_into_onnx,
    stats_cache,
    train_head,
)
from processors.audio.io import load_audio
from processors.emotion.features import (
    DEFAULT_PARAMS,
    BadAudioError,
    FeatureParams,
    log_mel_features,
)
from processors.types import EMOTION_LABELS

log = logging.getLogger("models.emotion.train")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "build" / "cache" / "emotion"
AUG_VERSION = "tel-v1"


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    clean_prob: float = 0.35
    crop_prob: float = 0.5
    min_crop_frames: int = 100
    max_frames: int = 400
    freq_masks: int = 2
    freq_mask_width: int = 8
    time_masks: int = 2
    time_mask_frac: float = 0.08
    channels: int = 128
    dropout: float = 0.2
    seed: int = 0
    threads: int = 1
    """torch threads; 1 is ~10x faster than 2 on a loaded 2-core box (no OpenMP oversubscription)."""


# ---- feature cache --------------------------------------------------------------------------------
def _clip_features(args: tuple[str, int, str, str | None]) -> tuple[str, list[np.ndarray] | None]:
    path, n_variants, params_json, noise_dir = args
    params = FeatureParams.from_json(params_json)
    try:
        audio = load_audio(path).samples
        feats = [log_mel_features(audio, params).astype(np.float16)]
        augment = TelephoneAugmenter.from_noise_dir(noise_dir)
        for v in range(n_variants):
            rng = np.random.default_rng([zlib.crc32(Path(path).name.encode()), v])
            feats.append(log_mel_features(augment(audio, rng), params).astype(np.float16))
        return path, feats
    except (BadAudioError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return path, None


def _cached(file: Path) -> bool:
    """A cache file that exists and holds features (clips skipped under other thresholds are redone)."""
    if not file.exists():
        return False
    with open(file, "rb") as fh:
        return pickle.load(fh) is not None


def feature_cache(
    clips: list[Clip],
    params: FeatureParams = DEFAULT_PARAMS,
    n_variants: int = 3,
    cache_dir: Path = DEFAULT_CACHE,
    noise_dir: str | None = None,
    workers: int = 2,
) -> dict[str, list[np.ndarray]]:
    """{path: [clean feats, phone variant 1..n]}, computed once per clip and kept under build/cache.

    One file per clip (keyed by path, feature parameters, variant count and augmentation version), so
    every fold and the final training share the work. Clips that are silent or unreadable are left out.
    """
    setting = hashlib.sha1(json.dumps([params.feature_key(), n_variants, AUG_VERSION]).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / setting
    folder.mkdir(parents=True, exist_ok=True)

    def file_of(path: str) -> Path:
        return folder / (hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:20] + ".pkl")

    todo = [str(c.path) for c in clips if not _cached(file_of(str(c.path)))]
    if todo:
        t0 = time.time()
        jobs = [(p, n_variants, params.to_json(), noise_dir) for p in todo]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for path, feats in pool.map(_clip_features, jobs, chunksize=8):
                target = file_of(path)
                with open(target.with_suffix(".tmp"), "wb") as fh:
                    pickle.dump(feats, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(target.with_suffix(".tmp"), target)
        log.info("feature cache: %d new clips x %d copies in %.0f s -> %s", len(todo), n_variants + 1, time.time() - t0, folder)
    cache = {}
    for c in clips:
        with open(file_of(str(c.path)), "rb") as fh:
            feats = pickle.load(fh)
        if feats is not None:
            cache[str(c.path)] = feats
    return cache


# ---- training -------------------------------------------------------------------------------------
def _batches(n: int, batch_size: int, lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length (sorting inside pools of 8 batches) to limit padding."""
    order = rng.permutation(n)
    pool = batch_size * 8
    batches = []
    for s in range(0, n, pool):
        chunk = order[s : s + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train_net(variants: list[list[np.ndarray]], labels: np.ndarray, cfg: TrainConfig, n_mels: int):
    """Train an EmotionNet on cached feature variants; returns (net in eval mode, per-epoch history)."""
    import torch
    import torch.nn.functional as F

    from models.emotion.net import EmotionNet

    torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = EmotionNet(n_mels=n_mels, n_classes=len(EMOTION_LABELS), channels=cfg.channels, dropout=cfg.dropout)
    counts = np.bincount(labels, minlength=len(EMOTION_LABELS)).astype(np.float64)
    # inverse frequency (model 1.0); inverse square root was tried with 1.1 and did worse on the same folds
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / np.count_nonzero(counts), 0.0)
    class_weights = torch.tensor(weights, dtype=torch.float32)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lengths = np.array([v[0].shape[0] for v in variants])
    steps_per_epoch = len(_batches(len(variants), cfg.batch_size, lengths, np.random.default_rng(0)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.2)
    history = []
    for epoch in range(cfg.epochs):
        net.train()
        t0, total, correct, seen = time.time(), 0.0, 0, 0
        for idx in _batches(len(variants), cfg.batch_size, lengths, rng):
            mats = []
            for i in idx:
                copies = variants[i]
                m = copies[0] if (len(copies) == 1 or rng.random() < cfg.clean_prob) else copies[rng.integers(1, len(copies))]
                m = m.astype(np.float32)
                n = m.shape[0]
                if n > cfg.max_frames or (n > cfg.min_crop_frames and rng.random() < cfg.crop_prob):
                    keep = int(rng.integers(min(cfg.min_crop_frames, n), min(n, cfg.max_frames) + 1))
                    start = int(rng.integers(0, n - keep + 1))
                    m = m[start : start + keep].copy()
                for _ in range(cfg.freq_masks):
                    w = int(rng.integers(0, cfg.freq_mask_width + 1))
                    f0 = int(rng.integers(0, n_mels - w + 1))
                    m[:, f0 : f0 + w] = 0.0
                for _ in range(cfg.time_masks):
                    w = int(rng.integers(0, int(cfg.time_mask_frac * m.shape[0]) + 1))
                    t_0 = int(rng.integers(0, m.shape[0] - w + 1))
                    m[t_0 : t_0 + w] = 0.0
                mats.append(m)
            lens = np.array([m.shape[0] for m in mats], dtype=np.int64)
            batch = np.zeros((len(mats), lens.max(), n_mels), dtype=np.float32)
            for r, m in enumerate(mats):
                batch[r, : m.shape[0]] = m
            y = torch.from_numpy(labels[idx])
            logits = net.logits(torch.from_numpy(batch), torch.from_numpy(lens))
            loss = F.cross_entropy(logits, y, weight=class_weights, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_acc": correct / seen, "s": time.time() - t0})
        log.info("epoch %d/%d loss %.3f train acc %.3f (%.1f s)", epoch + 1, cfg.epochs, total / seen, correct / seen, time.time() - t0)
    return net.eval(), history


def gather_clips(data: list[str], manifests: list[str]) -> list[Clip]:
    clips: list[Clip] = []
    for root in data:
        clips += list_clips(root)
    for manifest in manifests:
        clips += read_manifest(manifest)
    return clips


def train_and_export(
    clips: list[Clip],
    out: Path,
    cfg: TrainConfig,
    version: str,
    params: FeatureParams = DEFAULT_PARAMS,
    n_variants: int = 3,
    noise_dir: str | None = None,
    extra_metadata: dict[str, str] | None = None,
    head: HeadConfig | None = HeadConfig(),
    cnn_from: Path | None = None,
) -> dict:
    """Cache features, train (or reuse) the CNN, export ONNX + parity check, then train and merge the
    statistics branch unless `head` is None; returns the training summary (also written)."""
    t_start = time.time()
    speakers = sorted({c.speaker_key for c in clips})
    meta = {
        "training_clips": str(len(clips)),
        "training_speakers": json.dumps(speakers),
        "train_config": json.dumps(asdict(cfg)),
        **(extra_metadata or {}),
    }
    cnn_path = Path(out) if head is None else Path(str(out) + ".cnn.tmp.onnx")
    if cnn_from is None:
        from models.emotion.export import export_onnx

        cache = feature_cache(clips, params, n_variants, noise_dir=noise_dir, workers=2)
        t_feats = time.time() - t_start
        kept = [c for c in clips if str(c.path) in cache]
        variants = [cache[str(c.path)] for c in kept]
        labels = np.array([EMOTION_LABELS.index(c.label) for c in kept], dtype=np.int64)
        net, history = train_net(variants, labels, cfg, params.n_mels)
        t_train = time.time() - t_start - t_feats
        max_diff = export_onnx(net, cnn_path, params, version, meta)
        n_params = sum(p.numel() for p in net.parameters())
    else:
        import shutil

        shutil.copyfile(cnn_from, cnn_path)
        kept, t_feats, t_train, history, max_diff = clips, 0.0, 0.0, [], float("nan")
        n_params = int(_onnx_meta(cnn_path).get("n_params", 0))
        earlier = Path(str(cnn_from) + ".train.json")
        if earlier.exists():  # keep the CNN's own training record (time, history, parity) in the summary
            cnn_summary = json.loads(earlier.read_text())
            t_feats, t_train = cnn_summary.get("feature_s", 0.0), cnn_summary.get("train_s", 0.0)
            history, max_diff = cnn_summary.get("history", []), cnn_summary.get("parity_max_abs_diff", max_diff)
            meta["train_config"] = json.dumps(cnn_summary.get("config", {}))
    head_summary = None
    if head is not None:
        t_head = time.time()
        stats = stats_cache(kept, head.variants, noise_dir=noise_dir, workers=2)
        with_stats = [c for c in kept if str(c.path) in stats]
        trained = train_head([stats[str(c.path)] for c in with_stats],
                             np.array([EMOTION_LABELS.index(c.label) for c in with_stats]), head)
        head_diff = merge_into_onnx(cnn_path, trained, out, head.cnn_weight,
                                    {"model_version": version, "head_config": head_config_json(head), **meta})
        cnn_path.unlink()
        n_params += sum(sum(a.size for a in layer) for layer in trained.layers) + 2 * trained.mean.size
        head_summary = {"config": asdict(head), "clips": len(with_stats), "parity_max_abs_diff": head_diff,
                        "s": round(time.time() - t_head, 1)}
        log.info("statistics branch: %d clips, parity %.2e, %.0f s", len(with_stats), head_diff, head_summary["s"])
    labels = np.array([EMOTION_LABELS.index(c.label) for c in kept], dtype=np.int64)
    summary = {
        "model": str(out),
        "version": version,
        "clips": len(kept),
        "speakers": speakers,
        "class_counts": {EMOTION_LABELS[i]: int(n) for i, n in enumerate(np.bincount(labels, minlength=7))},
        "corpus_counts": {k: sum(c.corpus == k for c in kept) for k in sorted({c.corpus for c in kept})},
        "config": json.loads(meta["train_config"]),
        "n_variants": n_variants,
        "n_params": n_params,
        "cnn_from": str(cnn_from) if cnn_from else None,
        "stats_head": head_summary,
        "feature_s": round(t_feats, 1),
        "train_s": round(t_train, 1),
        "total_s": round(time.time() - t_start + (t_feats + t_train if cnn_from is not None else 0.0), 1),
        "parity_max_abs_diff": max_diff,
        "history": history,
    }
    Path(str(out) + ".train.json").write_text(json.dumps(summary, indent=1))
    log.info("exported %s (parity %.2e) in %.0f s total", out, max_diff, summary["total_s"])
    return summary


def _onnx_meta(path: Path) -> dict[str, str]:
    import onnx

    from models.emotion.onnx_meta import read_metadata

    return read_metadata(onnx.load(str(path)))


def add_head_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-stats-head", action="store_true", help="log-mel CNN only (model 1.0 recipe)")
    for name, value in asdict(HeadConfig()).items():
        parser.add_argument(f"--head-{name.replace('_', '-')}", type=type(value), default=value)


def head_from_args(args: argparse.Namespace) -> HeadConfig | None:
    if args.no_stats_head:
        return None
    return HeadConfig(**{k: getattr(args, f"head_{k}") for k in asdict(HeadConfig())})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", default=[], help="folder of corpus clips (repeatable)")
    parser.add_argument("--manifest", action="append", default=[], help="CSV path,label,speaker (repeatable)")
    parser.add_argument("--out", default=str(REPO_ROOT / "models" / "emotion" / "emotion.onnx"))
    parser.add_argument("--version", default=None, help="model version string (default: emotion-<date>)")
    parser.add_argument("--exclude-speakers", default="", help="comma-separated corpus:speaker keys to hold out")
    parser.add_argument("--variants", type=int, default=3, help="telephone-degraded copies per clip")
    parser.add_argument("--noise-dir", default=None)
    parser.add_argument("--cnn-from", default=None, help="reuse this log-mel-only CNN .onnx; train only the statistics branch")
    add_head_arguments(parser)
    for name, value in asdict(TrainConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.data and not args.manifest:
        parser.error("give --data and/or --manifest")
    clips = gather_clips(args.data, args.manifest)
    excluded = {s for s in args.exclude_speakers.split(",") if s}
    clips = [c for c in clips if c.speaker_key not in excluded]
    if not clips:
        parser.error("no labelled clips found")
    cfg = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    version = args.version or time.strftime("emotion-%Y%m%d-%H%M", time.gmtime())
    summary = train_and_export(clips, Path(args.out), cfg, version, n_variants=args.variants, noise_dir=args.noise_dir,
                               head=head_from_args(args), cnn_from=Path(args.cnn_from) if args.cnn_from else None)
    print(json.dumps({k: summary[k] for k in ("model", "version", "clips", "n_params", "total_s", "parity_max_abs_diff")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
