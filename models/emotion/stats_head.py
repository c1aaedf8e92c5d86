"""The statistics branch of the emotion model: utterance statistics -> MLP bag, merged into the ONNX.

Input: clips (models.emotion.corpora.Clip), a trained log-mel CNN as ONNX (models.emotion.export).
Output: one ONNX file with inputs `features`, `lengths` (the CNN's) and `stats` (batch, N_STATS) and
output `probs` = cnn_weight * CNN probabilities + (1 - cnn_weight) * statistics-branch probabilities.

Why a second branch: measured on the same leave-speakers-out folds, the log-mel CNN (model 1.0) is
weak where emotions differ in pitch, loudness and tension rather than spectral texture (EmoDB sad was
recalled 3/62 times, mostly as neutral). Utterance statistics (processors.emotion.prosody) carry
exactly those cues; an MLP on them, averaged with the CNN, gains 10-20 points of 4-class UA per corpus
(model card). The branch is a bag of small MLPs (different seeds, class-balanced resampling) because
single MLPs on ~6k rows swing by several points from seed to seed; averaging them is cheap at run time
(two small matrix products per member).

Training uses scikit-learn (a training dependency only); the runtime needs onnxruntime alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.emotion.augment import TelephoneAugmenter
from models.emotion.corpora import Clip
from models.emotion.onnx_meta import read_metadata, set_metadata
from processors.audio.io import load_audio
from processors.emotion.features import BadAudioError
from processors.emotion.prosody import N_STATS, STAT_NAMES, utterance_stats
from processors.types import EMOTION_LABELS

log = logging.getLogger("models.emotion.stats_head")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "build" / "cache" / "emotion_stats"
STATS_VERSION = "stats-v2"
"""Bump when processors.emotion.prosody changes what it computes (invalidates caches and heads)."""


@dataclass
class HeadConfig:
    hidden: int = 256
    alpha: float = 1.0
    """L2 penalty of each MLP (sklearn's alpha)."""
    members: int = 5
    """MLPs in the bag, seeds 0..members-1."""
    max_iter: int = 100
    """Adam epochs per MLP: the bag averages out what stopping early leaves unsettled (and keeps training short)."""
    cnn_weight: float = 0.5
    """Share of the CNN in the merged output; the rest is the statistics branch."""
    variants: int = 2
    """Telephone-degraded copies per clip added to the clean one for training."""


@dataclass
class StatsHead:
    """A trained bag of MLPs with the standardisation it expects (plain numpy: easy to test and export)."""

    mean: np.ndarray
    scale: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    """Per member (W1, b1, W2, b2); hidden layer ReLU, output softmax over EMOTION_LABELS."""

    def predict(self, stats: np.ndarray) -> np.ndarray:
        z = (np.asarray(stats, np.float32) - self.mean) / self.scale
        out = np.zeros((z.shape[0], len(EMOTION_LABELS)), dtype=np.float64)
        for w1, b1, w2, b2 in self.layers:
            logits = np.maximum(z @ w1 + b1, 0.0) @ w2 + b2
            logits = logits - logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            out += e / e.sum(axis=1, keepdims=True)
        return out / len(self.layers)


# ---- statistics cache -------------------------------------------------------------------------------
def _clip_stats(args: tuple[str, int, str | None]) -> tuple[str, np.ndarray | None]:
    """Clean statistics plus `variants` telephone copies (the same random draws as the log-mel cache)."""
    path, variants, noise_dir = args
    try:
        audio = load_audio(path).samples
        rows = [utterance_stats(audio)]
        augment = TelephoneAugmenter.from_noise_dir(noise_dir)
        for v in range(variants):
            rng = np.random.default_rng([zlib.crc32(Path(path).name.encode()), v])
            rows.append(utterance_stats(augment(audio, rng)))
        return path, np.stack(rows)
    except (BadAudioError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return path, None


def stats_cache(
    clips: list[Clip], variants: int = 2, cache_dir: Path = DEFAULT_CACHE, noise_dir: str | None = None, workers: int = 2
) -> dict[str, np.ndarray]:
    """{path: (1 + variants, N_STATS)} computed once per clip and kept under build/cache."""
    setting = hashlib.sha1(json.dumps([STATS_VERSION, N_STATS, variants]).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / setting
    folder.mkdir(parents=True, exist_ok=True)

    def file_of(path: str) -> Path:
        return folder / (hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:20] + ".pkl")

    todo = [str(c.path) for c in clips if not file_of(str(c.path)).exists()]
    if todo:
        t0 = time.time()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for path, rows in pool.map(_clip_stats, [(p, variants, noise_dir) for p in todo], chunksize=8):
                target = file_of(path)
                with open(target.with_suffix(".tmp"), "wb") as fh:
                    pickle.dump(rows, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(target.with_suffix(".tmp"), target)
        log.info("stats cache: %d new clips in %.0f s -> %s", len(todo), time.time() - t0, folder)
    cache = {}
    for c in clips:
        with open(file_of(str(c.path)), "rb") as fh:
            rows = pickle.load(fh)
        if rows is not None:
            cache[str(c.path)] = rows
    return cache


# ---- training ---------------------------------------------------------------------------------------
def train_head(stats: list[np.ndarray], labels: np.ndarray, cfg: HeadConfig = HeadConfig()) -> StatsHead:
    """stats[i]: (copies, N_STATS) of clip i (clean first); labels: EMOTION_LABELS indices."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x = np.concatenate([s[: 1 + cfg.variants] for s in stats]).astype(np.float64)
    y = np.concatenate([np.full(min(len(s), 1 + cfg.variants), lab) for s, lab in zip(stats, labels)])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    z = (x - mean) / scale
    # class-balanced resampling (the score that matters is mean per-class recall)
    counts = np.bincount(y, minlength=len(EMOTION_LABELS))
    w = (counts.max() / np.maximum(counts, 1))[y]
    head = StatsHead(mean.astype(np.float32), scale.astype(np.float32))
    for seed in range(cfg.members):
        idx = np.random.default_rng(seed).choice(len(y), size=2 * len(y), p=w / w.sum())
        clf = MLPClassifier((cfg.hidden,), alpha=cfg.alpha, max_iter=cfg.max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(z[idx], y[idx])
        if list(clf.classes_) != list(range(len(EMOTION_LABELS))):
            raise ValueError(f"training data lacks some classes: has {[EMOTION_LABELS[c] for c in clf.classes_]}")
        w1, w2 = clf.coefs_
        b1, b2 = clf.intercepts_
        head.layers.append(tuple(a.astype(np.float32) for a in (w1, b1, w2, b2)))
    return head


# ---- ONNX merge -------------------------------------------------------------------------------------
def merge_into_onnx(cnn_path: str | Path, head: StatsHead, out_path: str | Path, cnn_weight: float, metadata: dict[str, str]) -> float:
    """Append the statistics branch to the CNN graph; returns max |numpy head - ORT| on random input."""
    model = onnx.load(str(cnn_path))
    graph = model.graph
    (cnn_out,) = [o for o in graph.output]
    for node in graph.node:
        node.output[:] = ["cnn_probs" if o == cnn_out.name else o for o in node.output]
    del graph.output[:]
    graph.input.append(helper.make_tensor_value_info("stats", TensorProto.FLOAT, ["batch", N_STATS]))
    inits = [numpy_helper.from_array(head.mean, "stats_mean"), numpy_helper.from_array(head.scale, "stats_scale")]
    nodes = [helper.make_node("Sub", ["stats", "stats_mean"], ["stats_c"]), helper.make_node("Div", ["stats_c", "stats_scale"], ["stats_z"])]
    member_outs = []
    for m, (w1, b1, w2, b2) in enumerate(head.layers):
        names = [f"head{m}_{k}" for k in ("w1", "b1", "w2", "b2")]
        inits += [numpy_helper.from_array(a, n) for a, n in zip((w1, b1, w2, b2), names)]
        nodes += [
            helper.make_node("MatMul", ["stats_z", names[0]], [f"head{m}_h0"]),
            helper.make_node("Add", [f"head{m}_h0", names[1]], [f"head{m}_h1"]),
            helper.make_node("Relu", [f"head{m}_h1"], [f"head{m}_h"]),
            helper.make_node("MatMul", [f"head{m}_h", names[2]], [f"head{m}_l0"]),
            helper.make_node("Add", [f"head{m}_l0", names[3]], [f"head{m}_l"]),
            helper.make_node("Softmax", [f"head{m}_l"], [f"head{m}_p"], axis=1),
        ]
        member_outs.append(f"head{m}_p")
    inits += [
        numpy_helper.from_array(np.array(1.0 / len(member_outs), np.float32), "head_mean_w"),
        numpy_helper.from_array(np.array(cnn_weight, np.float32), "cnn_w"),
        numpy_helper.from_array(np.array(1.0 - cnn_weight, np.float32), "stats_w"),
    ]
    nodes += [
        helper.make_node("Sum", member_outs, ["head_sum"]),
        helper.make_node("Mul", ["head_sum", "head_mean_w"], ["stats_probs"]),
        helper.make_node("Mul", ["cnn_probs", "cnn_w"], ["cnn_part"]),
        helper.make_node("Mul", ["stats_probs", "stats_w"], ["stats_part"]),
        helper.make_node("Add", ["cnn_part", "stats_part"], ["probs"]),
    ]
    graph.initializer.extend(inits)
    graph.node.extend(nodes)
    graph.output.append(helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(EMOTION_LABELS)]))
    graph.output.append(helper.make_tensor_value_info("stats_probs", TensorProto.FLOAT, ["batch", len(EMOTION_LABELS)]))
    meta = read_metadata(model)
    meta.update(
        {
            "stats_version": STATS_VERSION,
            "stats_names": json.dumps(list(STAT_NAMES)),
            "ensemble": json.dumps({"cnn_weight": cnn_weight, "stats_members": len(head.layers)}),
            **metadata,
        }
    )
    set_metadata(model, meta)
    model.doc_string = "callpulse speech-emotion model: log-mel CNN + utterance-statistics MLP bag -> 7 emotion probabilities"
    onnx.checker.check_model(model)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    return head_parity(head, out_path)


def head_parity(head: StatsHead, path: str | Path, seed: int = 0) -> float:
    """Max |numpy StatsHead - ORT stats_probs| on random statistics (the CNN part is checked at export)."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    stats = (head.mean + head.scale * rng.standard_normal((5, N_STATS))).astype(np.float32)
    feats = rng.standard_normal((5, 50, 64)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["stats_probs"], {"features": feats, "lengths": np.full(5, 50, np.int64), "stats": stats})
    return float(np.abs(got - head.predict(stats)).max())


def head_config_json(cfg: HeadConfig) -> str:
    return json.dumps(asdict(cfg))
