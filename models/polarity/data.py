"""The labelled text sets and the one fixed airline split every polarity figure is measured on.

Input: `text,label` CSV files under the shared data folder (labels negative / neutral / positive).
Output: `LabelledText` rows; `airline_split(rows) -> (train, held_out)`.

The split is by a hash of the normalised text, not by a random draw: it needs no seed or library
version to reproduce, and identical texts ("thank you!" appears 21 times) always fall on the same
side, so no held-out sentence is ever seen in training. About 20% of each class is held out.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from processors.text.normalize import model_text

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
AIRLINE_CSV = ("text", "airline_tweets.csv")
UCI_CSV = ("text", "uci_labelled_sentences.csv")
HELD_OUT_BUCKETS = 5
"""1 bucket of 5 (20%) is held out."""


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str


def load_labelled(path: str | Path) -> list[LabelledText]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [LabelledText(r["text"], r["label"].strip()) for r in csv.DictReader(fh)]
    bad = {r.label for r in rows} - set(LABELS)
    if bad:
        raise ValueError(f"{path}: unknown labels {sorted(bad)}")
    return rows


def is_held_out(text: str) -> bool:
    digest = hashlib.sha1(model_text(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HELD_OUT_BUCKETS == 0


def airline_split(rows: list[LabelledText]) -> tuple[list[LabelledText], list[LabelledText]]:
    train = [r for r in rows if not is_held_out(r.text)]
    held_out = [r for r in rows if is_held_out(r.text)]
    return train, held_out


def macro_f1(truth: list[str], predicted: list[str], labels: tuple[str, ...] | None = None) -> float:
    """Macro-averaged F1 over `labels` (default: the labels present in `truth`), no sklearn needed."""
    labels = labels or tuple(sorted(set(truth)))
    f1s = []
    for lab in labels:
        tp = sum(t == lab and p == lab for t, p in zip(truth, predicted))
        fp = sum(t != lab and p == lab for t, p in zip(truth, predicted))
        fn = sum(t == lab and p != lab for t, p in zip(truth, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)
