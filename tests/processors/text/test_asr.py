"""Built-in transcriber (optional 'asr' extra) on real read speech with known words."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from processors.audio.io import load_audio
from processors.text import asr
from processors.text.wer import corpus_wer, wer_counts
from tests.conftest import require_data

RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


def test_wer_counts_edits_over_reference_words():
    assert wer_counts("Kids are talking by the door.", "kids are talking by the door").rate == 0.0
    assert wer_counts("kids are talking by the door", "kids talking by a door now").edits == 3
    assert corpus_wer([("a b", "a b"), ("c d e f", "c x e")]) == pytest.approx(2 / 6)


def test_missing_extra_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import now raises ImportError
    assert not asr.asr_available()
    with pytest.raises(asr.AsrUnavailableError, match=r"callpulse\[asr\]"):
        asr.Transcriber()


@pytest.fixture(scope="module")
def transcriber():
    if not asr.asr_available():
        pytest.skip(f"optional ASR extra not installed: {asr.INSTALL_HINT}")
    return asr.Transcriber()


def test_transcribes_known_sentences_with_event_times(transcriber):
    root = require_data("ser")
    clips = [(root / "ravdess/Actor_01/03-01-05-02-01-01-01.flac", RAVDESS_STATEMENTS["01"]),
             (root / "ravdess/Actor_02/03-01-04-01-02-02-02.flac", RAVDESS_STATEMENTS["02"]),
             (min((root / "tess").glob("OAF_*_angry.flac")), None)]
    pairs = []
    for path, reference in clips:
        if not path.exists():
            pytest.skip(f"clip missing: {path}")
        reference = reference or f"Say the word {path.stem.split('_')[1]}"
        audio = load_audio(path).samples
        segs = transcriber.transcribe(audio, "call-9", "customer", offset_s=100.0)
        assert segs and all(s.call_id == "call-9" and s.speaker == "customer" and s.is_final for s in segs)
        assert all(100.0 <= s.start_s <= s.end_s <= 100.0 + len(audio) / 16000 + 0.5 for s in segs)
        pairs.append((reference, " ".join(s.text for s in segs)))
    assert corpus_wer(pairs) < 0.4, pairs


def test_silence_and_bad_audio(transcriber):
    assert transcriber.transcribe(np.zeros(0, np.float32), "c", "agent") == []
    assert transcriber.transcribe(np.zeros(16000 * 2, np.float32), "c", "agent") == []
    with pytest.raises(ValueError, match="mono"):
        transcriber.transcribe(np.zeros((2, 1600), np.float32), "c", "agent")
    with pytest.raises(ValueError, match="NaN"):
        transcriber.transcribe(np.full(1600, np.nan, np.float32), "c", "agent")
