"""Chain stage: emotion scores + transcripts of a call -> fusion, windows, escalation (CallChain).

Input topics `scores` (emotion_score + control) and `transcripts` (transcript_segment), co-partitioned
by call id. Output topics `fused`, `windows`, `alerts`, `calls` (call started, call summary), each
event carrying the call's context (agent id, queue, start time) in the `cp-ctx` header so the sink
can stamp rows without a join.

State: one `processors.call_chain.CallChain` per call, saved after every event that changed it into
the changelog-backed table `call-chains`, once the event's outputs are acknowledged by the broker (and
Faust flushes the producer before it commits input offsets). A restart restores the chain from the
table and the redelivered events are duplicates the chain ignores (turn and segment ids), so no turn
is lost or counted twice and an alert is not raised again, except if the crash falls in the
milliseconds between an output's delivery and the state write: then the same record (same ids) is
sent twice. An ended call keeps a small marker.

Publishing: an event is finished (its state saved, the event acknowledged) only once every output it
produced is on the broker. A send that fails for a transient reason is retried until it goes
through; one the broker can never take (a record too large) rolls the call's state back to what
was last saved and sends the event to the dead-letter topic, so the chain never remembers a turn,
window or alert it did not publish.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field, fields

import numpy as np

from processors.call_chain import CallChain, ChainConfig, ChainInputError
from processors.escalation import EscalationConfig
from processors.fusion import FusionConfig
from processors.types import Alert, CallSummary, FusedTurn, SpeechTurn, WindowAggregate
from schemas.codec import SchemaError, decode, encode
from streams.records import from_record, record_to_emotion, schema_name_of, to_record
from streams.wire import CTX_HEADER, ENDED, PROBS_HEADER, PROGRESS, STARTED, decode_control, dump_json, kind_of

log = logging.getLogger(__name__)

OUTPUT_TOPIC = {FusedTurn: "fused", WindowAggregate: "windows", Alert: "alerts", CallSummary: "calls"}
PUBLISH_RETRY_FIRST_S = 0.2
PUBLISH_RETRY_MAX_S = 5.0


class OutputRejected(Exception):
    """An output the broker will never take (too large, invalid): retrying cannot help."""


def permanent_send_error(exc: BaseException) -> bool:
    """Whether a failed send can never succeed: the record is too large or invalid for the broker or
    the producer. Anything else (connection lost, no leader, timeout, producer restarting) is
    transient and retried."""
    from aiokafka import errors as ke

    cause = exc.__cause__ if exc.__cause__ is not None and type(exc).__name__ == "ProducerSendError" else exc
    return isinstance(cause, (ke.MessageSizeTooLargeError, ke.RecordTooLargeError, ke.RecordListTooLargeError,
                              ke.InvalidTopicError, ke.CorruptRecordException, TypeError, ValueError))
END_REASONS = {"idle_timeout": "idle_timeout"}


def chain_config(thresholds: dict[str, float], agent_emotion: bool = False) -> ChainConfig:
    """ChainConfig with the settings' overrides (names of EscalationConfig / FusionConfig fields), on top
    of the streaming worker's own defaults (`streams.config.STREAM_CHAIN_DEFAULTS`: the watermark moves
    only with the frames stage's exact progress marks, 2 s lateness for transcript segments)."""
    from streams.config import STREAM_CHAIN_DEFAULTS

    thresholds = {**STREAM_CHAIN_DEFAULTS, **thresholds}
    esc = {f.name for f in fields(EscalationConfig)}
    fus = {f.name for f in fields(FusionConfig)}
    unknown = set(thresholds) - esc - fus
    if unknown:
        raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {sorted(esc | fus)}")
    def cast(cls, name, v):
        typ = next(f.type for f in fields(cls) if f.name == name)
        if typ in (bool, "bool"):
            return v if isinstance(v, bool) else bool(float(v))  # CALLPULSE_THRESHOLD_* values are floats
        return int(v) if typ in (int, "int") else v
    return ChainConfig(
        fusion=FusionConfig(**{k: cast(FusionConfig, k, v) for k, v in thresholds.items() if k in fus}),
        escalation=EscalationConfig(**{k: cast(EscalationConfig, k, v) for k, v in thresholds.items() if k in esc}),
        agent_emotion=agent_emotion,
    )


@dataclass
class CallState:
    chain: CallChain
    ctx: dict | None = None
    """The call_event record of the call's start (None until the started control message arrives)."""
    probs: dict[str, dict[str, float]] = field(default_factory=dict)
    ended: bool = False

    def to_bytes(self) -> bytes:
        if self.ended:
            return dump_json({"ended": True, "ctx": self.ctx})
        return dump_json({"ctx": self.ctx, "probs": self.probs, "chain": self.chain.state_bytes().decode()})


class ChainStage:
    def __init__(self, pipeline) -> None:
        self.p = pipeline
        self.settings = pipeline.settings
        self.stats = pipeline.stats
        self.config = chain_config(self.settings.thresholds, self.settings.agent_emotion)
        self.calls: dict[str, CallState] = {}
        self.table = pipeline.app.Table(
            "call-chains", default=None, key_type=bytes, value_type=bytes, partitions=self.settings.partitions,
        )
        self._polarity = None
        self._lock = asyncio.Lock()
        self._touched: str | None = None
        """The call whose state the event in progress reads or changes (rolled back on failure)."""

    def polarity(self, text: str) -> float:
        if self._polarity is None:
            from processors.call_chain import default_polarity

            self._polarity = default_polarity()
        return self._polarity(text)

    def _state(self, call_id: str) -> CallState:
        self._touched = call_id
        st = self.calls.get(call_id)
        if st is not None:
            return st
        blob = self.table.get(call_id.encode())
        if blob:
            d = json.loads(blob)
            if d.get("ended"):
                st = CallState(CallChain(call_id, self.config, self.polarity), d.get("ctx"), ended=True)
            else:
                st = CallState(CallChain.from_state_bytes(d["chain"].encode(), self.config, self.polarity),
                               d.get("ctx"), d.get("probs", {}))
                self.stats.count("chains_restored")
        else:
            st = CallState(CallChain(call_id, self.config, self.polarity))
        self.calls[call_id] = st
        return st

    async def handle(self, event) -> None:
        if not self.p.owns(event):
            self.stats.count("skipped_revoked")
            return
        async with self._lock:  # on_revoked waits for the event in progress
            if not self.p.owns(event):
                self.stats.count("skipped_revoked")
                return
            await self._handle_owned(event)

    async def _handle_owned(self, event) -> None:
        self._touched = None
        try:
            await self._handle(event)
        except (SchemaError, ChainInputError, OutputRejected) as exc:
            self._roll_back()
            await self.p.dead_letter(event, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            self._roll_back()
            log.exception("chain stage failed")
            await self.p.dead_letter(event, f"internal error: {type(exc).__name__}: {exc}")

    def _roll_back(self) -> None:
        """Forget the in-memory state of the call the failed event touched: it may hold a change
        whose outputs never reached the broker. The next event of the call restores the state last
        saved in the table, so what the chain remembers is what it published."""
        if self._touched is not None:
            self.calls.pop(self._touched, None)

    async def _handle(self, event) -> None:
        value = event.value
        kind = kind_of(value)
        outputs: list = []
        extra: list[tuple[str, bytes]] = []
        if kind == "control":
            c = decode_control(value)
            st = self._state(c.call_id)
            if st.ended:
                return
            with self.stats.measure("chain"):
                if c.kind == STARTED:
                    if st.ctx is not None:
                        return  # redelivered
                    st.ctx = c.call_event
                    extra.append(("calls", encode("call_event", c.call_event)))
                elif c.kind == PROGRESS:
                    outputs = st.chain.advance_to(c.t)
                elif c.kind == ENDED:
                    outputs = st.chain.end_call(END_REASONS.get(c.reason, "ended"), c.t)
                    st.ended = True
            call_id = c.call_id
        elif kind == "emotion_score":
            fields_, emotion = record_to_emotion(decode("emotion_score", value))
            call_id = fields_.call_id
            st = self._state(call_id)
            if st.ended:
                self.stats.count("turns_after_end")
                return
            turn = SpeechTurn(call_id, fields_.turn_id, fields_.speaker, fields_.channel, fields_.start_s,
                              fields_.end_s, np.zeros(0, np.float32), fields_.overlap)
            with self.stats.measure("chain"):
                outputs = st.chain.add_turn(turn, emotion)
            if emotion is not None and outputs:
                st.probs[turn.turn_id] = dict(emotion.probs)
            self.stats.count("turns_chained")
        elif kind == "transcript_segment":
            seg = from_record("transcript_segment", decode("transcript_segment", value))
            call_id = seg.call_id
            st = self._state(call_id)
            if st.ended:
                return
            with self.stats.measure("chain"):
                outputs = st.chain.add_transcript(seg)
        else:
            raise SchemaError(f"{kind} events do not belong on the scores/transcripts topics")

        ctx_header = dump_json(st.ctx) if st.ctx is not None else b"null"
        sends: list[tuple[str, bytes, dict]] = []
        for topic, data in extra:
            self.stats.count("out_calls_started")
            sends.append((topic, data, {CTX_HEADER: ctx_header}))
        for obj in outputs:
            headers = {CTX_HEADER: ctx_header}
            if isinstance(obj, FusedTurn) and obj.turn_id in st.probs:
                headers[PROBS_HEADER] = dump_json(st.probs[obj.turn_id])
            name = OUTPUT_TOPIC[type(obj)]
            self.stats.count(f"out_{name}")
            sends.append((name, encode(schema_name_of(obj), to_record(obj)), headers))
        # Outputs delivered first, state second: a crash in between re-emits the same records (same
        # ids: the store collapses them, alert consumers dedupe by alert_id); the other order could
        # lose them, since the restored chain would treat the redelivered event as a duplicate.
        await self._publish(call_id.encode(), sends)
        # Saved after every event that reached the chain, outputs or not: a transcript segment that
        # comes before its turn changes the state without an output, and once its event is
        # acknowledged a restart (or the roll-back of a later failed event) must not forget it.
        self.table[call_id.encode()] = st.to_bytes()
        if st.ended:
            self.calls.pop(call_id, None)

    async def _publish(self, key: bytes, sends: list[tuple[str, bytes, dict]]) -> None:
        """Send the outputs in order and wait until the broker has every one. After a transient
        failure (broker away, leader moving, timeout) everything from the first failed output on is
        sent again, after a pause doubling up to PUBLISH_RETRY_MAX_S, for as long as the worker runs:
        the event is not finished (not acknowledged, its state not saved) before its outputs are on
        the broker. A permanent failure (a record the broker will never take) raises OutputRejected."""
        delay = PUBLISH_RETRY_FIRST_S
        pending = sends
        while pending:
            futs: list = []
            failure: tuple[int, BaseException] | None = None
            for i, (topic, value, headers) in enumerate(pending):
                try:
                    futs.append(await self.p.topics[topic].send(key=key, value=value, headers=headers))
                except Exception as exc:  # noqa: BLE001 - classified below
                    failure = (i, exc)
                    break
            for i, fut in enumerate(futs):
                try:
                    await fut
                except Exception as exc:  # noqa: BLE001 - classified below
                    if failure is None or i < failure[0]:
                        failure = (i, exc)
                    break
            if failure is None:
                return
            first, exc = failure
            if permanent_send_error(exc):
                raise OutputRejected(f"{pending[first][0]} refused an output: {type(exc).__name__}: {exc}") from exc
            self.stats.count("publish_retries")
            log.warning("chain output to %s failed (%s: %s); sending again in %.1f s",
                        pending[first][0], type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)  # back-off before a retry, not a synchronisation
            delay = min(2 * delay, PUBLISH_RETRY_MAX_S)
            pending = pending[first:]

    async def on_revoked(self, partitions: set[int]) -> None:
        async with self._lock:
            self.calls.clear()  # restored lazily from the table by whichever worker owns them now


def register(pipeline) -> ChainStage:
    stage = ChainStage(pipeline)
    pipeline.extras["chain"] = stage
    channel = pipeline.app.topic(
        pipeline.topics["scores"].get_topic_name(), pipeline.topics["transcripts"].get_topic_name(),
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    )

    @pipeline.app.agent(channel, name="chain")
    async def chain_agent(stream):
        async for event in stream.events():
            await stage.handle(event)

    return stage
