"""CPU time and counts per pipeline stage, measured inside the worker (thread CPU time).

Each stage wraps its own processing (not Faust's or the broker client's) in `stats.measure(stage)`;
the remainder of the process CPU is the framework: consuming, producing, (de)serialising.
`GET /stats` of the worker's web server returns `snapshot()`; the pipeline bench divides by the
seconds of audio replayed.
"""

from __future__ import annotations

import resource
import time
import threading
from collections import defaultdict
from contextlib import contextmanager


class StageStats:
    def __init__(self) -> None:
        self.cpu_s: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.started = time.monotonic()
        self._lock = threading.Lock()

    @contextmanager
    def measure(self, stage: str):
        t0 = time.thread_time()
        try:
            yield
        finally:
            with self._lock:
                self.cpu_s[stage] += time.thread_time() - t0

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
