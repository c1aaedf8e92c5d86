"""Cut one channel's VAD decisions into speech turns.

Input: consecutive VAD windows (512 samples of 16 kHz audio + speech probability each).
Output: `RawTurn`s (start/end sample, int16 audio, speaker label), emitted as soon as they end.

Two small state machines, both serialisable, both driven only by the window sequence (so the same
audio gives the same turns whatever the frame sizes):

* `SpeechGate` -- hysteresis + hangover, silero's usual recipe:
  a region opens at the first window with p >= `threshold` (the region starts `pre_roll_s` earlier,
  so soft onsets are kept); it stays open while windows have p >= `neg_threshold`
  (default threshold - 0.15); it closes once `hangover_s` of windows fall below it, and keeps
  `post_pad_s` of that tail. Latency after speech ends: hangover_s + one window (32 ms) + the frame.
* `TurnAssembler` -- collects labelled speech audio into turns: a new turn at each label change
  (mono calls: speaker change), at the end of a region, and every `max_turn_s` of continuous
  speech (default 10 s, so scoring is never held back by a monologue). Pieces shorter than
  `min_turn_s` are dropped and counted (clicks, coughs, VAD blips).
Pending audio is kept as int16: the turn audio a resumed worker emits is bit-identical.

Defaults measured at no collar (speech/non-speech error only: missed + false alarm, silero
probabilities of every clip replayed through this gate; `bench/der.py` for full DER):
* padding: sample.flac's reference turns are tight, the AMI references count pauses between words
  as speech, so they pull opposite ways: pre_roll/post_pad 0.05/0.05 s -> sample 2.20 s of error,
  AMI 41.3% of its speech; 0.1/0.1 (default) 2.36 s / 38.0%; 0.15/0.15 2.61 s / 35.7%. Each 0.05 s
  of pad is ~0.4 DER points on the sample and ~1.4 on AMI, in opposite directions: kept.
* hangover 0.1, 0.15 and 0.2 s give the same error at pads 0.1/0.1 (2.36 s / 38.0-38.1%); 0.2 s
  bridges short pauses inside a turn and keeps the latency budget (<= 300 ms after the last voiced
  window, bench/bench_frontend.py).
* threshold 0.4 instead of 0.5 (FrontEndConfig.vad_threshold): sample unchanged, AMI pooled
  relabelled DER 55.3% -> 54.6% (quiet distant talkers), but stereo calls with line noise worse
  (`bench.der --stereo --config vad_threshold=0.4`: -50 dBFS 12.8% -> 13.9%, -40 dBFS 18.5% ->
  20.6%): kept at 0.5, the telephone case matters more than far-field meetings.
Almost all of the sample's remaining missed speech is overlap (1.89 s of 1.89 s), not boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from processors.audio.decode import float_to_int16
from processors.types import SAMPLE_RATE


@dataclass
class RawTurn:
    start: int
    """First sample (16 kHz, since call start)."""
    end: int
    audio: np.ndarray = field(repr=False)
    """int16 samples [start, end)."""
    label: str
    overlap: bool = False


# Gate events: ("start", sample) | ("audio", float32 chunk) | ("end", sample)
GateEvent = tuple[str, object]


class SpeechGate:
    def __init__(self, threshold: float = 0.5, neg_threshold: float | None = None, hangover_s: float = 0.2,
                 pre_roll_s: float = 0.1, post_pad_s: float = 0.1):
        self.threshold = threshold
        self.neg_threshold = threshold - 0.15 if neg_threshold is None else neg_threshold
        self.hangover = int(round(hangover_s * SAMPLE_RATE))
        self.pre_roll = int(round(pre_roll_s * SAMPLE_RATE))
        self.post_pad = min(int(round(post_pad_s * SAMPLE_RATE)), self.hangover)
        self.in_speech = False
        self.position = 0
        """Samples consumed so far."""
        self.floor = 0
        """Earliest sample a new region may start at (the previous region's end)."""
        self.tail = np.zeros(0, np.float32)
        """Idle: the last pre_roll samples. In speech: the windows below neg_threshold so far."""

    def push(self, window: np.ndarray, prob: float) -> list[GateEvent]:
        events: list[GateEvent] = []
        start = self.position
        self.position += len(window)
        if not self.in_speech:
            if prob >= self.threshold:
                pre = self.tail[max(0, len(self.tail) - self.pre_roll):]
                pre = pre[max(0, len(pre) - (start - self.floor)):]
                events.append(("start", start - len(pre)))
                events.append(("audio", np.concatenate([pre, window])))
                self.in_speech = True
                self.tail = np.zeros(0, np.float32)
            else:
                self.tail = np.concatenate([self.tail, window])[-self.pre_roll:] if self.pre_roll else self.tail[:0]
            return events
        if prob >= self.neg_threshold:
            if len(self.tail):
                events.append(("audio", self.tail))
            events.append(("audio", window))
            self.tail = np.zeros(0, np.float32)
            return events
        self.tail = np.concatenate([self.tail, window])
        if len(self.tail) >= self.hangover:
            events.extend(self._close())
        return events

    def push_many(self, audio: np.ndarray, probs: list[float], merge: bool = False) -> list[GateEvent]:
        """`push` for consecutive windows (len(audio) / len(probs) samples each), in one call: idle
        windows below the threshold are taken as one block (they only move the pre-roll tail).
        The same events as pushing window by window; with `merge`, consecutive audio events come
        joined into one (for consumers that do not care how the audio is chunked)."""
        n = len(probs)
        if n == 0:
            return []
        width = len(audio) // n
        events: list[GateEvent] = []
        threshold = self.threshold
        i = 0
        while i < n:
            if not self.in_speech:
                j = i
                while j < n and probs[j] < threshold:
                    j += 1
                if j > i:
                    block = audio[i * width:j * width]
                    self.position += len(block)
                    if self.pre_roll:
                        self.tail = (block[-self.pre_roll:] if len(block) >= self.pre_roll
                                     else np.concatenate([self.tail, block])[-self.pre_roll:])
                    else:
                        self.tail = self.tail[:0]
                    i = j
                    continue
            events.extend(self.push(audio[i * width:(i + 1) * width], probs[i]))
            i += 1
        return _join_audio(events) if merge else events

    def _close(self) -> list[GateEvent]:
        silence_start = self.position - len(self.tail)
        kept = self.tail[: self.post_pad]
        events: list[GateEvent] = []
        if len(kept):
            events.append(("audio", kept))
        end = silence_start + len(kept)
        events.append(("end", end))
        self.in_speech = False
        self.floor = end
        self.tail = self.tail[len(kept):][-self.pre_roll:] if self.pre_roll else self.tail[:0]
        return events

    def flush(self) -> list[GateEvent]:
        return self._close() if self.in_speech else []

    @property
    def pending_samples(self) -> int:
        return len(self.tail) if self.in_speech else 0

    def to_state(self) -> dict:
        return {"in_speech": self.in_speech, "position": self.position, "floor": self.floor,
                "tail": float_to_int16(self.tail) if not self.in_speech else self.tail}

    def load_state(self, st: dict) -> None:
        self.in_speech, self.position, self.floor = bool(st["in_speech"]), int(st["position"]), int(st["floor"])
        tail = np.asarray(st["tail"])
        # idle pre-roll is stored as int16 (it only becomes turn audio, which is int16 anyway)
        self.tail = (tail.astype(np.float32) / 32768.0) if tail.dtype == np.int16 else tail.astype(np.float32)


def _join_audio(events: list[GateEvent]) -> list[GateEvent]:
    out: list[GateEvent] = []
    run: list[np.ndarray] = []
    for kind, value in events:
        if kind == "audio":
            run.append(value)  # type: ignore[arg-type]
            continue
        if run:
            out.append(("audio", run[0] if len(run) == 1 else np.concatenate(run)))
            run = []
        out.append((kind, value))
    if run:
        out.append(("audio", run[0] if len(run) == 1 else np.concatenate(run)))
    return out


class TurnAssembler:
    def __init__(self, min_turn_s: float = 0.25, max_turn_s: float = 10.0):
        self.min_samples = int(round(min_turn_s * SAMPLE_RATE))
        self.max_samples = max(1, int(round(max_turn_s * SAMPLE_RATE)))
        self.start: int | None = None
        self.label: str | None = None
        self.chunks: list[np.ndarray] = []
        self.length = 0
        self.dropped_short = 0

    def open(self, sample: int) -> None:
        self.start, self.label, self.chunks, self.length = sample, None, [], 0

    def add(self, audio: np.ndarray, label: str) -> list[RawTurn]:
        out: list[RawTurn] = []
        if self.start is None:
            raise RuntimeError("TurnAssembler.add before open")
        if self.label is not None and label != self.label:
            out.extend(self._emit())
        self.label = label
        pcm = audio if audio.dtype == np.int16 else float_to_int16(audio)
        while self.length + len(pcm) >= self.max_samples:
            take = self.max_samples - self.length
            self.chunks.append(pcm[:take])
            self.length += take
            pcm = pcm[take:]
            out.extend(self._emit())
            self.label = label
        if len(pcm):
            self.chunks.append(pcm)
            self.length += len(pcm)
        return out

    def _emit(self) -> list[RawTurn]:
        start, length, label = self.start, self.length, self.label
        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        self.start = start + length
        self.chunks, self.length, self.label = [], 0, None
        if length == 0:
            return []
        if length < self.min_samples:
            self.dropped_short += 1
            return []
        return [RawTurn(start=start, end=start + length, audio=audio, label=label or "")]

    def close(self) -> list[RawTurn]:
        out = self._emit() if self.start is not None else []
        self.start = None
        return out

    @property
    def pending_samples(self) -> int:
        return self.length

    def to_state(self) -> dict:
        return {"start": self.start, "label": self.label, "dropped_short": self.dropped_short,
                "audio": np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)}

    def load_state(self, st: dict) -> None:
        self.start = None if st["start"] is None else int(st["start"])
        self.label = st["label"]
        self.dropped_short = int(st["dropped_short"])
        audio = np.asarray(st["audio"], np.int16)
        self.chunks = [audio] if len(audio) else []
        self.length = len(audio)
