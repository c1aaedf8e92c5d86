"""Put one channel's frames back in sequence order, and say what is missing.

Input: frames of one (call, channel) as they arrive, possibly out of order, duplicated or lost.
Output: frames in seq order, plus `Gap`s where frames never came.

A frame ahead of the next expected seq waits in a small window (`window` frames). When more than
`window` frames wait, the missing ones are declared lost: a `Gap` (how many frames, and how long,
estimated from capture timestamps or else from the last frame's duration) is returned in their
place so the caller can fill the timeline with silence and every later time stays right.
A frame older than the next expected seq (a duplicate, or one that arrived after its gap was
declared) is dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from processors.types import AudioFrame

MAX_GAP_MS = 60_000
"""A gap longer than this (broken timestamps) is filled with the per-frame estimate, capped here."""


@dataclass(frozen=True)
class Gap:
    channel: int
    first_seq: int
    frames: int
    duration_ms: float


class Sequencer:
    def __init__(self, channel: int, window: int = 8):
        self.channel = channel
        self.window = window
        self.expected = 0
        self.held: dict[int, AudioFrame] = {}
        self.last_end_ms: float | None = None
        """capture_ts_ms + duration of the last frame released."""
        self.last_duration_ms = 20.0
        self.dropped_late = 0
        self.reordered = 0
        self.gaps = 0
        self.missing_frames = 0

    def note_released(self, frame: AudioFrame, duration_ms: float) -> None:
        """Called by the owner once it knows the released frame's duration."""
        if duration_ms > 0:
            self.last_duration_ms = duration_ms
        self.last_end_ms = frame.capture_ts_ms + duration_ms

    def push(self, frame: AudioFrame) -> list[AudioFrame | Gap]:
        if frame.seq < self.expected or frame.seq in self.held:
            self.dropped_late += 1
            return []
        if frame.seq == self.expected and self.held:
            self.reordered += 1  # a later frame overtook this one
        self.held[frame.seq] = frame
        out: list[AudioFrame | Gap] = self._drain()
        if len(self.held) > self.window:
            out.extend(self._skip_to_first_held())
        return out

    def _drain(self) -> list[AudioFrame | Gap]:
        out: list[AudioFrame | Gap] = []
        while self.expected in self.held:
            out.append(self.held.pop(self.expected))
            self.expected += 1
        return out

    def _skip_to_first_held(self) -> list[AudioFrame | Gap]:
        first = min(self.held)
        missing = first - self.expected
        by_count = missing * self.last_duration_ms
        duration = by_count
        if self.last_end_ms is not None:
            by_clock = self.held[first].capture_ts_ms - self.last_end_ms
            if 0 <= by_clock <= MAX_GAP_MS and abs(by_clock - by_count) <= max(by_count, 1.0) * 4:
                duration = by_clock
        gap = Gap(self.channel, self.expected, missing, float(min(duration, MAX_GAP_MS)))
        self.gaps += 1
        self.missing_frames += missing
        self.expected = first
        return [gap, *self._drain()]

    def flush(self) -> list[AudioFrame | Gap]:
        out: list[AudioFrame | Gap] = []
        while self.held:
            out.extend(self._skip_to_first_held())
        return out

    @property
    def pending_frames(self) -> int:
        return len(self.held)

    def to_state(self) -> dict:
        return {
            "expected": self.expected, "last_end_ms": self.last_end_ms, "last_duration_ms": self.last_duration_ms,
            "counts": [self.dropped_late, self.reordered, self.gaps, self.missing_frames],
            "held": [[f.seq, f.capture_ts_ms, f.sample_rate, f.encoding, np.frombuffer(f.payload, np.uint8)]
                     for f in self.held.values()],
        }

    def load_state(self, st: dict, call_id: str) -> None:
        self.expected = int(st["expected"])
        self.last_end_ms = st["last_end_ms"]
        self.last_duration_ms = float(st["last_duration_ms"])
        self.dropped_late, self.reordered, self.gaps, self.missing_frames = (int(v) for v in st["counts"])
        self.held = {
            int(seq): AudioFrame(call_id, self.channel, int(seq), int(ts), int(rate), str(enc),
                                 np.asarray(payload, np.uint8).tobytes())
            for seq, ts, rate, enc, payload in st["held"]
        }
