"""Frames stage: audio frames + call events -> the front end -> speech turns (one FrontEnd per call).

Input topic `audio` (audio_frame, call_event). Output topic `turns` (speech_turn + control messages
started / progress / ended, in order per call), `dead-letter` for what cannot be used.

State (rebuilt from the topics, nothing acknowledged is lost):
  * The FrontEnd of each live call is in memory. Frames are NOT acknowledged when processed; every
    `checkpoint_every_s` seconds of a call's audio, at a moment when the front end holds little
    pending audio, the call's `state_bytes()` and last sequence numbers go into the changelog-backed
    table `frontend-checkpoints`, and only then are the frames it covers acknowledged. Faust commits
    the highest *contiguous* acknowledged offset, so after a crash every frame not covered by a
    checkpoint is delivered again; the restored front end's sequencer drops the frames its checkpoint
    already holds (a seq below the next expected one, or one waiting in its reorder window).
  * Turn ids are deterministic, so turns re-cut after a restart are duplicates that the chain
    ignores and ClickHouse collapses (ReplacingMergeTree).
  * An ended call leaves a small "ended" marker, so a redelivered tail of it is dropped, not re-run.

Batching: the agent takes up to FRAME_BATCH_MAX events at a time (waiting at most FRAME_BATCH_WITHIN_S)
and the front ends of all their calls run together (`FrontEndBatch`: one VAD model run), ~2x less
frames-stage CPU at 30 live calls (bench/results/pipeline_frontend_batch_ab.json); the turns are
exactly those of one `FrontEnd.push` per frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from processors.frontend import FrameError, FrontEnd
from processors.frontend_batch import FrontEndBatch
from processors.types import CUSTOMER, AudioFrame, CallInfo
from schemas.codec import SchemaError, decode, encode
from streams.records import (
    call_started_record,
    record_to_call_info,
    record_to_frames,
    turn_to_record,
)
from streams.topics import partition_of
from streams.wire import ENDED, PROGRESS, STARTED, Control, encode_control, kind_of

log = logging.getLogger(__name__)

BYTES_PER_SAMPLE = {"pcm_s16le": 2, "mulaw": 1, "alaw": 1}
PROGRESS_RECHECK_S = 0.5
PROGRESS_MARGIN_S = 1.0
MAX_PENDING_AT_CHECKPOINT_S = 1.5
_LEN = struct.Struct(">I")
ENDED_MARKER = b"ENDED"
FRAME_BATCH_MAX = 256
FRAME_BATCH_WITHIN_S = 0.02


@dataclass
class LiveCall:
    info: CallInfo
    started_ms: int
    fe: FrontEnd
    partition: int
    last_seq: dict[int, int] = field(default_factory=dict)
    decoded_s: dict[int, float] = field(default_factory=dict)
    unacked: list[Any] = field(default_factory=list)
    audio_since_checkpoint_s: float = 0.0
    last_progress_s: float = 0.0
    next_progress_check_s: float = 0.0
    """Audio time before which no progress mark can be due (not checkpointed: derived again)."""
    last_seen: float = field(default_factory=time.monotonic)
    in_flight: list[Any] = field(default_factory=list)
    staged: list[Any] = field(default_factory=list)
    """Events whose frames are in the batch not run yet (unacked once their turns are sent)."""

    @property
    def audio_s(self) -> float:
        """Event time decoded on every channel (the slowest channel bounds what is known)."""
        channels = 2 if self.info.stereo else 1
        if len(self.decoded_s) < channels:
            return 0.0
        return min(self.decoded_s.values())

    @property
    def end_s(self) -> float:
        return max(self.decoded_s.values(), default=0.0)


def wants_score(speaker: str, agent_emotion: bool) -> bool:
    """Which turns the emotion model sees: the customer's; everyone's only when agent emotion is on
    (the same rule as `processors.offline.cut_and_score`)."""
    return agent_emotion or speaker == CUSTOMER


def pack_checkpoint(call: LiveCall) -> bytes:
    meta = {
        "call_event": call_started_record(call.info, call.started_ms),
        "started_ms": call.started_ms,
        "last_seq": {str(k): v for k, v in call.last_seq.items()},
        "decoded_s": {str(k): v for k, v in call.decoded_s.items()},
        "last_progress_s": call.last_progress_s,
    }
    head = json.dumps(meta, separators=(",", ":")).encode()
    return _LEN.pack(len(head)) + head + call.fe.state_bytes()


def unpack_checkpoint(data: bytes, partition: int) -> LiveCall:
    (n,) = _LEN.unpack_from(data)
    meta = json.loads(data[_LEN.size:_LEN.size + n])
    info = record_to_call_info(meta["call_event"])
    fe = FrontEnd.from_state_bytes(data[_LEN.size + n:])
    return LiveCall(
        info=info, started_ms=int(meta["started_ms"]), fe=fe, partition=partition,
        last_seq={int(k): int(v) for k, v in meta["last_seq"].items()},
        decoded_s={int(k): float(v) for k, v in meta["decoded_s"].items()},
        last_progress_s=float(meta.get("last_progress_s", 0.0)),
    )


class FramesStage:
    def __init__(self, pipeline) -> None:
        self.p = pipeline
        self.settings = pipeline.settings
        self.stats = pipeline.stats
        self.calls: dict[str, LiveCall] = {}
        self.table = pipeline.app.Table(
            "frontend-checkpoints", default=None, key_type=bytes, value_type=bytes,
            partitions=self.settings.partitions,
        )
        self.turns_topic = pipeline.topics["turns"]
        from streams.agents.chain import chain_config

        escalation = chain_config(self.settings.thresholds).escalation
        self.lateness_s = escalation.allowed_lateness_s
        self.window_s, self.step_s = escalation.window_s, escalation.step_s
        self.early_firing = escalation.early_firing
        self._restored_scan_done = False
        self._lock = asyncio.Lock()
        self._batch = FrontEndBatch()
        self._batch_calls: dict[int, str] = {}
        """id(FrontEnd) -> call id of the calls with frames in the batch not run yet."""

    # ---- entry points ------------------------------------------------------------------------

    async def handle(self, event) -> None:
        """Process one event of the audio topic; never raises for bad input."""
        await self.handle_many([event])

    async def handle_many(self, events: list) -> None:
        """Process a batch of events of the audio topic (any calls, in arrival order); never raises for
        bad input. The frames of all calls share one VAD run (`FrontEndBatch`): the turns are exactly
        those of one `FrontEnd.push` per frame, each call's turns in the same order, sent when the batch
        has run. Started / ended events are handled in order: an `ended` for a call with frames in the
        batch runs the batch first, so its last turns precede its flush."""
        async with self._lock:  # the idle timer and on_revoked must not see a call half-way through
            for event in events:
                # owns() under the lock: a revoke that started while this batch waited is seen here
                if not self.p.owns(event):
                    self.stats.count("skipped_revoked")
                    continue
                await self._handle(event)
            await self._run_batch()

    async def _handle(self, event) -> None:
        value, key = event.value, event.key
        call_id_hint = key.decode("utf-8", "replace") if key else ""
        try:
            kind = kind_of(value)
            if kind == "audio_frame":
                await self._on_frame(event, record_to_frames(decode("audio_frame", value)))
            elif kind == "call_event":
                rec = decode("call_event", value)
                if rec["kind"] == "started":
                    await self._on_started(event, rec)
                else:
                    await self._on_ended(event, rec["call_id"], "ended")
            else:
                raise SchemaError(f"{kind} events do not belong on the audio topic")
        except (SchemaError, FrameError) as exc:
            await self.p.dead_letter(event, f"{type(exc).__name__}: {exc}")
            self._ack(event)
        except Exception as exc:  # a bug or a corrupt state must not stop the other calls
            log.exception("frames stage failed on call %s", call_id_hint)
            await self.p.dead_letter(event, f"internal error: {type(exc).__name__}: {exc}")
            self._ack(event)

    async def close_idle_calls(self) -> None:
        """Close calls that sent nothing for `idle_call_timeout_s` (a call that never ends)."""
        async with self._lock:
            if not self.p.state_ready():
                return  # mid-rebalance, or the tables of the new assignment not recovered yet
            if not self._restored_scan_done:
                self._restore_checkpointed_calls()
            now = time.monotonic()
            for call_id, call in list(self.calls.items()):
                if now - call.last_seen >= self.settings.idle_call_timeout_s:
                    log.info("call %s idle for %.0f s: closing it", call_id, now - call.last_seen)
                    self.stats.count("idle_closed")
                    await self._finish(call_id, call, "idle_timeout")

    def on_assigned(self) -> None:
        """New assignment: look for checkpointed calls of our partitions again (see lifecycle)."""
        self._restored_scan_done = False

    async def on_revoked(self, partitions: set[int]) -> None:
        """Partitions moved to another worker: drop their calls (it restores them from the table).
        Waits for the event (or idle check) in progress to finish first: it holds the call's state."""
        async with self._lock:
            for call_id in [c for c, call in self.calls.items() if call.partition in partitions]:
                del self.calls[call_id]
            self._restored_scan_done = False

    # ---- events ------------------------------------------------------------------------------

    async def _on_started(self, event, rec: dict) -> None:
        info = record_to_call_info(rec)
        call_id = info.call_id
        if call_id in self.calls or self._lookup(call_id, event.message.partition) is not None:
            self._ack(event)  # a duplicate (redelivered) start: the call is already known
            return
        if self.table.get(call_id.encode()) == ENDED_MARKER:
            self._ack(event)
            return
        with self.stats.measure("frames"):
            fe = FrontEnd(info)
        call = LiveCall(info, int(rec["ts_ms"]), fe, event.message.partition)
        call.unacked.append(event)
        self.calls[call_id] = call
        self.stats.count("calls_started")
        await self._send(call_id, encode_control(Control(STARTED, call_id, 0.0, call_event=rec)))

    async def _on_frame(self, event, frames: list[AudioFrame]) -> None:
        """One audio event: a single channel's frame, or both channels of a stereo call interleaved
        (split by streams.records.record_to_frames), queued channel by channel in the batch; its turns
        come out when the batch runs (`_run_batch`)."""
        call_id = frames[0].call_id
        call = self.calls.get(call_id) or self._lookup(call_id, event.message.partition)
        if call is None:
            if self.table.get(call_id.encode()) == ENDED_MARKER:
                self._ack(event)  # tail of a call that already ended (redelivery)
                return
            raise SchemaError(f"audio frame for call {call_id!r} before its call-started event")
        if len(frames) > 1 and not call.info.stereo:
            raise FrameError(f"a {len(frames)}-channel interleaved frame for mono call {call_id}")
        call.last_seen = time.monotonic()
        self._batch_calls[id(call.fe)] = call_id
        with self.stats.measure("frames"):  # one timer per event: the timer's clock reads are not free
            for frame in frames:
                # FrameError for a bad frame: nothing changed for this channel (an interleaved frame
                # failing on its second channel keeps the first: its turns come out with the batch)
                if not self._batch.add(call.fe, frame):
                    # The sequencer refused it: a duplicate, a redelivery already inside the
                    # checkpoint, or later than its declared gap. Not new audio. (A frame with a lower
                    # seq than one seen before is not necessarily refused: within the sequencer's
                    # reorder window it is the missing piece that releases the frames held behind it,
                    # and every turn they complete is sent; turn ids are deterministic.)
                    continue
                if frame.seq < call.last_seq.get(frame.channel, -1):
                    self.stats.count("frames_reordered")  # came after a later frame, put back in order
                call.last_seq[frame.channel] = max(frame.seq, call.last_seq.get(frame.channel, -1))
                width = BYTES_PER_SAMPLE.get(frame.encoding)
                dur = len(frame.payload) / width / frame.sample_rate if width and frame.sample_rate else 0.0
                call.decoded_s[frame.channel] = call.decoded_s.get(frame.channel, 0.0) + dur
                if frame.channel == min(call.decoded_s):
                    call.audio_since_checkpoint_s += dur
                self.stats.count("frames")
        call.staged.append(event)

    async def _run_batch(self) -> None:
        """Run the VAD of every call with frames in the batch at once, then per call: send its turns,
        and only then count its events as processed (progress marks, checkpoints and acks follow the
        turns they imply). A failure of one call's front end dead-letters that call's events only."""
        if not self._batch_calls:
            return
        call_ids, self._batch_calls = self._batch_calls, {}
        with self.stats.measure("frames"):
            results = self._batch.run()
        if len(results) > 1:
            self.stats.count("frame_batches")
            self.stats.count("frame_batch_calls", len(results))
        for res in results:
            call_id = call_ids.get(id(res.fe))
            call = self.calls.get(call_id) if call_id is not None else None
            if call is None or call.fe is not res.fe:
                continue  # finished or dropped meanwhile (run() skips nothing it was given: be safe)
            staged, call.staged = call.staged, []
            error = res.error
            try:
                for turn in res.turns:
                    await self._send_turn(turn)
            except Exception as exc:  # a bug must not stop the other calls of the batch
                error = exc
            if error is not None:
                log.error("frames stage failed on call %s: %r", call_id, error)
                for ev in staged:
                    await self.p.dead_letter(ev, f"internal error: {type(error).__name__}: {error}")
                    self._ack(ev)
                continue
            call.unacked.extend(staged)
            try:
                await self._maybe_progress(call)
                await self._maybe_checkpoint(call)
            except Exception:  # its events stay unacknowledged: redelivered after a restart
                log.exception("frames stage: progress/checkpoint failed on call %s", call_id)

    async def _on_ended(self, event, call_id: str, reason: str) -> None:
        call = self.calls.get(call_id) or self._lookup(call_id, event.message.partition)
        if call is None:
            self._ack(event)  # ended twice, or never started: nothing to flush
            return
        if call.staged or id(call.fe) in self._batch_calls:
            await self._run_batch()  # its frames of this batch first: their turns precede the flush
        call.unacked.append(event)
        await self._finish(call_id, call, reason)

    # ---- helpers -----------------------------------------------------------------------------

    async def _finish(self, call_id: str, call: LiveCall, reason: str) -> None:
        with self.stats.measure("frames"):
            turns = call.fe.flush()
        for turn in turns:
            await self._send_turn(turn)
        await self._send(call_id, encode_control(Control(ENDED, call_id, call.end_s, reason=reason)))
        await self._delivered(call)
        self._table_set(call, ENDED_MARKER)
        self.calls.pop(call_id, None)
        self.stats.count("calls_ended")
        for ev in call.unacked:
            self._ack(ev)
        call.unacked.clear()

    async def _send_turn(self, turn) -> None:
        if not wants_score(turn.speaker, self.settings.agent_emotion):
            # Not to be scored (agent turns, or unattributed mono turns, with agent emotion off):
            # their audio never leaves this stage.
            turn = type(turn)(turn.call_id, turn.turn_id, turn.speaker, turn.channel, turn.start_s,
                              turn.end_s, turn.audio[:0], turn.overlap)
        self.stats.count("turns")
        await self._send(turn.call_id, encode("speech_turn", turn_to_record(turn)))

    async def _maybe_progress(self, call: LiveCall) -> None:
        """Tell the chain how far the call's audio has gone, so windows close without waiting for the
        next turn. The chain closes windows `allowed_lateness_s` behind the progress, so a turn still
        held by the front end (it starts at most `pending_audio_s` before the decoded audio) is not late
        as long as the progress stays within the lateness of its start: progress = audio time minus
        whatever of the front end's hold-back (plus a margin) exceeds the lateness.

        With the streaming defaults (`streams.config.STREAM_CHAIN_DEFAULTS`) these marks are the only
        thing that moves the chain's watermark, and the lateness is 2 s (for transcript segments), so a
        window closes once the decoded audio is max(lateness, pending + margin) past its end, looked at
        every PROGRESS_RECHECK_S of audio: ~2-2.5 s instead of the 10 s of turn-start watermarks.

        A progress mark only matters when it lets a window close, so one is sent only when the safe
        progress passes the next close point (window end + lateness: every `step_s`), not every
        fraction of a second: the same windows close at the same moment with ~10x fewer control
        messages on the turns and scores topics (and chain state writes)."""
        audio_s = call.audio_s
        if audio_s < call.next_progress_check_s:
            return  # cheap test first: pending_audio_s is not free and the progress is <= audio_s
        target = self.next_close_point(call.last_progress_s)
        if audio_s < target:
            call.next_progress_check_s = target
            return
        hold_s = max(0.0, call.fe.pending_audio_s + PROGRESS_MARGIN_S - self.lateness_s)
        safe = audio_s - hold_s
        if safe >= target:
            call.last_progress_s = safe
            call.next_progress_check_s = self.next_close_point(safe)
            self.stats.count("progress_marks")
            await self._send(call.info.call_id, encode_control(Control(PROGRESS, call.info.call_id, safe)))
        else:  # the front end still holds audio: look again a little later
            call.next_progress_check_s = audio_s + PROGRESS_RECHECK_S

    def next_close_point(self, t: float) -> float:
        """The first progress after t at which the chain can close another window: windows start at
        k * step_s, end window_s later, and close once the progress is `allowed_lateness_s` past their end."""
        if self.early_firing:
            # spans ending at each customer turn's end are evaluated too: close points are anywhere
            return t + PROGRESS_RECHECK_S
        first = self.window_s + self.lateness_s
        if t < first:
            return first
        return first + (math.floor((t - first) / self.step_s) + 1) * self.step_s

    async def _maybe_checkpoint(self, call: LiveCall) -> None:
        every = self.settings.checkpoint_every_s
        if call.audio_since_checkpoint_s < every:
            return
        if call.fe.pending_audio_s > MAX_PENDING_AT_CHECKPOINT_S and call.audio_since_checkpoint_s < 4 * every:
            return
        await self._delivered(call)
        with self.stats.measure("checkpoint"):
            blob = pack_checkpoint(call)
        self._table_set(call, blob)
        self.stats.count("checkpoints")
        call.audio_since_checkpoint_s = 0.0
        for ev in call.unacked:
            self._ack(ev)
        call.unacked.clear()

    def _table_set(self, call: LiveCall, value: bytes) -> None:
        """table[call_id] = value, also from the idle timer (outside stream iteration, where Faust
        cannot tell the partition): the changelog partition is the call's partition."""
        key = call.info.call_id.encode()
        if call.partition < 0:
            call.partition = partition_of(key, self.settings.partitions)
        self.table.data[key] = value
        self.table.send_changelog(call.partition, key, value)

    def _lookup(self, call_id: str, partition: int) -> LiveCall | None:
        """The call restored from its checkpoint, if it has one (after a restart or rebalance)."""
        blob = self.table.get(call_id.encode())
        if not blob or blob == ENDED_MARKER:
            return None
        call = unpack_checkpoint(blob, partition)
        self.calls[call_id] = call
        self.stats.count("calls_restored")
        log.info("call %s restored from its checkpoint (seq %s)", call_id, call.last_seq)
        return call

    def _restore_checkpointed_calls(self) -> None:
        """Load every checkpointed, unfinished call of the partitions this worker owns now, so the idle
        timer sees it (a call that never ends must be closed after a restart too). Runs after each
        assignment, once the tables are recovered; the table may still hold rows of partitions that
        moved to another worker, which are left alone."""
        try:
            if not self.p.state_ready():
                return
            audio = self.p.topics["audio"].get_topic_name()
            mine = {tp.partition for tp in self.p.app.consumer.assignment() if tp.topic == audio}
        except Exception:
            return
        for call_id in [c for c, call in self.calls.items() if call.partition not in mine]:
            del self.calls[call_id]  # not ours any more (on_revoked drops them; this is a safety net)
        if not mine:
            return
        self._restored_scan_done = True
        for key, blob in list(self.table.items()):
            call_id = key.decode() if isinstance(key, bytes) else str(key)
            if partition_of(key, self.settings.partitions) not in mine:
                continue
            if blob and blob != ENDED_MARKER and call_id not in self.calls:
                try:
                    self._lookup(call_id, partition_of(key, self.settings.partitions))
                except Exception:
                    log.exception("cannot restore call %s from its checkpoint", call_id)

    async def _send(self, call_id: str, value: bytes) -> None:
        fut = await self.turns_topic.send(key=call_id.encode(), value=value)
        call = self.calls.get(call_id)
        if call is not None:
            call.in_flight.append(fut)

    @staticmethod
    async def _delivered(call: LiveCall) -> None:
        """Wait until the broker has every turn sent for this call: a checkpoint (or end marker) must
        never reach the table before the turns it implies, or a crash in between would lose them."""
        futs, call.in_flight = call.in_flight, []
        for fut in futs:
            await fut

    @staticmethod
    def _ack(event) -> None:
        event.ack()


def register(pipeline) -> FramesStage:
    stage = FramesStage(pipeline)
    pipeline.extras["frames"] = stage
    app = pipeline.app

    @app.agent(pipeline.topics["audio"], name="frames")
    async def frames_agent(stream):
        # noack_take, not take_events: take_events acknowledges every event after the batch, and a
        # frame must be acknowledged only once a checkpoint holds it. Up to FRAME_BATCH_MAX events,
        # waiting at most FRAME_BATCH_WITHIN_S for more: many live calls share one VAD run.
        async for events in stream.noack().noack_take(FRAME_BATCH_MAX, within=FRAME_BATCH_WITHIN_S):
            await stage.handle_many(events)

    return stage
