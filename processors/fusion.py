"""Fuse voice (emotion model) and words (transcript polarity) into one negativity per turn.

Input:  a turn's timing, its `EmotionResult` (or None: not scored / scoring off / not yet back) and the
        text + polarity of the transcript words overlapping it (or None: no words yet).
Output: `FusedTurn` (negativity and confidence in [0, 1]).

The rule is a confidence-weighted average of the two modality scores:

    voice score  v = relative_voice(EmotionResult.upset, caller baseline)   (P(angry|disgust|fear|sad), read
                                                               against this caller's first turns; below)
    words score  w = max(0, -polarity)                        (only negative words count as upset;
                                                               neutral and positive words pull towards 0)
    voice evidence  e_v = voice_weight * min(1, duration / voice_full_s) * (0.5 + 0.5 * |2v - 1|)
    words evidence  e_w = words_weight * n / (n + words_half_n) * (f + (1 - f) * |polarity|),
                    f = words_neutral_evidence
    negativity   = (e_v * v + e_w * w) / (e_v + e_w)
    confidence   = (e_v + e_w) / (voice_weight + words_weight) * agreement,  agreement = 1 - |v - w|
                   when both modalities are present, 1 otherwise

Why: a short turn gives the model little audio, so its voice evidence shrinks below `voice_full_s`; a
transcript of two words says little, so words evidence grows with the word count (half at `words_half_n`
words) and with the polarity's strength.  A missing modality has zero evidence, so the score is simply
the other one's.

Per-call customer baseline (`baseline_turns` > 0, on by default).  The emotion model's upset probability
carries a per-speaker offset: on the assembled calls the mean score of a customer's *calm* clips ranges
over speakers with sd 0.095 (mean 0.49), while a speaker's upset clips score ~0.19 higher than their calm
ones.  Escalation is a change from how this caller sounded when calm, so the voice score of a customer
turn is read relative to the mean raw score of the call's first `baseline_turns` customer turns that
started before it, shrunk towards `baseline_prior` (`voice_baseline`, `relative_voice`: a logit shift).
The call chain keeps that list in its state and revises turns when an out-of-order turn joins it, so the
result does not depend on arrival order (`processors.call_chain`).  `FusedTurn.voice_upset` stays the raw
score.  Cost: a caller upset from the first words gets part of their upset absorbed into the baseline
(4 turns + 2 pseudo-turns of the prior: at most 2/3 of the offset).

Weights, measured (`bench/assembled_calls.py`, 128 calls, speaker-held-out fold models of emotion model
2.0 in build/folds4, words = a *synthetic* pairing of held-out airline tweets with the clips' labels,
every call reported with knobs tuned on the other folds).  Customer-turn AUC upset-vs-calm: voice 0.77
raw / 0.78 with the baseline, words 0.92, fused 0.95.  The defaults (voice 0.35 / words 0.65, baseline 4
turns) are the grid choice on the tuning folds [0, 1] (grid: voice weight 0.35 / 0.5 / 0.65, baseline
off / 4 turns) for one config serving calls with and without transcripts; bench/results/assembled_calls.txt
has the call-level table.  Caveat: in that pairing neutral words come only with calm clips, so neutral
words *are* calm evidence there; in real calls an upset customer often speaks neutral words (the demo
calls speak the corpus' neutral sentences angrily: with transcripts and f = 0.5 the upset demo call does
not alert; f = 0.05 does).  `words_neutral_evidence` is the knob for that; 0.5 is what the bench supports.

False alerts there (bench "false alert" lines, 2026-11-22 run: 6 with the fused knobs, 1 with the shipped
ones): in every one, the words of a *calm* clip (a neutral or positive held-out tweet) score -0.67 to
-0.92 with the polarity model, and the voice is mid-range or high; voice only removes 4 of the 6 fused ones.
Turning the baseline off removes 2 (callers whose calm turns score low, 0.27-0.34 raw, lifted to 0.40-0.52
by the baseline) and 2 windows in a row 3 (at ~5 s more latency); re-arming plays no part (all are first
episodes).  The shipped one (voice 0.87 / 0.65, words -0.81 twice) survives every change tried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from processors.types import FusedTurn, TranscriptSegment

FUSION_MODES = ("fused", "voice", "words")


@dataclass(frozen=True)
class FusionConfig:
    voice_weight: float = 0.35
    """Base weight of the voice score (see module docstring for the rule)."""
    words_weight: float = 0.65
    """Base weight of the words score."""
    voice_full_s: float = 1.5
    """Turns at least this long get full voice evidence; shorter ones proportionally less."""
    words_half_n: float = 8.0
    """Word count at which the words evidence reaches half its base weight."""
    words_neutral_evidence: float = 0.5
    """Words evidence at polarity 0, as a share of that at |polarity| = 1 (linear in between): how much
    neutral words count as evidence of calm.  Low values let an angry voice speaking neutral words
    ("my order number is 4 5 6") stay upset; 1 treats every polarity as equally sure."""
    mode: str = "fused"
    """"fused", or "voice" / "words" to use one modality only (for measuring what fusion buys)."""
    baseline_turns: int = 4
    """Per-call customer baseline (see `relative_voice`): the voice score of a customer turn is read
    relative to the mean voice score of the call's first `baseline_turns` customer turns that started
    before it; 0 turns the baseline off (raw scores)."""
    baseline_prior: float = 0.5
    """Voice upset score of a typical calm caller: the baseline starts here and a caller whose calm turns
    score this gets no shift."""
    baseline_prior_weight: float = 2.0
    """Pseudo-turns of `baseline_prior` mixed into the baseline (shrinks the shift while few turns are in)."""

    def __post_init__(self) -> None:
        if self.mode not in FUSION_MODES:
            raise ValueError(f"fusion mode must be one of {FUSION_MODES}, got {self.mode!r}")
        if self.voice_weight < 0 or self.words_weight < 0 or self.voice_weight + self.words_weight <= 0:
            raise ValueError("fusion weights must be non-negative and not both zero")
        if self.voice_full_s <= 0 or self.words_half_n <= 0:
            raise ValueError("voice_full_s and words_half_n must be positive")
        if not 0.0 <= self.words_neutral_evidence <= 1.0:
            raise ValueError("words_neutral_evidence must be in [0, 1]")
        if self.baseline_turns < 0 or self.baseline_prior_weight <= 0 or not 0.0 < self.baseline_prior < 1.0:
            raise ValueError("need baseline_turns >= 0, baseline_prior_weight > 0 and 0 < baseline_prior < 1")


@dataclass(frozen=True)
class FusionScore:
    negativity: float
    confidence: float


def words_score(polarity: float) -> float:
    """Upset score of the words: negative polarity only, in [0, 1]."""
    return min(1.0, max(0.0, -float(polarity)))


_EPS = 1e-4


def _logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


def voice_baseline(earlier_scores: list[float], config: FusionConfig) -> float:
    """The caller's baseline: mean of the earlier customer turns' raw voice scores (at most
    `baseline_turns` of them) shrunk towards `baseline_prior` by `baseline_prior_weight` pseudo-turns."""
    used = earlier_scores[: config.baseline_turns]
    return (config.baseline_prior * config.baseline_prior_weight + sum(used)) / (config.baseline_prior_weight + len(used))


def relative_voice(voice_upset: float, baseline: float | None, config: FusionConfig) -> float:
    """Raw voice score read relative to the caller's baseline, on the logit scale:

        v_rel = sigmoid(logit(v) - logit(baseline) + logit(baseline_prior))

    Why: the emotion model's upset probability has a per-speaker offset (some voices score 0.6 while calm,
    others 0.05 while angry); escalation is a *change* from how this caller sounded when calm.  A caller at
    the prior gets v back unchanged; the logit keeps the result in (0, 1) and moves mid-range scores most.
    `baseline=None` (baseline off, or not a customer turn) returns v."""
    v = min(1.0, max(0.0, float(voice_upset)))
    if baseline is None:
        return v
    z = _logit(v) - _logit(baseline) + _logit(config.baseline_prior)
    return 1.0 / (1.0 + math.exp(-z))


def fuse_scores(
    voice_upset: float | None,
    duration_s: float,
    polarity: float | None,
    n_words: int,
    config: FusionConfig = FusionConfig(),
) -> FusionScore:
    """The pure fusion rule (module docstring). Either modality may be None."""
    if config.mode == "words":
        voice_upset = None
    elif config.mode == "voice":
        polarity = None
    if polarity is not None and n_words <= 0:
        polarity = None
    ev = 0.0
    v = 0.0
    if voice_upset is not None:
        v = min(1.0, max(0.0, float(voice_upset)))
        dur = min(1.0, max(0.0, duration_s) / config.voice_full_s)
        ev = config.voice_weight * dur * (0.5 + 0.5 * abs(2.0 * v - 1.0))
    ew = 0.0
    w = 0.0
    if polarity is not None:
        p = min(1.0, max(-1.0, float(polarity)))
        w = words_score(p)
        floor = config.words_neutral_evidence
        ew = config.words_weight * (n_words / (n_words + config.words_half_n)) * (floor + (1.0 - floor) * abs(p))
    total = ev + ew
    if voice_upset is None and polarity is None:
        return FusionScore(0.0, 0.0)
    if total <= 0.0:  # e.g. a zero-length turn: no evidence either way, keep the plain average
        parts = [x for x, present in ((v, voice_upset is not None), (w, polarity is not None)) if present]
        return FusionScore(sum(parts) / len(parts), 0.0)
    negativity = (ev * v + ew * w) / total
    agreement = 1.0 - abs(v - w) if (voice_upset is not None and polarity is not None) else 1.0
    confidence = min(1.0, total / (config.voice_weight + config.words_weight)) * agreement
    return FusionScore(min(1.0, max(0.0, negativity)), min(1.0, max(0.0, confidence)))


def segment_belongs_to_turn(seg: TranscriptSegment, speaker: str, start_s: float, end_s: float) -> bool:
    """A segment counts for a turn of the same speaker when the overlap covers half of either one.

    Pairwise and order-free, so the text of a turn does not depend on which turn or segment came first.
    """
    if seg.speaker != speaker:
        return False
    overlap = min(seg.end_s, end_s) - max(seg.start_s, start_s)
    if overlap <= 0:
        return False
    seg_len = max(seg.end_s - seg.start_s, 1e-9)
    turn_len = max(end_s - start_s, 1e-9)
    return overlap >= 0.5 * seg_len or overlap >= 0.5 * turn_len


def turn_text(segments: list[TranscriptSegment]) -> str:
    """Text of the segments, in time order (ties by id, so the result is order-free)."""
    ordered = sorted(segments, key=lambda s: (s.start_s, s.end_s, s.segment_id))
    return " ".join(s.text.strip() for s in ordered if s.text.strip())


def fuse_turn(
    call_id: str,
    turn_id: str,
    speaker: str,
    start_s: float,
    end_s: float,
    voice_upset: float | None,
    emotion_label: str | None,
    text: str,
    polarity: float | None,
    config: FusionConfig = FusionConfig(),
    revision: int = 0,
    voice_baseline: float | None = None,
) -> FusedTurn:
    """One `FusedTurn` from what is known about the turn now (voice fields None when not scored).

    `voice_baseline`: the caller's baseline (`voice_baseline`) when the per-call baseline is on; the
    negativity then uses the relative voice score, while `FusedTurn.voice_upset` keeps the raw one."""
    n_words = len(text.split()) if text else 0
    voice = relative_voice(voice_upset, voice_baseline, config) if voice_upset is not None else None
    score = fuse_scores(voice, end_s - start_s, polarity if n_words else None, n_words, config)
    return FusedTurn(
        call_id=call_id,
        turn_id=turn_id,
        speaker=speaker,
        start_s=start_s,
        end_s=end_s,
        negativity=score.negativity,
        confidence=score.confidence,
        voice_upset=float(voice_upset) if voice_upset is not None else None,
        polarity=float(polarity) if (polarity is not None and n_words) else None,
        emotion_label=emotion_label if voice_upset is not None else None,
        text=text,
        revision=revision,
    )
