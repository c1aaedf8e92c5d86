"""TF-IDF n-gram features computed with plain Python + numpy, matching scikit-learn's
`TfidfVectorizer(sublinear_tf=True, norm="l2")` for word n-grams and `analyzer="char_wb"` char
n-grams, so the trained model runs without scikit-learn (parity is checked when training).

Input: model text (lower-cased, see `normalize.model_text`).
Output: `NgramSpace.sparse(text) -> (indices, values)` of one L2-normalised TF-IDF row.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

WORD_TOKEN_PATTERN = r"(?u)[\w']+"


def word_ngrams(text: str, n_min: int, n_max: int, pattern: re.Pattern[str]) -> list[str]:
    tokens = pattern.findall(text)
    grams: list[str] = []
    for n in range(n_min, n_max + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, n_min: int, n_max: int) -> list[str]:
    """scikit-learn's `_char_wb_ngrams`: n-grams inside space-padded words; a word shorter than n
    is counted once, whole."""
    grams: list[str] = []
    for word in text.split():
        w = f" {word} "
        for n in range(n_min, n_max + 1):
            offset = 0
            grams.append(w[offset : offset + n])
            while offset + n < len(w):
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:
                break
    return grams


@dataclass
class NgramSpace:
    """One fitted vectorizer: vocabulary (n-gram -> column) and idf per column."""

    analyzer: str
    """"word" or "char_wb"."""
    n_min: int
    n_max: int
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int = 0
    """Column of this space's first feature in the concatenated feature vector."""

    def __post_init__(self) -> None:
        self._pattern = re.compile(WORD_TOKEN_PATTERN)

    def grams(self, text: str) -> list[str]:
        if self.analyzer == "word":
            return word_ngrams(text, self.n_min, self.n_max, self._pattern)
        return char_wb_ngrams(text, self.n_min, self.n_max)

    def sparse(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocabulary
        counts = Counter(j for g in self.grams(text) if (j := vocab.get(g)) is not None)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
        vals = tf * self.idf[idx]
        norm = float(np.sqrt(vals @ vals))
        return idx + self.offset, vals / norm if norm > 0 else vals
