"""The synthetic two-party calls the diarization settings are chosen on (bench/two_party_calls.py)."""

import numpy as np

from tests.conftest import require_data


def test_folds_hold_no_demo_voice_and_do_not_share_speakers():
    from bench.two_party_calls import DEMO_SPEAKERS, FOLDS

    a, b = set(FOLDS[0]), set(FOLDS[1])
    assert len(a) == len(b) == 12 and not a & b
    assert not (a | b) & DEMO_SPEAKERS


def test_a_call_is_deterministic_two_party_and_its_reference_matches_the_audio():
    from bench.two_party_calls import FOLDS, compose, speaker_clips

    clips = speaker_clips(require_data("ser"))
    assert not any(s.startswith("ravdess0") and int(s[-2:]) <= 8 for s in clips)
    info, audio, ref = compose(1, 7, clips)
    info2, audio2, ref2 = compose(1, 7, clips)
    assert info == info2 and ref == ref2 and np.array_equal(audio, audio2)
    assert {info["agent"], info["customer"]} <= set(FOLDS[info["fold"]]) and info["agent"] != info["customer"]
    assert {s for _, _, s in ref} == {"agent", "customer"}
    assert 60 <= info["duration_s"] <= 95
    assert ref[0][2] == "agent"
    # speech where the reference says so, near silence in the pauses between turns
    sr = 16000
    rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * sr):int(b * sr)] ** 2)))
    speech = np.mean([rms(a, b) for a, b, _ in ref])
    covered = np.zeros(len(audio), bool)
    for a, b, _ in ref:
        covered[int((a - 0.15) * sr):int((b + 0.15) * sr)] = True
    assert not info["telephone"] and float(np.sqrt(np.mean(audio[~covered] ** 2))) < 0.05 * speech
