"""Sink stage: pipeline outputs -> ClickHouse (embedded chdb or a server), in batches.

Input topics `fused`, `windows`, `alerts`, `calls`, `dead-letter`; the `cp-ctx` header gives each
row its call's agent id, queue and start time, `cp-probs` a turn's emotion probabilities.
Output: rows of `turns`, `windows`, `alerts`, `calls`, `dead_letters` (streams/records.py `row_for`).

At-least-once: events are acknowledged only after the batch holding their rows was inserted, so a
crash re-inserts at most the last unflushed batch; every table collapses duplicates by its natural
key (ReplacingMergeTree / AggregatingMergeTree: read with FINAL).
"""

from __future__ import annotations

import asyncio
import json
import logging

from schemas.codec import SchemaError, decode
from streams.records import CallContext, from_record, record_to_call_context
from streams.sinks.clickhouse import ClickHouseSink, SinkBackpressure, SinkUnavailable, rows_for
from streams.wire import CTX_HEADER, PROBS_HEADER, headers_dict, kind_of

log = logging.getLogger(__name__)

SINK_TOPICS = ("fused", "windows", "alerts", "calls", "dead-letter")
OBJECT_SCHEMAS = {"fused_turn", "window_aggregate", "escalation_alert", "call_summary"}


def context_of(headers: dict[str, bytes]) -> CallContext | None:
    raw = headers.get(CTX_HEADER)
    if not raw:
        return None
    try:
        rec = json.loads(raw)
        return record_to_call_context(rec) if rec else None
    except (ValueError, KeyError, TypeError, SchemaError):
        return None


class SinkStage:
    def __init__(self, pipeline) -> None:
        self.p = pipeline
        self.settings = pipeline.settings
        self.stats = pipeline.stats
        self._client = None
        self.sink: ClickHouseSink | None = None
        self.pending: list = []
        self._lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()

    async def ensure_open(self):
        """Open (and migrate) the store once, off the event loop; returns the client."""
        if self._client is None:
            async with self._open_lock:
                if self._client is None:
                    from streams.store import open_store

                    client = await asyncio.to_thread(open_store, self.settings.store_url or None, migrate=True)
                    self.sink = ClickHouseSink(client, max_rows=self.settings.sink_max_rows,
                                               max_delay_s=self.settings.sink_max_delay_s)
                    self._client = client
        return self._client

    def rows_of(self, event) -> tuple[str, dict]:
        value = event.value
        kind = kind_of(value)
        rec = decode(kind, value)
        headers = headers_dict(event.headers)
        ctx = context_of(headers)
        if kind in OBJECT_SCHEMAS:
            kw = {}
            if kind == "fused_turn" and headers.get(PROBS_HEADER):
                kw["emotion_probs"] = json.loads(headers[PROBS_HEADER])
            return rows_for(from_record(kind, rec), ctx, **kw)
        if kind == "call_event":
            if rec["kind"] == "started":
                return rows_for(record_to_call_context(rec))
            from streams.records import call_ended_row

            return call_ended_row(rec["call_id"], rec["ts_ms"], reason=rec.get("end_reason", ""))
        if kind == "dead_letter":
            return rows_for(rec)
        raise SchemaError(f"{kind} events have no ClickHouse table")

    async def handle(self, event) -> None:
        await self.ensure_open()
        try:
            with self.stats.measure("sink"):
                table, row = self.rows_of(event)
                self.sink.add(table, [row])
        except (SchemaError, ValueError, TypeError, KeyError) as exc:
            if event.message.topic == self.p.topics["dead-letter"].get_topic_name():
                log.error("unreadable dead-letter event dropped: %s", exc)
            else:
                await self.p.dead_letter(event, f"sink: {type(exc).__name__}: {exc}")
            event.ack()
            return
        self.pending.append((event, table))  # rows are counted once inserted (see flush)
        if self.sink.due():
            await self.flush()

    async def flush(self) -> None:
        """Insert what is buffered, then acknowledge the events it came from."""
        async with self._lock:
            if self.sink is None or not self.pending and not self.sink.buffered:
                return
            events, self.pending = self.pending, []
            try:
                await asyncio.to_thread(self._flush_measured)
            except (SinkUnavailable, SinkBackpressure) as exc:
                log.error("ClickHouse unavailable (%s); %d events stay unacknowledged", exc, len(events))
                self.pending = events + self.pending
                return
            for ev, table in events:
                ev.ack()
                self.stats.count(f"rows_{table}")
            self.stats.count("sink_flushes")

    def _flush_measured(self) -> int:
        """The INSERTs, in a worker thread (chdb has no async client), counted as sink CPU."""
        with self.stats.measure("sink"):
            return self.sink.flush()

    @property
    def buffered(self) -> int:
        return len(self.pending) + (self.sink.buffered if self.sink is not None else 0)

    async def flush_if_due(self) -> None:
        if self.sink is not None and (self.sink.due() or (self.pending and not self.sink.buffered)):
            await self.flush()


def register(pipeline) -> SinkStage:
    stage = SinkStage(pipeline)
    pipeline.extras["sink"] = stage
    names = [pipeline.topics[n].get_topic_name() for n in SINK_TOPICS]
    channel = pipeline.app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw",
                                 value_serializer="raw")

    @pipeline.app.agent(channel, name="sink")
    async def sink_agent(stream):
        async for event in stream.noack().events():
            await stage.handle(event)

    @pipeline.app.timer(0.2, name="sink-flush")
    async def sink_flush():
        try:
            await stage.flush_if_due()
        except Exception:  # an exception in a Faust timer would stop the worker
            log.exception("sink flush failed")

    @pipeline.app.task
    async def open_store_at_start():
        await stage.ensure_open()

    return stage
