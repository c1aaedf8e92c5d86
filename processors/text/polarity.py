"""Polarity of transcript text in [-1, 1], offline, without torch or scikit-learn.

Input: text of one transcript segment (or any short utterance).
Output: `PolarityScorer.score(text) -> float` in [-1, 1]:

    polarity = (P(positive) - P(negative)) * (1 - P(neutral))

the expected sentiment on a -1 / 0 / +1 scale, discounted by how likely the text is neutral, so a
question or a bare fact scores near 0 even when its remaining probability leans one way (this is
what lets one threshold pair on the polarity reproduce the model's 3-class decisions; see the model
card). `PolarityScorer.label(p)` maps it to "negative" / "neutral" / "positive";
`PolarityScorer.probabilities(text)` gives the calibrated class probabilities themselves.

Model (see models/polarity/MODEL_CARD.md): logistic regression over TF-IDF word and char n-grams
plus contact-center VADER features, trained on airline customer-service tweets and
shipped as plain numpy arrays (`models/polarity/polarity_v1.npz`).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from processors.text.features import DENSE_FEATURES, LexiconFeatures
from processors.text.ngrams import NgramSpace
from processors.text.normalize import normalize_text

MODEL_FORMAT = 1
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "polarity" / "polarity_v1.npz"
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

LABEL_THRESHOLD = 0.125
"""label(p): "positive" if p >= +0.125, "negative" if p <= -0.125, else "neutral". The value is the
threshold that gave the best 5-fold cross-validated macro-F1 on the training part of the airline
split (models/polarity/train.py prints the table)."""


CHUNK_CHARS = 400
"""Longer texts are scored in whitespace-bounded pieces of at most this many characters and their
probabilities averaged, weighted by length: VADER's cost grows with the square of the text length
(10,000 characters took 0.35 s in one piece), chunks keep it linear. Every tweet and almost every
ASR segment fits in one piece, so this changes nothing the model was evaluated on."""
MAX_TEXT_CHARS = 20_000
"""Only the last 20,000 characters (~3,500 words, ~20 minutes of speech) of a longer text are scored,
so one runaway segment cannot stall the worker (~0.1 s worst case)."""


def split_chunks(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Pack whitespace-separated words into pieces of at most `limit` characters (a longer word is cut)."""
    chunks: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            chunks.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        chunks.append(current)
    return chunks


class PolarityModelError(ValueError):
    """The weights file is missing, of another format, or inconsistent."""


def polarity_from_probabilities(p_negative: float, p_neutral: float, p_positive: float) -> float:
    return float(min(1.0, max(-1.0, (p_positive - p_negative) * (1.0 - p_neutral))))


def label_from_polarity(polarity: float, threshold: float = LABEL_THRESHOLD) -> str:
    if polarity >= threshold:
        return "positive"
    if polarity <= -threshold:
        return "negative"
    return "neutral"


class PolarityScorer:
    """Scores text polarity; one instance can be shared by all calls (it keeps no per-call state)."""

    def __init__(self, model_path: str | Path | None = None, temperature: float | None = None) -> None:
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        try:
            arrays = np.load(path, allow_pickle=False)
            config = json.loads(arrays["config"].tobytes().decode("utf-8"))
        except (OSError, KeyError, ValueError) as exc:
            raise PolarityModelError(f"cannot load polarity model {path}: {exc}") from exc
        if config.get("format") != MODEL_FORMAT or tuple(config.get("labels", ())) != LABELS:
            raise PolarityModelError(f"{path}: format {config.get('format')} / labels {config.get('labels')} "
                                     f"not supported (want format {MODEL_FORMAT}, labels {LABELS})")
        if tuple(config["dense_features"]) != DENSE_FEATURES:
            raise PolarityModelError(f"{path}: dense features {config['dense_features']} != {DENSE_FEATURES}")
        self.model_version: str = config["model_version"]
        self.config = config
        self.temperature = float(config.get("temperature", 1.0) if temperature is None else temperature)

        offset = 0
        self._spaces: list[NgramSpace] = []
        for spec in config["spaces"]:
            terms = arrays[f"vocab_{spec['name']}"].tobytes().decode("utf-8").split("\n")
            idf = arrays[f"idf_{spec['name']}"].astype(np.float64)
            if len(terms) != spec["size"] or len(idf) != spec["size"]:
                raise PolarityModelError(f"{path}: vocabulary '{spec['name']}' has {len(terms)} terms, "
                                         f"{len(idf)} idf values, config says {spec['size']}")
            self._spaces.append(NgramSpace(spec["analyzer"], spec["n_min"], spec["n_max"],
                                           {t: j for j, t in enumerate(terms)}, idf, offset))
            offset += spec["size"]
        coef = arrays["coef"].astype(np.float64)
        if coef.shape != (len(LABELS), offset + len(DENSE_FEATURES)):
            raise PolarityModelError(f"{path}: weights of shape {coef.shape} do not match the features")
        self._w_sparse = np.ascontiguousarray(coef[:, :offset].T)  # (n_features, 3): gather rows
        self._w_dense = coef[:, offset:]
        self._intercept = arrays["intercept"].astype(np.float64)
        self._lexicon = LexiconFeatures()

    def probabilities(self, text: str) -> np.ndarray:
        """P(negative), P(neutral), P(positive) of one text (in LABELS order)."""
        if not isinstance(text, str):
            raise TypeError(f"polarity needs str text, got {type(text).__name__}")
        text = normalize_text(text[-MAX_TEXT_CHARS:])
        if len(text) <= CHUNK_CHARS:
            return self._probabilities_one(text)
        chunks = split_chunks(text)
        weights = np.array([len(c) for c in chunks], dtype=np.float64)
        probs = np.array([self._probabilities_one(c) for c in chunks])
        return weights @ probs / weights.sum()

    def _probabilities_one(self, text: str) -> np.ndarray:
        """Probabilities of one piece of already normalised text."""
        logits = self._intercept + self._w_dense @ np.asarray(self._lexicon.vector(text))
        lowered = text.lower()  # == normalize.model_text of the raw text
        for space in self._spaces:
            idx, vals = space.sparse(lowered)
            if len(idx):
                logits = logits + vals @ self._w_sparse[idx]
        z = logits / self.temperature
        z = np.exp(z - z.max())
        return z / z.sum()

    def score(self, text: str) -> float:
        """(P(pos) - P(neg)) * (1 - P(neutral)), in [-1, 1]; 0.0 for text with no letters or digits."""
        if isinstance(text, str) and not any(ch.isalnum() for ch in text):
            return 0.0
        return polarity_from_probabilities(*self.probabilities(text))

    def score_many(self, texts: Sequence[str]) -> list[float]:
        return [self.score(t) for t in texts]

    @staticmethod
    def label(polarity: float) -> str:
        """"negative" if polarity <= -LABEL_THRESHOLD, "positive" if >= +LABEL_THRESHOLD, else "neutral"."""
        if not isinstance(polarity, (int, float)) or math.isnan(polarity):
            raise ValueError(f"polarity must be a number, got {polarity!r}")
        return label_from_polarity(float(polarity))


@lru_cache(maxsize=1)
def load_default_scorer() -> PolarityScorer:
    """The shipped model, loaded once per process (about 0.2 s)."""
    return PolarityScorer()
