"""Word error rate, for measuring transcribers against known transcripts.

Input: reference and hypothesis strings. Output: `WerCounts` (edits, reference words) or a rate.
Both sides are lower-cased and stripped of punctuation first, so "Kids are talking by the door."
and "kids are talking by the door" match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return [w.strip("'") for w in _WORD.findall(text.lower()) if w.strip("'")]


@dataclass(frozen=True)
class WerCounts:
    edits: int
    reference_words: int

    @property
    def rate(self) -> float:
        return self.edits / self.reference_words if self.reference_words else float(self.edits > 0)


def wer_counts(reference: str, hypothesis: str) -> WerCounts:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    ref, hyp = words(reference), words(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return WerCounts(edits=prev[-1], reference_words=len(ref))


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    """Total edits / total reference words over (reference, hypothesis) pairs."""
    counts = [wer_counts(r, h) for r, h in pairs]
    total = sum(c.reference_words for c in counts)
    return sum(c.edits for c in counts) / total if total else 0.0
