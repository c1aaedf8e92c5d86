"""Dense lexicon features the polarity model reads beside its n-grams (shared by training and runtime).

Input: normalised text (see `normalize.normalize_text`), case kept.
Output: `LexiconFeatures.vector(text) -> list[float]` in the order of `DENSE_FEATURES`.
"""

from __future__ import annotations

from processors.text.lexicon import DomainVader

DENSE_FEATURES: tuple[str, ...] = (
    "vader_compound", "vader_pos", "vader_neg",
    "domain_compound", "domain_pos", "domain_neg", "domain_phrases",
)
PHRASE_SCALE = 3.0
"""Phrase valences are summed then divided by this and clipped to [-1, 1], like the other features."""


class LexiconFeatures:
    def __init__(self) -> None:
        self.plain = DomainVader(extended=False)
        self.domain = DomainVader(extended=True)

    def vector(self, text: str) -> list[float]:
        p = self.plain.scores(text)
        d = self.domain.scores(text)
        phrases = max(-1.0, min(1.0, d.phrase_valence / PHRASE_SCALE))
        return [p.compound, p.pos, p.neg, d.compound, d.pos, d.neg, phrases]
