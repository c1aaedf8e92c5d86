"""The statistics-branch experiment harness: honest protocol pieces on synthetic statistics.

Checks what would silently inflate a figure if it broke: inner cross-validation never trains on the
outer test fold, k-clip enrolment never uses the clip being scored, and the metrics helper agrees
with models.emotion.evaluate's.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from models.emotion import experiments as ex  # noqa: E402
from processors.types import EMOTION_LABELS  # noqa: E402

N_FEAT = 10


def _data(n_per_speaker: int = 14, seed: int = 0) -> ex.Data:
    """5 folds x 2 speakers; the class shows in features 0..6 (one-hot), a speaker offset in every feature."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(5):
        for s in range(2):
            offset = rng.normal(0, 1.0, N_FEAT)
            for i in range(n_per_speaker):
                y = i % len(EMOTION_LABELS)
                rows.append((fold, f"c{fold}:{s}", y, offset))
    n = len(rows)
    y = np.array([r[2] for r in rows])
    base = rng.normal(0, 0.3, (n, N_FEAT)) + np.stack([r[3] for r in rows])
    base[np.arange(n), y] += 3.0
    copies = np.stack([base + rng.normal(0, 0.1, base.shape) for _ in range(4)], axis=1).astype(np.float32)
    cnn = rng.dirichlet(np.ones(len(EMOTION_LABELS)), size=n)
    return ex.Data(raw=copies, band=copies.copy(), path=np.array([f"x{i}" for i in range(n)]),
                   corpus=np.array(["ravdess"] * n), speaker=np.array([r[1] for r in rows]), y=y,
                   fold=np.array([r[0] for r in rows]), cnn={"clean": cnn, "telephone": cnn})


def test_inner_cv_never_trains_on_the_outer_test_fold(monkeypatch):
    d = _data()
    seen: list[tuple[set, set]] = []
    real = ex.fit_predict

    def spy(d_, x, train, test, kind, param=None):
        seen.append((set(d_.fold[train]), set(d_.fold[test])))
        return real(d_, x, train, test, kind, param)

    monkeypatch.setattr(ex, "fit_predict", spy)
    r = ex.cross_validated(d, d.raw, "logreg", [0.1, 1.0])
    assert all(not (tr & te) for tr, te in seen), "a head was trained on folds it scores"
    assert len(seen) == 10 * 2 + 5  # 10 fold pairs x 2 C values, then 5 outer fits
    assert set(r["chosen"]) == set(range(5))
    assert all(0.0 <= c["cnn_weight"] <= 1.0 for c in r["chosen"].values())
    # the synthetic classes are learnable from the statistics: well above chance (1/4)
    assert ex.ua4(d.y, r["stats"]["clean"]) > 0.6


def test_enrolment_excludes_the_scored_clip():
    d = _data()
    x = d.raw.copy()
    out1 = ex.enrol_normalise(d, x, 4, "centre", seed=1)
    x2 = x.copy()
    x2[0, :, :] += 1000.0  # change one clip: its own normalised value moves by exactly that much
    out2 = ex.enrol_normalise(d, x2, 4, "centre", seed=1)
    np.testing.assert_allclose(out2[0] - out1[0], 1000.0, rtol=1e-4)
    # clips of other speakers are untouched
    other = d.speaker != d.speaker[0]
    np.testing.assert_allclose(out2[other], out1[other])
    # speaker offsets are removed: per-speaker means of the centred statistics are near 0
    for s in np.unique(d.speaker):
        assert np.abs(out1[d.speaker == s, 0, 2:].mean(0)).max() < 0.5


def test_ua4_matches_evaluate_metrics():
    from models.emotion.evaluate import metrics

    d = _data()
    p = d.cnn["clean"]
    rows = [{"label": EMOTION_LABELS[y], "speaker": "s", "probs": q, "upset": 0.0} for y, q in zip(d.y, p)]
    assert ex.ua4(d.y, p) == pytest.approx(metrics(rows)["ua4"])
