"""Score speaker turns with the ONNX emotion model (onnxruntime; no torch, no Kafka).

Input: a sequence of turns, each 16 kHz mono float32 (0.3 s or longer).
Output: one `EmotionResult` per turn: probabilities over EMOTION_LABELS, `upset`, argmax label.

- Batched: turns (of many calls) are sorted by length and run through the session in batches of up
  to `max_batch`; the network masks padding, so a turn's result does not depend on its batch-mates
  (equal within float rounding, tested to 1e-5).
- `upset` = P(angry) + P(disgust) + P(fear) + P(sad) (processors.types.NEGATIVE_EMOTIONS, the seeds'
  mapping), unweighted: it stays a probability, and anger needs no extra weight because the
  escalation stage already looks for sustained negativity rather than single peaks.
- Turns longer than `max_turn_s` (30 s) are cut into equal chunks of at most 30 s, each scored, and
  the probabilities averaged weighted by chunk length (the whole turn counts; memory stays bounded).
- Models from 2.0 on also take `stats` (processors.emotion.prosody: pitch, energy, tilt statistics of
  each chunk) beside the log-mel frames; the mel spectrum is computed once for both. Older models
  (log-mel only) still load and score.
- Providers: CUDA when onnxruntime-gpu offers it, else CPU; the session's actual providers are logged
  (ORT falls back to CPU silently when CUDA fails to load).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from processors.emotion.features import (
    DEFAULT_PARAMS,
    BadAudioError,
    FeatureParams,
    check_audio,
    log_mel_features,
    mel_power,
)
from processors.emotion.prosody import N_STATS, STAT_NAMES, utterance_stats
from processors.types import EMOTION_LABELS, NEGATIVE_EMOTIONS, EmotionResult

__all__ = ["BadAudioError", "EmotionModel", "load_default_model", "DEFAULT_MODEL_PATH"]

log = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "emotion" / "emotion.onnx"


def _default_providers() -> list[str]:
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class EmotionModel:
    """An ONNX emotion model with its feature parameters and label set read from the file's metadata."""

    def __init__(
        self,
        path: str | Path | None = None,
        providers: list[str] | None = None,
        intra_op_threads: int = 1,
        max_batch: int = 32,
        max_turn_s: float = 30.0,
    ):
        self.path = Path(path) if path is not None else DEFAULT_MODEL_PATH
        if not self.path.exists():
            raise FileNotFoundError(f"emotion model not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        wanted = providers if providers is not None else _default_providers()
        self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=wanted)
        self.providers: list[str] = list(self._session.get_providers())
        meta = self._session.get_modelmeta().custom_metadata_map
        self.labels: tuple[str, ...] = tuple(json.loads(meta["labels"]))
        if set(self.labels) != set(EMOTION_LABELS):
            raise ValueError(f"{self.path}: label set {self.labels} differs from {EMOTION_LABELS}")
        self.version: str = meta.get("model_version", "unknown")
        # feature parameters come from the model; what counts as too short / silent is service policy
        self.params = dataclasses.replace(
            FeatureParams.from_json(meta["feature_params"]),
            min_duration_s=DEFAULT_PARAMS.min_duration_s,
            silence_dbfs=DEFAULT_PARAMS.silence_dbfs,
        )
        if self.params.sample_rate != int(meta.get("sample_rate", self.params.sample_rate)):
            raise ValueError(f"{self.path}: inconsistent sample rate in metadata")
        inputs = {i.name for i in self._session.get_inputs()}
        self.uses_stats = "stats" in inputs
        if self.uses_stats and json.loads(meta.get("stats_names", "[]")) != list(STAT_NAMES):
            raise ValueError(f"{self.path}: the model's statistics differ from processors.emotion.prosody's")
        self.negative = tuple(json.loads(meta.get("upset_labels", json.dumps(sorted(NEGATIVE_EMOTIONS)))))
        self._negative_idx = np.array([self.labels.index(n) for n in self.negative])
        self.max_batch = max_batch
        self.max_turn_samples = int(max_turn_s * self.params.sample_rate)
        self._lock = threading.Lock()  # one run at a time per session keeps intra-op threads bounded
        log.info(
            "emotion model %s version %s: session providers %s (asked %s)", self.path.name, self.version, self.providers, wanted
        )

    # ---- features -------------------------------------------------------------------------------
    def _chunks(self, audio: np.ndarray) -> list[np.ndarray]:
        x = check_audio(audio, self.params)
        if len(x) <= self.max_turn_samples:
            return [x]
        n_chunks = int(np.ceil(len(x) / self.max_turn_samples))
        bounds = np.linspace(0, len(x), n_chunks + 1).round().astype(int)
        return [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def features(self, audio: np.ndarray) -> list[np.ndarray]:
        """Log-mel features of each (<= 30 s) chunk of one turn; raises BadAudioError."""
        return [f for f, _ in self.chunk_inputs(audio)]

    def chunk_inputs(self, audio: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(log-mel frames, statistics or None) of each (<= 30 s) chunk; raises BadAudioError."""
        out = []
        for chunk in self._chunks(audio):
            mel = mel_power(chunk, self.params)
            stats = utterance_stats(chunk, self.params, mel) if self.uses_stats else None
            out.append((log_mel_features(chunk, self.params, mel), stats))
        return out

    # ---- inference ------------------------------------------------------------------------------
    def probabilities(self, feats: Sequence[np.ndarray], stats: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """(n, n_labels) probabilities for feature matrices (+ statistics), batched by length; order kept."""
        if self.uses_stats and (stats is None or len(stats) != len(feats)):
            raise ValueError("this model needs the statistics of every chunk (EmotionModel.chunk_inputs)")
        out = np.zeros((len(feats), len(self.labels)), dtype=np.float64)
        order = sorted(range(len(feats)), key=lambda i: feats[i].shape[0])
        for start in range(0, len(order), self.max_batch):
            idx = order[start : start + self.max_batch]
            lengths = np.array([feats[i].shape[0] for i in idx], dtype=np.int64)
            batch = np.zeros((len(idx), int(lengths.max()), self.params.n_mels), dtype=np.float32)
            for row, i in enumerate(idx):
                batch[row, : lengths[row]] = feats[i]
            inputs = {"features": batch, "lengths": lengths}
            if self.uses_stats:
                inputs["stats"] = np.stack([stats[i] for i in idx]).astype(np.float32).reshape(len(idx), N_STATS)
            with self._lock:
                (probs,) = self._session.run(["probs"], inputs)
            out[idx] = probs
        return out

    def _result(self, p: np.ndarray) -> EmotionResult:
        p = np.clip(p, 0.0, None)
        p = p / p.sum()
        probs = {label: float(p[i]) for i, label in enumerate(self.labels)}
        return EmotionResult(
            probs=probs,
            upset=float(min(1.0, p[self._negative_idx].sum())),
            label=self.labels[int(np.argmax(p))],
            model_version=self.version,
        )

    def score(self, audios: Sequence[np.ndarray]) -> list[EmotionResult]:
        """Score turns in batches; raises BadAudioError (naming the turn's index) if any turn is bad."""
        results = self.score_many(audios)
        for i, r in enumerate(results):
            if isinstance(r, BadAudioError):
                raise BadAudioError(f"turn {i}: {r}") from r
        return results  # type: ignore[return-value]

    def score_many(self, audios: Sequence[np.ndarray]) -> list[EmotionResult | BadAudioError]:
        """Like `score`, but a bad turn gets its BadAudioError in its slot and the others are scored."""
        chunk_feats: list[np.ndarray] = []
        chunk_stats: list[np.ndarray] = []
        owners: list[int] = []
        results: list[EmotionResult | BadAudioError | None] = [None] * len(audios)
        for i, audio in enumerate(audios):
            try:
                inputs = self.chunk_inputs(audio)
            except BadAudioError as exc:
                results[i] = exc
                continue
            chunk_feats.extend(f for f, _ in inputs)
            chunk_stats.extend(s for _, s in inputs)
            owners.extend([i] * len(inputs))
        if chunk_feats:
            probs = self.probabilities(chunk_feats, chunk_stats if self.uses_stats else None)
            weights = np.array([f.shape[0] for f in chunk_feats], dtype=np.float64)
            owners_arr = np.array(owners)
            for i in np.unique(owners_arr):
                sel = owners_arr == i
                results[int(i)] = self._result((probs[sel] * weights[sel, None]).sum(0) / weights[sel].sum())
        return results  # type: ignore[return-value]

    def score_one(self, audio: np.ndarray) -> EmotionResult:
        return self.score([audio])[0]


_default: EmotionModel | None = None
_default_lock = threading.Lock()


def load_default_model() -> EmotionModel:
    """The shipped model (models/emotion/emotion.onnx), loaded once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = EmotionModel()
        return _default
