"""PolarityScorer on real labelled text: beats plain VADER, stays in bounds, labels by documented thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.polarity.data import AIRLINE_CSV, LABELS, UCI_CSV, airline_split, load_labelled, macro_f1
from processors.text.lexicon import DomainVader
from processors.text.ngrams import char_wb_ngrams, word_ngrams, WORD_TOKEN_PATTERN
from processors.text.normalize import normalize_text
from processors.text.polarity import (CHUNK_CHARS, LABEL_THRESHOLD, MAX_TEXT_CHARS, PolarityModelError,
                                      PolarityScorer, load_default_scorer, split_chunks)
from tests.conftest import require_data


def vader_label(compound: float) -> str:
    """VADER's documented rule: compound >= 0.05 positive, <= -0.05 negative."""
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


@pytest.fixture(scope="module")
def scorer() -> PolarityScorer:
    return load_default_scorer()


@pytest.fixture(scope="module")
def held_out():
    rows = load_labelled(require_data(*AIRLINE_CSV))
    return airline_split(rows)[1]


def test_beats_plain_vader_on_held_out_airline_split(scorer, held_out):
    truth = [r.label for r in held_out]
    ours = macro_f1(truth, [scorer.label(scorer.score(r.text)) for r in held_out], LABELS)
    plain = DomainVader(extended=False)
    vader = macro_f1(truth, [vader_label(plain.compound(r.text)) for r in held_out], LABELS)
    assert ours > vader + 0.10, (ours, vader)


def test_held_out_split_is_disjoint_from_training(held_out):
    train = airline_split(load_labelled(require_data(*AIRLINE_CSV)))[0]
    assert not {r.text for r in train} & {r.text for r in held_out}
    assert 0.18 < len(held_out) / (len(train) + len(held_out)) < 0.22
    for label in LABELS:  # every class is held out in about its share
        share = sum(r.label == label for r in held_out) / len(held_out)
        overall = sum(r.label == label for r in train + held_out) / (len(train) + len(held_out))
        assert abs(share - overall) < 0.03


def test_beats_plain_vader_on_out_of_domain_review_sentences(scorer):
    rows = load_labelled(require_data(*UCI_CSV))[::3]
    truth = [r.label for r in rows]
    ours = macro_f1(truth, ["positive" if p >= 0 else "negative" for p in scorer.score_many([r.text for r in rows])])
    plain = DomainVader(extended=False)
    vader = macro_f1(truth, ["positive" if plain.compound(r.text) >= 0 else "negative" for r in rows])
    assert ours > vader, (ours, vader)


def test_scores_are_finite_and_within_bounds(scorer):
    texts = [r.text for r in load_labelled(require_data(*UCI_CSV))[:300]]
    texts += ["", "   ", "!!!", "@united", "http://t.co/x", "A" * 5000, "😡😡😡", "REFUND. NOW.", "\x00\x01"]
    scores = scorer.score_many(texts)
    assert len(scores) == len(texts)
    assert all(isinstance(s, float) and math.isfinite(s) and -1.0 <= s <= 1.0 for s in scores)
    assert scores == [scorer.score(t) for t in texts]
    assert scorer.score("") == 0.0 and scorer.score("  ?! ") == 0.0


def test_polarity_is_neutrality_discounted_probability_difference(scorer):
    for text in ["I have been on hold for an hour, this is the third time I call", "Thanks, that fixed it!",
                 "What time does the flight leave?"]:
        p = scorer.probabilities(text)
        assert p.shape == (3,) and abs(p.sum() - 1) < 1e-9 and np.all(p >= 0)
        assert scorer.score(text) == pytest.approx((p[2] - p[0]) * (1 - p[1]))


def test_long_text_is_scored_in_chunks_and_capped(scorer):
    sentences = [r.text for r in load_labelled(require_data(*UCI_CSV)) if r.label == "negative"][:400]
    long_text = " ".join(sentences)
    assert len(long_text) > MAX_TEXT_CHARS
    p = scorer.probabilities(long_text)
    assert abs(p.sum() - 1) < 1e-9 and scorer.score(long_text) < 0  # a wall of complaints stays negative
    assert np.allclose(p, scorer.probabilities(long_text[-MAX_TEXT_CHARS:]))
    assert -1.0 <= scorer.score("x" * 100_000) <= 1.0  # one giant token: cut, not choked on


def test_split_chunks_keeps_every_character_within_the_limit():
    text = " ".join(r.text for r in load_labelled(require_data(*UCI_CSV))[:50]) + " " + "y" * 1000
    chunks = split_chunks(text)
    assert all(0 < len(c) <= CHUNK_CHARS for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())


def test_label_thresholds():
    t = LABEL_THRESHOLD
    assert PolarityScorer.label(t) == "positive" and PolarityScorer.label(1.0) == "positive"
    assert PolarityScorer.label(-t) == "negative" and PolarityScorer.label(-1.0) == "negative"
    assert PolarityScorer.label(0.0) == "neutral"
    assert PolarityScorer.label(t - 1e-6) == "neutral" and PolarityScorer.label(-t + 1e-6) == "neutral"
    with pytest.raises(ValueError):
        PolarityScorer.label(float("nan"))


def test_rejects_non_text(scorer):
    with pytest.raises(TypeError):
        scorer.score(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        scorer.score_many(["fine", 3])  # type: ignore[list-item]


def test_bad_model_file_gives_clear_error(tmp_path):
    with pytest.raises(PolarityModelError, match="cannot load"):
        PolarityScorer(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PolarityModelError):
        PolarityScorer(bad)


def test_default_scorer_is_cached():
    assert load_default_scorer() is load_default_scorer()


def test_domain_vader_reads_polite_complaints_as_negative():
    plain, domain = DomainVader(extended=False), DomainVader(extended=True)
    complaints = ["Please help, my flight was cancelled and I want a refund.",
                  "Thanks for nothing, this is the third time I call and I was on hold for an hour.",
                  "Can you please let me speak to a supervisor, nobody has helped me."]
    for text in complaints:
        assert domain.compound(text) < plain.compound(text)
        assert domain.compound(text) < 0


def test_runtime_ngrams_match_scikit_learn_analyzers():
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    import re

    texts = [normalize_text(r.text).lower() for r in load_labelled(require_data(*UCI_CSV))[:200]]
    texts += ["a", "ab  c\td\n", "", "  x  "]
    char = sklearn_text.TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False).build_analyzer()
    word = sklearn_text.TfidfVectorizer(ngram_range=(1, 2), lowercase=False,
                                        token_pattern=WORD_TOKEN_PATTERN).build_analyzer()
    pattern = re.compile(WORD_TOKEN_PATTERN)
    for t in texts:
        assert char_wb_ngrams(t, 2, 5) == char(t)
        assert sorted(word_ngrams(t, 1, 2, pattern)) == sorted(word(t))
