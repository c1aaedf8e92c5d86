"""CPU time and counts per pipeline stage, measured inside the worker (thread CPU time).

Each stage wraps its own processing (not Faust's or the broker client's) in `stats.measure(stage)`;
the remainder of the process CPU is the framework: consuming, producing, (de)serialising.
`GET /stats` of the worker's web server returns `snapshot()`; the pipeline bench divides by the
seconds of audio replayed.
"""

from __future__ import annotations

import resource
import threading
import time
from collections import defaultdict


class StageStats:
    def __init__(self) -> None:
        self.cpu_s: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def measure(self, stage: str) -> _Measure:
        """`with stats.measure("frames"): ...` adds the block's thread CPU time to the stage (a plain
        context manager: it wraps every audio frame, so a generator-based one costs too much)."""
        return _Measure(self, stage)

    def add_cpu(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.cpu_s[stage] += seconds

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def snapshot(self) -> dict:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu_s": dict(self.cpu_s),
            "counts": dict(self.counts),
            "process_cpu_s": ru.ru_utime + ru.ru_stime,
            "uptime_s": time.monotonic() - self.started,
        }


class _Measure:
    __slots__ = ("stage", "stats", "t0")

    def __init__(self, stats: StageStats, stage: str) -> None:
        self.stats, self.stage = stats, stage

    def __enter__(self) -> None:
        self.t0 = time.thread_time()

    def __exit__(self, *exc) -> None:
        self.stats.add_cpu(self.stage, time.thread_time() - self.t0)
