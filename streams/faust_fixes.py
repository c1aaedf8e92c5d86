"""What faust-streaming 0.15.3 gets wrong or does not say about rebalances and commits, fixed at app
start (`install(app)`, once per app, before its worker starts).

Output: `revoking(app)`, true from the moment the consumer learns its partitions are being revoked
until it gets its new assignment; `stale(app, message)`, true for a message fetched before the
rebalance under way or the last one. Faust's own `app.rebalancing` stays true until the tables of the
new assignment are recovered, and the consumer's assignment still lists the revoked partitions until
the revoke is over: neither tells a stage, when it matters, that the event in its hands may be
processed by another worker.

Commit past an unacknowledged message (upstream faust-streaming #606): `Consumer._new_offset`
commits the first run of consecutive acknowledged offsets. Its guard against an unacknowledged head
(`min(acked) - committed > 1`) lets exactly one unacknowledged message at the head through, and
there is no guard at all while the committed offset is None or 0 (a new group, or one that
committed 0). The frames stage acknowledges a call's frames only once a checkpoint holds them, so
with several calls on one partition the acknowledged offsets have holes (another call's frames,
not checkpointed yet), and each commit crept one frame further past them: a crash or a rebalance
then restarted that call from its checkpoint with frames missing (seen in the rebalance test: turn
ids shifted by one). Replaced: the run must start at the committed offset, and a commit never goes
past the lowest offset a stream took and did not acknowledge (this generation's messages).

Acknowledgements of messages skipped or finished during a rebalance: a stream skips the events
fetched before a rebalance (flow control suspended, or an older consumer generation) and
acknowledges them, even on `noack()` streams; a stage may also finish an event after the revoke
started, and the chain stage's stream acknowledges what the stage skipped because `owns()` said no.
Faust clears a partition's acknowledged offsets when the revoke starts, so such an acknowledgement
lands in the next generation's bookkeeping, and with the partition assigned to this worker again a
commit can cover an offset that was never processed in that generation (the frames stage then
restarts the call from a checkpoint that does not hold the frame). Dropped: acknowledgements of
messages of an earlier generation, or received between the start of a revoke and the new
assignment. Every such message is fetched again after the rebalance (the consumer seeks back to
the committed offsets), so dropping the acknowledgement costs a redelivery, never a message.

Messages cleared from the stream buffers when a recovery ends (found by reading Faust): once the
tables are recovered, Faust resumes fetching the stream partitions, seeks them to the committed
offsets, and only then calls `flow_control.resume()`, which empties every stream's buffer
(`clear_on_resume`), also of the current generation, while the consumer's read position has
already moved past what was buffered. Fixed twice over: `flow_control.resume()` no longer empties
the buffers (the revoke empties them explicitly with `flow_control.clear()`, and whatever of an
older generation is left is skipped by the streams; a message of the current generation kept is at
worst delivered twice, which every stage tolerates), and stream partitions resumed during a
recovery's last step stay paused until the consumer's flow is resumed. This did not remove the
loss seen in loaded restart runs (a restored call's frames reaching the frames stage hundreds of
offsets after the committed offset the worker sought to; README, known problems): its cause is
still open.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from typing import Any

import faust
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types.tuples import ack_lock
from faust.utils.functional import consecutive_numbers
from mode.utils.queues import FlowControlEvent

REVOKING_ATTR = "_callpulse_revoking"
CHECKED_FAUST = "0.15.3"
"""The faust-streaming version whose consumer these patches were written against and tested on."""

log = logging.getLogger(__name__)


def revoking(app: Any) -> bool:
    """True from the start of a partition revoke until the next assignment."""
    return bool(getattr(app, REVOKING_ATTR, False))


def stale(app: Any, message: Any) -> bool:
    """A message fetched before the rebalance that is under way or that last happened."""
    if revoking(app):
        return True
    gen = getattr(message, "generation_id", None)
    return gen is not None and gen != app.consumer_generation_id


def install(app: Any) -> None:
    """Patch the consumer class (once per process) and hook this app's rebalance start."""
    if not getattr(Consumer, "_callpulse_fixed", False):
        if faust.__version__ != CHECKED_FAUST:
            log.warning("faust-streaming %s: streams/faust_fixes.py replaces consumer internals checked on %s "
                        "only; check them against this version", faust.__version__, CHECKED_FAUST)
        Consumer.on_partitions_assigned = _make_on_assigned(Consumer.on_partitions_assigned)
        Consumer._new_offset = _new_offset
        Consumer._filter_committable_offsets = _filter_committable_offsets
        Consumer.ack = _make_ack(Consumer.ack)
        Consumer.resume_partitions = _make_resume_partitions(Consumer.resume_partitions)
        Consumer.resume_flow = _make_resume_flow(Consumer.resume_flow)
        Recovery.on_recovery_completed = _holding_stream_resumes(Recovery.on_recovery_completed)
        Recovery._resume_streams = _holding_stream_resumes(Recovery._resume_streams)
        FlowControlEvent.resume = _resume_without_clearing
        Consumer._callpulse_fixed = True
    start = app.on_rebalance_start

    def on_rebalance_start() -> None:
        # Called synchronously by the rebalance listener, before anything of the revoke runs.
        setattr(app, REVOKING_ATTR, True)
        start()

    app.on_rebalance_start = on_rebalance_start


def _make_on_assigned(original):
    async def on_partitions_assigned(self, assigned, generation_id: int = 0) -> None:
        # The listener has set the new generation id before calling this: from now on a message of
        # an earlier generation is told apart by its generation id.
        setattr(self.app, REVOKING_ATTR, False)
        await original(self, assigned, generation_id)

    return on_partitions_assigned


def _make_ack(original):
    def ack(self, message) -> bool:
        if stale(self.app, message):
            with ack_lock:
                message.acked = True  # not acknowledged again; fetched again after the rebalance
                self._unacked_messages.discard(message)
            return False
        return original(self, message)

    return ack


def _resume_without_clearing(self) -> None:
    """FlowControlEvent.resume without emptying the queues (see the module docstring)."""
    self._suspend.clear()
    self._resume.set()


_HOLD = "_callpulse_hold_resume"
_HELD = "_callpulse_held_tps"


def _holding_stream_resumes(original):
    """Run a recovery's last step with stream-partition resumes held back until resume_flow()."""
    async def step(self, *args, **kwargs):
        consumer = self.app.consumer
        setattr(consumer, _HOLD, True)
        setattr(consumer, _HELD, set())
        try:
            return await original(self, *args, **kwargs)
        finally:
            setattr(consumer, _HOLD, False)  # not released (e.g. a new rebalance): the next recovery resumes them
            setattr(consumer, _HELD, set())

    return step


def _make_resume_partitions(original):
    def resume_partitions(self, tps) -> None:
        if getattr(self, _HOLD, False):
            getattr(self, _HELD).update(tps)
            return
        original(self, tps)

    return resume_partitions


def _make_resume_flow(original):
    def resume_flow(self) -> None:
        held = getattr(self, _HELD, None) if getattr(self, _HOLD, False) else None
        if held:
            setattr(self, _HOLD, False)
            setattr(self, _HELD, set())
            Consumer.resume_partitions(self, held)
        original(self)

    return resume_flow


def _in_flight_floors(consumer) -> dict:
    """The lowest offset per partition of messages of this generation that a stream took and nobody
    acknowledged yet: a commit must stop there."""
    gen = consumer.app.consumer_generation_id
    floors: dict = {}
    for m in list(consumer._unacked_messages):
        if m.acked or getattr(m, "generation_id", gen) != gen:
            continue
        tp = m.tp
        if tp not in floors or m.offset < floors[tp]:
            floors[tp] = m.offset
    return floors


def _filter_committable_offsets(self, tps):
    floors = _in_flight_floors(self)
    out = {}
    for tp in tps:
        offset = _new_offset(self, tp, floors.get(tp))
        if offset is not None and self._should_commit(tp, offset):
            out[tp] = offset
    return out


_FLOORS = object()


def _new_offset(self, tp, floor: Any = _FLOORS):
    """The offset to commit for tp: one past the run of acknowledged offsets that starts at the
    committed offset (or, with none committed yet, at the lowest acknowledged one), never past the
    lowest offset in flight (`floor`, looked up when not given). None when nothing can be committed."""
    if floor is _FLOORS:
        floor = _in_flight_floors(self).get(tp)
    acked = self._acked[tp]
    if not acked:
        return None
    gap_for_tp = self._gap[tp]
    if gap_for_tp:  # offsets that do not exist (compaction, transaction markers): as Faust does
        max_offset = max(acked)
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            filler: list[int] = []
            for entry in candidates:
                filler.extend(range(entry.begin, entry.end))
            acked.extend(o for o in filler if o not in self._acked_index[tp])
            self._acked_index[tp].update(filler)
            gap_for_tp.chop(0, max(filler[-1], max_offset + 1))
    acked.sort()
    committed = self._committed_offset[tp]
    if committed is not None and acked[0] > committed:
        return None  # the message at the committed offset is not acknowledged yet
    batch = next(consecutive_numbers(acked))
    end = batch[-1] + 1
    if floor is not None and floor < end:
        end = floor
    n = bisect_left(acked, end)
    if n == 0:
        return None
    done = acked[:n]
    del acked[:n]
    self._acked_index[tp].difference_update(done)
    return end
