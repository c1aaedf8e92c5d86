"""Run the front ends of many calls together, so their VAD windows share one model batch.

Input: (FrontEnd, AudioFrame) pairs of any calls, in arrival order. Output: per call, the turns
that ended (what `FrontEnd.push` would have returned for those frames, together).

Why: the VAD is about half of the front end's CPU, and one model run costs far less per row in a
batch (flat graph on this machine: ~96 us for 1 row, ~20 us per row at 100 rows;
`python -m bench.bench_frontend --vad-model`). A worker with 100 live calls gets ~100 frames per
100 ms: with 32-100 calls per run the whole front end costs ~1/3 of per-call `push`
(`python -m bench.bench_frontend --calls 100`, bench/results/frontend_batch.json).

The turns are exactly those of `push` (same ids, times, audio, overlap flags): every VAD row's
result is independent of the other rows, and the front end's phases are the ones `push` runs
(`prepare`, `vad_jobs`, `run_vad_jobs`, `complete`). Which calls share a batch changes nothing
but when a call's turns come out: turns completed by a call's frames come out at the end of the
batch that holds them (never later than one `run()` after their frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.frontend import FrontEnd
from processors.types import AudioFrame, SpeechTurn
from processors.vad import run_vad_jobs


@dataclass
class CallResult:
    fe: FrontEnd
    turns: list[SpeechTurn] = field(default_factory=list)
    error: Exception | None = None
    """A failure of this call only (a bug or a corrupt state); the other calls went on."""


class FrontEndBatch:
    """Collect frames of many calls (`add`), then VAD and cut them all at once (`run`).

    Between `add` and `run` a call's state is consistent (its windows wait in its queue), so
    `state_bytes()` and `flush()` may be used there too; `run` skips calls flushed meanwhile."""

    def __init__(self) -> None:
        self._calls: dict[int, FrontEnd] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, fe: FrontEnd, frame: AudioFrame) -> bool:
        """Decode and queue one frame. FrameError (only this frame is lost) is raised here. False:
        the sequencer refused it (duplicate, redelivery inside a checkpoint, later than its gap)."""
        accepted = fe.prepare(frame)
        self._calls.setdefault(id(fe), fe)
        return accepted

    def run(self) -> list[CallResult]:
        """One batched VAD pass over every call added since the last run; their turns, per call."""
        calls, self._calls = list(self._calls.values()), {}
        results = [CallResult(fe) for fe in calls]
        jobs = []
        for res in results:
            try:
                jobs.extend(res.fe.vad_jobs())
            except Exception as exc:  # noqa: BLE001 -- a bug or corrupt state in one call must not stop the others
                res.error = exc
        run_vad_jobs(jobs)
        for res in results:
            if res.error is not None:
                continue
            try:
                res.turns = res.fe.complete()
            except Exception as exc:  # noqa: BLE001 -- a bug or corrupt state in one call must not stop the others
                res.error = exc
        return results
