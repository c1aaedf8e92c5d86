"""Transcript polarity: accuracy on the fixed held-out airline split and on UCI review sentences,
plain VADER beside it, and the cost per segment on one core (wall time, and this process's CPU time, which a shared
machine's load does not inflate as much).

Run: OMP_NUM_THREADS=1 python bench/bench_polarity.py   ->  bench/results/polarity.json
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from models.polarity.data import AIRLINE_CSV, LABELS, UCI_CSV, airline_split, load_labelled, macro_f1  # noqa: E402
from processors.text.lexicon import DomainVader  # noqa: E402
from processors.text.normalize import normalize_text  # noqa: E402
from processors.text.polarity import (DEFAULT_MODEL_PATH, LABEL_THRESHOLD, PolarityScorer,  # noqa: E402
                                      polarity_from_probabilities)

DATA = Path(os.environ.get("CALLPULSE_DATA", REPO.parent / "shared" / "data"))


def vader_label(c: float) -> str:
    return "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"


def per_class_f1(truth: list[str], pred: list[str]) -> dict[str, float]:
    return {lab: round(macro_f1(truth, pred, (lab,)), 4) for lab in LABELS}


def confusion(truth: list[str], pred: list[str]) -> dict[str, dict[str, int]]:
    return {t: {p: sum(a == t and b == p for a, b in zip(truth, pred)) for p in LABELS} for t in LABELS}


def expected_calibration_error(prob: np.ndarray, hit: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(prob, edges) - 1, 0, bins - 1)
    return float(sum(abs(prob[which == b].mean() - hit[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def main() -> int:
    t0 = time.perf_counter()
    scorer = PolarityScorer()
    load_s = time.perf_counter() - t0
    plain, domain = DomainVader(extended=False), DomainVader(extended=True)

    train, held = airline_split(load_labelled(DATA.joinpath(*AIRLINE_CSV)))
    truth = [r.label for r in held]
    probs = np.array([scorer.probabilities(r.text) for r in held])
    pol = np.array([polarity_from_probabilities(*p) for p in probs])
    ours = [scorer.label(p) for p in pol]
    systems = {
        "plain_vader_raw_text": [vader_label(plain.compound(r.text)) for r in held],
        "plain_vader_normalised_text": [vader_label(plain.compound(normalize_text(r.text))) for r in held],
        "contact_center_vader": [vader_label(domain.compound(normalize_text(r.text))) for r in held],
        "callpulse_polarity": ours,
        "callpulse_polarity_argmax_of_probabilities": [LABELS[i] for i in probs.argmax(1)],
    }
    airline = {name: {"macro_f1": round(macro_f1(truth, pred, LABELS), 4),
                      "accuracy": round(float(np.mean([a == b for a, b in zip(truth, pred)])), 4),
                      "f1_per_class": per_class_f1(truth, pred)} for name, pred in systems.items()}
    hit_neg = np.array([t == "negative" for t in truth], float)
    hit_pos = np.array([t == "positive" for t in truth], float)
    calibration = {
        "ece_p_negative": round(expected_calibration_error(probs[:, 0], hit_neg), 4),
        "ece_p_positive": round(expected_calibration_error(probs[:, 2], hit_pos), 4),
        "mean_polarity_by_true_label": {lab: round(float(pol[[t == lab for t in truth]].mean()), 3) for lab in LABELS},
    }

    uci = load_labelled(DATA.joinpath(*UCI_CSV))
    ut = [r.label for r in uci]
    upol = scorer.score_many([r.text for r in uci])
    sign = lambda xs: ["positive" if x >= 0 else "negative" for x in xs]  # noqa: E731
    uci_res = {
        "plain_vader_macro_f1_2class": round(macro_f1(ut, sign([plain.compound(r.text) for r in uci])), 4),
        "contact_center_vader_macro_f1_2class": round(macro_f1(ut, sign([domain.compound(normalize_text(r.text)) for r in uci])), 4),
        "callpulse_polarity_macro_f1_2class": round(macro_f1(ut, sign(upol)), 4),
        "callpulse_share_labelled_neutral": round(float(np.mean([scorer.label(p) == "neutral" for p in upol])), 4),
        "rule": "2-class: polarity (or VADER compound) >= 0 -> positive, else negative",
    }

    texts = [r.text for r in held]
    for t in texts[:200]:
        scorer.score(t)  # warm caches
    per, per_cpu = [], []
    for t in texts:
        s, c = time.perf_counter(), time.process_time()
        scorer.score(t)
        per.append(time.perf_counter() - s)
        per_cpu.append(time.process_time() - c)
    long_text = " ".join(texts[:12])  # ~200 words, a long ASR segment
    s, c = time.perf_counter(), time.process_time()
    for _ in range(50):
        scorer.score(long_text)
    long_ms = (time.perf_counter() - s) / 50 * 1e3
    long_cpu_ms = (time.process_time() - c) / 50 * 1e3
    vs = time.perf_counter()
    for t in texts:
        plain.compound(t)
    vader_us = (time.perf_counter() - vs) / len(texts) * 1e6

    result = {
        "model": scorer.model_version, "weights_file": str(DEFAULT_MODEL_PATH.relative_to(REPO)),
        "weights_bytes": DEFAULT_MODEL_PATH.stat().st_size, "label_threshold": LABEL_THRESHOLD,
        "split": {"rule": "sha1(normalised lower-cased text) mod 5 == 0 is held out (models/polarity/data.py)",
                  "train_rows": len(train), "held_out_rows": len(held),
                  "held_out_labels": {lab: truth.count(lab) for lab in LABELS}},
        "airline_held_out_3class": airline,
        "callpulse_confusion_rows_truth_cols_pred": confusion(truth, ours),
        "calibration_held_out": calibration,
        "uci_sentences_out_of_domain": uci_res,
        "speed_one_core": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "model_load_s": round(load_s, 3),
                           "per_segment_ms_median": round(statistics.median(per) * 1e3, 3),
                           "per_segment_ms_p95": round(float(np.percentile(per, 95)) * 1e3, 3),
                           "per_segment_ms_max": round(max(per) * 1e3, 3),
                           "per_segment_cpu_ms_median": round(statistics.median(per_cpu) * 1e3, 3),
                           "per_segment_cpu_ms_p95": round(float(np.percentile(per_cpu, 95)) * 1e3, 3),
                           "long_segment_ms": round(long_ms, 3), "long_segment_cpu_ms": round(long_cpu_ms, 3),
                           "load_average": os.getloadavg(), "cpu_count": os.cpu_count(), "long_segment_words": len(long_text.split()),
                           "plain_vader_us_per_text": round(vader_us, 1)},
    }
    out = REPO / "bench" / "results" / "polarity.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in airline.items():
        print(f"airline held-out 3-class macro-F1 {name:45s} {r['macro_f1']:.4f}")
    print(f"UCI 2-class macro-F1: plain VADER {uci_res['plain_vader_macro_f1_2class']:.4f}, "
          f"contact-center VADER {uci_res['contact_center_vader_macro_f1_2class']:.4f}, "
          f"callpulse {uci_res['callpulse_polarity_macro_f1_2class']:.4f}")
    sp = result["speed_one_core"]
    print(f"per segment (wall): median {sp['per_segment_ms_median']} ms, p95 {sp['per_segment_ms_p95']} ms, "
          f"{sp['long_segment_words']}-word segment {sp['long_segment_ms']} ms; model load {sp['model_load_s']} s")
    print(f"per segment (CPU): median {sp['per_segment_cpu_ms_median']} ms, p95 {sp['per_segment_cpu_ms_p95']} ms, "
          f"{sp['long_segment_words']}-word segment {sp['long_segment_cpu_ms']} ms; host load average {sp['load_average']}")
    print(f"calibration: {json.dumps(calibration)}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
