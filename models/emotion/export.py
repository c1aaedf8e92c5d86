"""Export a trained EmotionNet to ONNX with dynamic batch/time axes and self-describing metadata.

Input: an EmotionNet (eval mode), feature parameters, a version string, extra metadata.
Output: the .onnx file (inputs `features` (batch, frames, n_mels) float32 and `lengths` (batch,) int64;
output `probs` (batch, 7)), checked against onnxruntime on a ragged batch (max abs difference returned).

Metadata keys: labels (JSON list, output order), upset_labels, sample_rate, feature_params (JSON of
processors.emotion.features.FeatureParams), model_version, n_params, plus whatever the caller adds.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from models.emotion.net import EmotionNet
from models.emotion.onnx_meta import set_metadata
from processors.emotion.features import FeatureParams
from processors.types import EMOTION_LABELS, NEGATIVE_EMOTIONS

PARITY_TOLERANCE = 1e-4


def _export(net: EmotionNet, dummy: tuple, path: Path) -> None:
    torch.onnx.export(
        net,
        dummy,
        str(path),
        input_names=["features", "lengths"],
        output_names=["probs"],
        dynamic_axes={"features": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}, "probs": {0: "batch"}},
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )


def export_onnx(
    net: EmotionNet,
    path: str | Path,
    params: FeatureParams,
    version: str,
    extra_metadata: dict[str, str] | None = None,
) -> float:
    """Write the ONNX file and return the max |torch - onnxruntime| probability difference."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    dummy = (torch.randn(2, 120, params.n_mels), torch.tensor([120, 80], dtype=torch.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter: fast, exact, dynamic axes
        _export(net, dummy, path)
    model = onnx.load(str(path))
    metadata = {
        "labels": json.dumps(list(EMOTION_LABELS)),
        "upset_labels": json.dumps(sorted(NEGATIVE_EMOTIONS)),
        "sample_rate": str(params.sample_rate),
        "feature_params": params.to_json(),
        "model_version": version,
        "n_params": str(sum(p.numel() for p in net.parameters())),
        "net_config": json.dumps(net.config),
        **(extra_metadata or {}),
    }
    set_metadata(model, metadata)
    model.doc_string = "callpulse speech-emotion model: log-mel frames -> 7 emotion probabilities"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return parity(net, path, params)


def parity(net: EmotionNet, path: str | Path, params: FeatureParams, seed: int = 0) -> float:
    """Max abs difference torch vs onnxruntime on a ragged batch of random features."""
    rng = np.random.default_rng(seed)
    lengths = np.array([300, 37, 151, 1000, 28], dtype=np.int64)
    feats = np.zeros((len(lengths), int(lengths.max()), params.n_mels), dtype=np.float32)
    for i, n in enumerate(lengths):
        feats[i, :n] = rng.standard_normal((n, params.n_mels)).astype(np.float32)
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(feats), torch.from_numpy(lengths)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probs"], {"features": feats, "lengths": lengths})
    return float(np.abs(got - expected).max())
