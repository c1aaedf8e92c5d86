"""Train the transcript polarity model and export it as plain arrays (`polarity_v1.npz`).

Model: logistic regression (3 classes) over TF-IDF word 1-2-grams + char 2-5-grams (within words)
+ contact-center VADER features (processors/text/features.py). Training needs scikit-learn; the runtime
(`processors/text/polarity.py`) needs only numpy and vaderSentiment.

Data: the training part of the fixed airline split (`data.airline_split`); the held-out part is
never read here except for the final parity check and a printed figure. Hyper-parameters (C,
class weights) and the label threshold are chosen by 5-fold cross-validation on the training part.

Run: python -m models.polarity.train [--data DIR] [--out models/polarity/polarity_v1.npz]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from models.polarity.data import AIRLINE_CSV, LABELS, airline_split, load_labelled, macro_f1
from processors.text.features import DENSE_FEATURES, LexiconFeatures
from processors.text.ngrams import char_wb_ngrams, word_ngrams, WORD_TOKEN_PATTERN
from processors.text.normalize import model_text, normalize_text
from processors.text.polarity import (LABEL_THRESHOLD, MODEL_FORMAT, PolarityScorer, label_from_polarity,
                                      polarity_from_probabilities)

WORD_RANGE = (1, 2)
CHAR_RANGE = (2, 5)
WORD_MIN_DF = 2
CHAR_MIN_DF = 3
C_GRID = (1.0, 3.0)
CLASS_WEIGHTS = (None, "balanced")
THRESHOLD_GRID = tuple(round(float(t), 3) for t in np.arange(0.05, 0.501, 0.025))
DEFAULT_OUT = Path(__file__).with_name("polarity_v1.npz")
MODEL_VERSION = "polarity-tfidf-vader-lr-v1"

_WORD = re.compile(WORD_TOKEN_PATTERN)


def _identity(grams: list[str]) -> list[str]:
    return grams


def _vectorizer(min_df: int) -> TfidfVectorizer:
    # n-grams are produced by the runtime's own functions, so training and runtime agree by construction
    return TfidfVectorizer(analyzer=_identity, min_df=min_df, sublinear_tf=True, norm="l2", dtype=np.float64)


class Featurized:
    """N-gram lists and dense features of a list of texts, computed once."""

    def __init__(self, texts: list[str], lex: LexiconFeatures) -> None:
        lowered = [model_text(t) for t in texts]
        self.words = [word_ngrams(t, *WORD_RANGE, _WORD) for t in lowered]
        self.chars = [char_wb_ngrams(t, *CHAR_RANGE) for t in lowered]
        self.dense = np.array([lex.vector(normalize_text(t)) for t in texts], dtype=np.float64)

    def subset(self, idx: np.ndarray) -> "Featurized":
        out = object.__new__(Featurized)
        out.words = [self.words[i] for i in idx]
        out.chars = [self.chars[i] for i in idx]
        out.dense = self.dense[idx]
        return out


class Pipeline:
    def __init__(self, C: float, class_weight: str | None) -> None:
        self.word = _vectorizer(WORD_MIN_DF)
        self.char = _vectorizer(CHAR_MIN_DF)
        self.clf = LogisticRegression(C=C, class_weight=class_weight, max_iter=5000)

    def _matrix(self, f: Featurized, fit: bool) -> csr_matrix:
        w = self.word.fit_transform(f.words) if fit else self.word.transform(f.words)
        c = self.char.fit_transform(f.chars) if fit else self.char.transform(f.chars)
        return hstack([w, c, csr_matrix(f.dense)]).tocsr()

    def fit(self, f: Featurized, y: list[str]) -> "Pipeline":
        self.clf.fit(self._matrix(f, fit=True), y)
        assert tuple(self.clf.classes_) == LABELS
        return self

    def proba(self, f: Featurized) -> np.ndarray:
        return self.clf.predict_proba(self._matrix(f, fit=False))


def polarity_of(proba: np.ndarray) -> np.ndarray:
    return np.array([polarity_from_probabilities(*row) for row in proba])


def cross_validate(f: Featurized, y: np.ndarray) -> tuple[dict, np.ndarray]:
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(y, y))
    best: dict | None = None
    best_oof = None
    for C in C_GRID:
        for cw in CLASS_WEIGHTS:
            oof = np.zeros((len(y), len(LABELS)))
            for tr, va in folds:
                oof[va] = Pipeline(C, cw).fit(f.subset(tr), list(y[tr])).proba(f.subset(va))
            pol = polarity_of(oof)
            by_t = {t: macro_f1(list(y), [label_from_polarity(p, t) for p in pol], LABELS) for t in THRESHOLD_GRID}
            t_best = max(by_t, key=by_t.get)
            argmax_f1 = macro_f1(list(y), [LABELS[i] for i in oof.argmax(1)], LABELS)
            row = {"C": C, "class_weight": cw, "threshold": t_best, "cv_macro_f1": by_t[t_best],
                   "cv_macro_f1_argmax": argmax_f1, "cv_f1_by_threshold": by_t}
            print(json.dumps({k: v for k, v in row.items() if k != "cv_f1_by_threshold"}), flush=True)
            if best is None or row["cv_macro_f1"] > best["cv_macro_f1"]:
                best, best_oof = row, oof
    return best, best_oof


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """One temperature on the logits that minimises out-of-fold log-loss (keeps the argmax)."""
    logits = np.log(np.clip(proba, 1e-12, 1.0))
    target = np.array([LABELS.index(v) for v in y])
    best_t, best_loss = 1.0, np.inf
    for t in np.arange(0.5, 2.01, 0.05):
        p = _softmax(logits / t)
        loss = -np.log(p[np.arange(len(y)), target]).mean()
        if loss < best_loss:
            best_t, best_loss = float(t), float(loss)
    return round(best_t, 2)


def export(pipe: Pipeline, meta: dict, out: Path) -> None:
    def vocab_blob(vec: TfidfVectorizer) -> tuple[np.ndarray, int]:
        terms = [""] * len(vec.vocabulary_)
        for term, j in vec.vocabulary_.items():
            terms[j] = term
        assert not any("\n" in t for t in terms)
        return np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8), len(terms)

    word_blob, n_word = vocab_blob(pipe.word)
    char_blob, n_char = vocab_blob(pipe.char)
    config = {
        "format": MODEL_FORMAT, "model_version": MODEL_VERSION, "labels": list(LABELS),
        "spaces": [
            {"name": "word", "analyzer": "word", "n_min": WORD_RANGE[0], "n_max": WORD_RANGE[1], "size": n_word},
            {"name": "char", "analyzer": "char_wb", "n_min": CHAR_RANGE[0], "n_max": CHAR_RANGE[1], "size": n_char},
        ],
        "dense_features": list(DENSE_FEATURES),
        **meta,
    }
    np.savez_compressed(
        out,
        config=np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8),
        vocab_word=word_blob, idf_word=pipe.word.idf_.astype(np.float32),
        vocab_char=char_blob, idf_char=pipe.char.idf_.astype(np.float32),
        coef=pipe.clf.coef_.astype(np.float32), intercept=pipe.clf.intercept_.astype(np.float32),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("CALLPULSE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=default_data)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    t0 = time.time()
    rows = load_labelled(args.data.joinpath(*AIRLINE_CSV))
    train, held_out = airline_split(rows)
    lex = LexiconFeatures()
    f_train = Featurized([r.text for r in train], lex)
    y = np.array([r.label for r in train])
    print(f"train {len(train)} held-out {len(held_out)}; featurized in {time.time() - t0:.1f}s", flush=True)

    best, oof = cross_validate(f_train, y)
    temperature = fit_temperature(oof, y)
    scaled = _softmax(np.log(np.clip(oof, 1e-12, 1.0)) / temperature)
    pol = polarity_of(scaled)
    by_t = {t: round(macro_f1(list(y), [label_from_polarity(p, t) for p in pol], LABELS), 4) for t in THRESHOLD_GRID}
    print("cv macro-F1 by label threshold (temperature-scaled):", json.dumps(by_t))
    cv_threshold = max(by_t, key=by_t.get)
    if abs(cv_threshold - LABEL_THRESHOLD) > 1e-9:
        print(f"NOTE: cross-validation prefers label threshold {cv_threshold}, "
              f"processors/text/polarity.LABEL_THRESHOLD is {LABEL_THRESHOLD}")
    pipe = Pipeline(best["C"], best["class_weight"]).fit(f_train, list(y))
    meta = {"C": best["C"], "class_weight": best["class_weight"], "cv_threshold": cv_threshold,
            "cv_macro_f1_at_label_threshold": by_t.get(LABEL_THRESHOLD), "cv_macro_f1_by_threshold": by_t, "temperature": temperature,
            "train_rows": len(train), "trained_on": "airline_tweets.csv, training part of data.airline_split"}
    export(pipe, meta, args.out)

    # parity: the numpy runtime must reproduce scikit-learn's probabilities on unseen text
    f_held = Featurized([r.text for r in held_out], lex)
    sk = pipe.proba(f_held)
    runtime = PolarityScorer(args.out, temperature=1.0)
    rt = np.array([runtime.probabilities(r.text) for r in held_out])
    gap = float(np.abs(sk - rt).max())
    print(f"parity max |p_sklearn - p_runtime| = {gap:.2e}")
    assert gap < 1e-4, gap
    print(json.dumps(meta))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
