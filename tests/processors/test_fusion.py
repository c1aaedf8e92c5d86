"""Fusion rule: ranges, missing modalities, weighting by evidence, segment-to-turn matching."""

from __future__ import annotations

import itertools

import pytest

from processors.fusion import FusionConfig, fuse_scores, fuse_turn, segment_belongs_to_turn, turn_text
from processors.types import CUSTOMER, AGENT, TranscriptSegment


def test_scores_stay_in_unit_range_over_a_grid():
    for v, p, n, d in itertools.product([None, 0.0, 0.3, 0.5, 1.0], [None, -1.0, -0.2, 0.0, 0.7, 1.0],
                                        [0, 1, 5, 40], [0.0, 0.4, 3.0]):
        s = fuse_scores(v, d, p, n)
        assert 0.0 <= s.negativity <= 1.0 and 0.0 <= s.confidence <= 1.0


def test_missing_modality_uses_the_other_one():
    assert fuse_scores(0.8, 3.0, None, 0).negativity == pytest.approx(0.8)
    assert fuse_scores(None, 3.0, -0.6, 12).negativity == pytest.approx(0.6)
    nothing = fuse_scores(None, 3.0, None, 0)
    assert (nothing.negativity, nothing.confidence) == (0.0, 0.0)
    # polarity without words is no evidence
    assert fuse_scores(0.8, 3.0, -1.0, 0).negativity == pytest.approx(0.8)


def test_voice_dominates_and_words_weigh_more_with_more_words():
    angry_voice_neutral_words = fuse_scores(0.95, 3.0, 0.0, 6).negativity
    assert angry_voice_neutral_words > 0.6
    few = fuse_scores(0.2, 3.0, -0.9, 2).negativity
    many = fuse_scores(0.2, 3.0, -0.9, 40).negativity
    assert 0.2 < few < many < 0.9


def test_short_turns_give_the_voice_less_say():
    short = fuse_scores(0.9, 0.3, 0.0, 10).negativity
    long = fuse_scores(0.9, 3.0, 0.0, 10).negativity
    assert short < long


def test_disagreement_lowers_confidence():
    agree = fuse_scores(0.9, 3.0, -0.9, 12).confidence
    disagree = fuse_scores(0.9, 3.0, 0.9, 12).confidence
    assert disagree < agree


def test_single_modality_modes():
    cfg_v, cfg_w = FusionConfig(mode="voice"), FusionConfig(mode="words")
    assert fuse_scores(0.7, 3.0, -1.0, 10, cfg_v).negativity == pytest.approx(0.7)
    assert fuse_scores(0.7, 3.0, -1.0, 10, cfg_w).negativity == pytest.approx(1.0)
    with pytest.raises(ValueError):
        FusionConfig(mode="both")


def test_fuse_turn_without_voice_has_no_voice_fields():
    ft = fuse_turn("c", "c:0:00000", AGENT, 1.0, 2.0, None, None, "", None)
    assert ft.voice_upset is None and ft.emotion_label is None and ft.polarity is None
    assert ft.negativity == 0.0 and ft.confidence == 0.0


def test_segment_matching_is_per_speaker_and_needs_half_overlap():
    seg = TranscriptSegment("c", "s1", CUSTOMER, 10.0, 12.0, "hello")
    assert segment_belongs_to_turn(seg, CUSTOMER, 9.5, 11.5)
    assert not segment_belongs_to_turn(seg, AGENT, 9.5, 11.5)
    assert not segment_belongs_to_turn(seg, CUSTOMER, 11.7, 20.0)  # 0.3 s of a 2 s segment, 8.3 s turn
    assert segment_belongs_to_turn(seg, CUSTOMER, 11.7, 12.2)  # most of a short turn


def test_turn_text_is_order_free():
    a = TranscriptSegment("c", "a", CUSTOMER, 1.0, 2.0, "first")
    b = TranscriptSegment("c", "b", CUSTOMER, 2.0, 3.0, "second")
    assert turn_text([b, a]) == turn_text([a, b]) == "first second"


def test_relative_voice_is_the_raw_score_at_the_prior_and_monotone():
    from processors.fusion import relative_voice, voice_baseline

    cfg = FusionConfig(baseline_turns=3, baseline_prior=0.4, baseline_prior_weight=1.0)
    assert relative_voice(0.7, None, cfg) == 0.7  # baseline off
    assert relative_voice(0.7, 0.4, cfg) == pytest.approx(0.7)  # caller at the prior: unchanged
    assert relative_voice(0.7, 0.6, cfg) < 0.7 < relative_voice(0.7, 0.2, cfg)
    grid = [relative_voice(v / 20, 0.6, cfg) for v in range(21)]
    assert grid == sorted(grid) and all(0.0 < x < 1.0 for x in grid)
    # the baseline: prior with no earlier turns, at most baseline_turns of them, shrunk towards the prior
    assert voice_baseline([], cfg) == pytest.approx(0.4)
    assert voice_baseline([0.8, 0.8, 0.8, 0.0], cfg) == pytest.approx((0.4 + 2.4) / 4)
    with pytest.raises(ValueError):
        FusionConfig(baseline_prior=1.0)


def test_neutral_words_count_less_as_calm_evidence_with_a_low_floor():
    sure = FusionConfig(words_neutral_evidence=1.0)
    half = FusionConfig(words_neutral_evidence=0.5)
    low = FusionConfig(words_neutral_evidence=0.05)
    angry_voice_neutral_words = [fuse_scores(0.9, 3.0, 0.0, 8, c).negativity for c in (sure, half, low)]
    assert angry_voice_neutral_words == sorted(angry_voice_neutral_words)
    assert angry_voice_neutral_words[2] > 0.8
    # strongly negative words count fully whatever the floor
    assert fuse_scores(0.2, 3.0, -1.0, 8, low).negativity == pytest.approx(fuse_scores(0.2, 3.0, -1.0, 8, sure).negativity)
