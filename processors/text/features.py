"""Dense lexicon features the polarity model reads beside its n-grams (shared by training and runtime).

Input: normalised text (see `normalize.normalize_text`), case kept.
Output: `LexiconFeatures.vector(text) -> list[float]` in the order of `DENSE_FEATURES`.
"""

from __future__ import annotations

from processors.text.lexicon import DomainVader

DENSE_FEATURES: tuple[str, ...] = ("domain_compound", "domain_pos", "domain_neg", "domain_phrases")
"""Plain VADER's scores were dropped: with them, cross-validated macro-F1 did not change (0.7434 vs
0.7446 without) and each segment paid for a second VADER pass."""
PHRASE_SCALE = 3.0
"""Phrase valences are summed then divided by this and clipped to [-1, 1], like the other features."""


class LexiconFeatures:
    def __init__(self) -> None:
        self.domain = DomainVader(extended=True)

    def vector(self, text: str) -> list[float]:
        d = self.domain.scores(text)
        phrases = max(-1.0, min(1.0, d.phrase_valence / PHRASE_SCALE))
        return [d.compound, d.pos, d.neg, phrases]
