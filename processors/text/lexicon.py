"""VADER extended for contact-center speech: domain words and phrases that plain VADER misreads.

Input: normalised text (see `normalize.py`).
Output: `DomainVader.scores(text) -> VaderScores` (compound in [-1, 1] plus VADER's pos/neg/neu shares
and the summed valence of the matched domain phrases).

Why: plain VADER counts "please", "help" and "thanks" as positive, so polite complaints ("please help,
my flight was cancelled again, thanks") come out positive; and it has no valence for what signals
trouble in service calls ("refund", "supervisor", "on hold for an hour", "third time I call").
Negation and intensifiers ("not", "never", "very", capitals, "!") keep VADER's own rules; the phrase
rules below add multi-word cues VADER cannot see token by token.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

VADER_ALPHA = 15.0
"""VADER's normalisation constant: compound = s / sqrt(s^2 + alpha)."""

LEXICON_OVERRIDES: dict[str, float] = {
    # politeness that plain VADER reads as praise
    "please": 0.2, "help": 0.3, "helping": 0.3, "thanks": 1.0, "thank": 0.9, "thx": 0.8,
    "appreciate": 1.2, "sorry": -0.3,
    # service trouble
    "cancel": -1.2, "cancelled": -1.5, "canceled": -1.5, "cancelling": -1.2, "canceling": -1.2,
    "cancellation": -1.2, "cancellations": -1.2, "refund": -1.0, "refunds": -1.0, "refunded": -0.3,
    "supervisor": -1.0, "escalate": -1.5, "complaint": -1.5, "complain": -1.5, "complaining": -1.5,
    "delayed": -1.5, "delay": -1.5, "delays": -1.5, "late": -1.0, "stranded": -2.0, "stuck": -1.5,
    "waiting": -0.5, "waited": -0.8, "overcharged": -2.0, "fee": -0.5, "fees": -0.8,
    "disconnected": -1.5, "rebook": -0.5, "rebooked": -0.5, "voucher": -0.3, "misplaced": -1.5,
    "unhelpful": -2.0, "incompetent": -2.5, "unprofessional": -2.0, "ridiculous": -2.0,
    "nightmare": -2.5, "joke": -1.0, "lied": -2.5, "scam": -2.5,
}

PHRASES: tuple[tuple[str, float], ...] = (
    # repeated contact, waiting, escalation
    (r"\b(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)|umpteenth) time\b", -2.0),
    (r"\b(?:called|calling|call) (?:\w+ )?(?:again|back again|every day|multiple times|several times)\b", -1.5),
    (r"\bon hold\b", -1.5),
    (r"\b(?:wait(?:ed|ing)?|hold|holding) (?:for )?(?:over |more than |almost |nearly )?"
     r"(?:an?|\d+|two|three|four|five|several|many) (?:hours?|hrs?|days?|weeks?)\b", -1.5),
    (r"\b(?:for|over) (?:an? )?(?:hours?|days?|weeks?)\b", -1.0),
    (r"\bstill (?:waiting|no\b|not\b|haven'?t|hasn'?t|on hold|stuck|nothing)", -1.5),
    (r"\b(?:speak|talk)(?:ing)? (?:to|with) (?:a |an |your |the )?(?:supervisor|manager|someone else|a real person|a human)\b", -2.0),
    (r"\b(?:want|need|demand|requesting|request)(?:ing)? (?:a |my |full )?(?:refund|money back|compensation)\b", -2.0),
    (r"\bcancel+(?:ed|ing)? (?:my|the|this|our) (?:account|subscription|service|contract|order|membership|plan)\b", -1.5),
    (r"\b(?:no ?one|nobody) (?:\w+ )?(?:help|answer|call|respond|care|know)", -1.5),
    (r"\bwaste of (?:my )?(?:time|money)\b", -2.5),
    (r"\b(?:thanks|thank you) for nothing\b", -3.0),
    (r"\b(?:hung|hang|hanging) up on (?:me|us)\b", -2.5),
    (r"\bnever (?:again|fly(?:ing)? with|use|using|buy(?:ing)? from|recommend)\b", -2.0),
    (r"\b(?:file|filing|make|lodge) (?:a )?(?:formal )?complaint\b", -2.0),
    (r"\b(?:lawyer|attorney|legal action|small claims|better business bureau|bbb)\b", -2.0),
    (r"\b(?:does|did|is|was|are|were|has|have|could|can|will|would)(?:n'?t| not) (?:work|working|get|got|receive|received|arrive|arrived|help|helped|answer|respond|fix|fixed|show|showed)\b", -1.5),
    (r"\bnot working\b", -1.5),
    (r"\b(?:no|without any|without) (?:response|answer|reply|help|update|updates|information|info|explanation|call ?back)\b", -1.5),
    (r"\bcan'?t (?:get|reach|find|believe|log ?in|access)\b", -1.5),
    (r"\b(?:lost|missing|damaged) (?:my |our )?(?:bag|bags|luggage|baggage|package|order|parcel)\b", -1.5),
    (r"\bwhat a (?:joke|mess|disaster)\b", -2.0),
    (r"\b(?:customer|your) (?:service|support) (?:is|was) (?:\w+ )?(?:terrible|awful|horrible|useless|a joke)\b", -1.0),
    # resolution and genuine praise
    (r"\b(?:problem|issue|it) (?:is |was |has been |got )?(?:solved|resolved|fixed|sorted)\b", 2.0),
    (r"\b(?:that|this|you) (?:really )?(?:helps|helped|worked|works)\b", 1.5),
    (r"\b(?:you|you'?ve|you have|you were|you'?re|you are) (?:been )?(?:very |so |really |super )?(?:helpful|amazing|great|awesome|wonderful|fantastic|the best)\b", 1.5),
    (r"\b(?:great|excellent|amazing|awesome|fantastic|wonderful) (?:service|job|crew|staff|flight|experience|support)\b", 1.0),
)

_COMPILED = tuple((re.compile(p), v) for p, v in PHRASES)  # patterns are lower-case; text is lowered once


@dataclass(frozen=True)
class VaderScores:
    compound: float
    pos: float
    neg: float
    neu: float
    phrase_valence: float
    """Sum of the matched domain phrases' valences (0 when none matched)."""


def _raw_sum(compound: float) -> float:
    """Invert VADER's normalisation to get back the summed valence."""
    c = max(min(compound, 0.9999), -0.9999)
    return c * math.sqrt(VADER_ALPHA / (1.0 - c * c))


def phrase_valence(text: str) -> float:
    lowered = text.lower()
    return float(sum(v * len(p.findall(lowered)) for p, v in _COMPILED))


class DomainVader:
    """VADER with contact-center lexicon overrides and phrase rules (one instance per process is enough)."""

    def __init__(self, extended: bool = True) -> None:
        self._sia = SentimentIntensityAnalyzer()
        self.extended = extended
        if extended:
            self._sia.lexicon.update(LEXICON_OVERRIDES)

    def scores(self, text: str) -> VaderScores:
        s = self._sia.polarity_scores(text)
        phrase = phrase_valence(text) if self.extended else 0.0
        total = _raw_sum(s["compound"]) + phrase
        compound = total / math.sqrt(total * total + VADER_ALPHA)
        return VaderScores(compound=compound, pos=s["pos"], neg=s["neg"], neu=s["neu"], phrase_valence=phrase)

    def compound(self, text: str) -> float:
        return self.scores(text).compound
