"""The statistics branch: training on statistics, merging into a log-mel ONNX graph, parity, contract."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from models.emotion.stats_head import HeadConfig, merge_into_onnx, train_head
from processors.emotion.prosody import N_STATS, STAT_NAMES
from processors.types import EMOTION_LABELS

N_MELS = 64


def _tiny_cnn(path) -> np.ndarray:
    """A stand-in log-mel model with the CNN's contract: mean over frames -> linear -> softmax."""
    w = np.random.default_rng(0).standard_normal((N_MELS, len(EMOTION_LABELS))).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["features"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "frames", N_MELS]),
         helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(EMOTION_LABELS)])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime reads (the torch exporter writes 8 as well)
    entry = model.metadata_props.add()
    entry.key, entry.value = "model_version", "tiny-0"
    onnx.save(model, str(path))
    return w


def _separable_stats(n_per_class: int, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Each class shifts its own block of statistics; clean + 2 noisier copies per clip."""
    stats, labels = [], []
    for c in range(len(EMOTION_LABELS)):
        for _ in range(n_per_class):
            base = rng.standard_normal(N_STATS).astype(np.float32)
            base[c * 10 : c * 10 + 10] += 3.0
            stats.append(np.stack([base, base + 0.3 * rng.standard_normal(N_STATS), base + 0.3 * rng.standard_normal(N_STATS)]))
            labels.append(c)
    return stats, np.array(labels)


def test_head_learns_merges_and_matches_numpy(tmp_path):
    rng = np.random.default_rng(1)
    stats, labels = _separable_stats(12, rng)
    cfg = HeadConfig(hidden=32, members=2, max_iter=60, cnn_weight=0.25)
    head = train_head(stats, labels, cfg)
    held_stats, held_labels = _separable_stats(4, np.random.default_rng(2))
    x = np.stack([s[0] for s in held_stats]).astype(np.float32)
    assert np.mean(head.predict(x).argmax(1) == held_labels) > 0.9

    w = _tiny_cnn(tmp_path / "cnn.onnx")
    out = tmp_path / "merged.onnx"
    diff = merge_into_onnx(tmp_path / "cnn.onnx", head, out, cfg.cnn_weight, {"model_version": "merged-0"})
    assert diff < 1e-5

    model = onnx.load(str(out))
    assert {i.name for i in model.graph.input} == {"features", "lengths", "stats"}
    assert {o.name for o in model.graph.output} == {"probs", "stats_probs"}
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["stats_names"]) == list(STAT_NAMES) and meta["model_version"] == "merged-0"

    feats = np.random.default_rng(3).standard_normal((len(x), 40, N_MELS)).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs, stats_probs = session.run(["probs", "stats_probs"],
                                     {"features": feats, "lengths": np.full(len(x), 40, np.int64), "stats": x})
    logits = feats.mean(axis=1) @ w
    cnn = np.exp(logits - logits.max(1, keepdims=True))
    cnn /= cnn.sum(1, keepdims=True)
    np.testing.assert_allclose(stats_probs, head.predict(x), atol=1e-5)
    np.testing.assert_allclose(probs, 0.25 * cnn + 0.75 * head.predict(x), atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
