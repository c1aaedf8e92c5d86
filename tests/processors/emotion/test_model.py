"""EmotionModel on the shipped ONNX file: contract, batch independence, determinism, bad audio, accuracy."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import pytest

from processors.emotion.model import DEFAULT_MODEL_PATH, BadAudioError, EmotionModel, load_default_model
from processors.emotion.prosody import N_STATS, STAT_NAMES
from processors.types import EMOTION_LABELS, NEGATIVE_EMOTIONS, EmotionResult
from tests.conftest import require_data

SR = 16_000
HELDOUT_MODEL = Path(__file__).resolve().parents[2] / "models" / "data" / "emotion_heldout_fold0.onnx"


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    return load_default_model()


@pytest.fixture(scope="module")
def real_turns() -> list[np.ndarray]:
    from processors.audio.io import load_audio

    root = require_data("ser", "ravdess", "Actor_01")
    files = sorted(root.glob("*.flac"))[:6]
    return [load_audio(f).samples for f in files]


def test_onnx_contract():
    m = onnx.load(str(DEFAULT_MODEL_PATH))
    inputs = {i.name: i for i in m.graph.input}
    assert set(inputs) == {"features", "lengths", "stats"}
    feat_dims = [d.dim_param or d.dim_value for d in inputs["features"].type.tensor_type.shape.dim]
    assert feat_dims[0] == "batch" and feat_dims[1] == "frames" and isinstance(feat_dims[2], int)
    assert inputs["features"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert inputs["lengths"].type.tensor_type.elem_type == onnx.TensorProto.INT64
    outputs = {o.name: o for o in m.graph.output}
    assert set(outputs) == {"probs", "stats_probs"}
    out = outputs["probs"]
    stats_dims = [d.dim_param or d.dim_value for d in inputs["stats"].type.tensor_type.shape.dim]
    assert stats_dims == ["batch", N_STATS]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", len(EMOTION_LABELS)]
    meta = {p.key: p.value for p in m.metadata_props}
    assert tuple(json.loads(meta["labels"])) == EMOTION_LABELS
    assert set(json.loads(meta["upset_labels"])) == NEGATIVE_EMOTIONS
    assert int(meta["sample_rate"]) == SR
    params = json.loads(meta["feature_params"])
    assert params["n_mels"] == feat_dims[2] and params["sample_rate"] == SR
    assert meta["model_version"]
    assert json.loads(meta["stats_names"]) == list(STAT_NAMES)
    assert DEFAULT_MODEL_PATH.stat().st_size < 8 * 2**20


def test_loads_with_cpu_and_reports_providers(model, caplog):
    assert "CPUExecutionProvider" in model.providers
    assert model.labels == EMOTION_LABELS
    with caplog.at_level(logging.INFO, logger="processors.emotion.model"):
        EmotionModel(providers=["CPUExecutionProvider"])
    assert any("session providers ['CPUExecutionProvider']" in r.getMessage() for r in caplog.records)
    assert load_default_model() is model


def test_result_shape(model, real_turns):
    results = model.score(real_turns)
    assert len(results) == len(real_turns)
    for r in results:
        assert isinstance(r, EmotionResult)
        assert tuple(r.probs) == EMOTION_LABELS
        assert abs(sum(r.probs.values()) - 1.0) < 1e-6
        assert abs(r.upset - sum(r.probs[k] for k in NEGATIVE_EMOTIONS)) < 1e-6
        assert r.label == max(r.probs, key=r.probs.get)
        assert r.model_version == model.version


def test_result_independent_of_batch_mates(model, real_turns):
    short = real_turns[0][SR : int(1.8 * SR)]  # 0.8 s of speech (RAVDESS clips open with ~1 s of silence)
    longer = [np.tile(t, 3) for t in real_turns[1:4]]  # 7-15 s turns pad the short one heavily
    alone = model.score([short])[0]
    for batch, at in (([short, *longer], 0), ([*longer, short], 3), ([longer[0], short, real_turns[2]], 1)):
        together = model.score(batch)[at]
        for label in EMOTION_LABELS:
            assert abs(alone.probs[label] - together.probs[label]) < 1e-5


def test_deterministic_across_sessions(model, real_turns):
    again = EmotionModel(intra_op_threads=2).score(real_turns)
    for a, b in zip(model.score(real_turns), again):
        for label in EMOTION_LABELS:
            assert abs(a.probs[label] - b.probs[label]) < 1e-6


def test_bad_turns(model, real_turns):
    good = real_turns[0]
    bad = [good[: int(0.2 * SR)], np.zeros(2 * SR, np.float32), np.full(SR, np.nan, np.float32)]
    with pytest.raises(BadAudioError, match="turn 1"):
        model.score([good, bad[0]])
    mixed = model.score_many([bad[0], good, bad[1], bad[2]])
    assert [type(r) for r in mixed] == [BadAudioError, EmotionResult, BadAudioError, BadAudioError]
    assert mixed[1].probs == model.score([good])[0].probs or all(
        abs(mixed[1].probs[k] - model.score([good])[0].probs[k]) < 1e-5 for k in EMOTION_LABELS
    )


def test_long_turn_chunked(model, real_turns):
    long_turn = np.tile(np.concatenate(real_turns), 4)[: 65 * SR]  # 65 s -> three chunks of ~21.7 s
    chunks = model._chunks(long_turn)
    assert len(chunks) == 3 and max(len(c) for c in chunks) <= 30 * SR
    r = model.score([long_turn])[0]
    assert abs(sum(r.probs.values()) - 1.0) < 1e-6


def test_above_chance_on_held_out_speakers():
    """A fold model (committed for this test) on clips of speakers it never saw in training."""
    from processors.audio.io import load_audio
    from models.emotion.corpora import list_clips

    root = require_data("ser")
    if not HELDOUT_MODEL.exists():
        pytest.skip(f"{HELDOUT_MODEL} not present")
    fold_model = EmotionModel(HELDOUT_MODEL)
    import onnxruntime as ort

    meta = ort.InferenceSession(str(HELDOUT_MODEL), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    seen = set(json.loads(meta["training_speakers"]))
    four = ("angry", "happy", "neutral", "sad")
    clips = [c for c in list_clips(root) if c.speaker_key not in seen and c.label in four and c.corpus != "tess"]
    assert {c.corpus for c in clips} >= {"ravdess", "emodb"}
    rng = np.random.default_rng(0)
    sample = [clips[i] for i in sorted(rng.choice(len(clips), size=min(120, len(clips)), replace=False))]
    results = fold_model.score([load_audio(c.path).samples for c in sample])
    idx = [EMOTION_LABELS.index(k) for k in four]
    recalls = []
    for label in four:
        preds = [four[int(np.argmax([r.probs[EMOTION_LABELS[i]] for i in idx]))] for c, r in zip(sample, results) if c.label == label]
        recalls.append(np.mean([p == label for p in preds]))
    ua4 = float(np.mean(recalls))
    assert ua4 > 0.40, f"4-class UA {ua4:.2f} on {len(sample)} held-out clips (chance 0.25)"
