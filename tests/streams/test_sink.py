"""ClickHouseSink on real chdb: batching, retries while the store is away, no loss, no doubles."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
import uuid

import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from processors.types import CallInfo, FusedTurn, WindowAggregate
from streams import store
from streams.records import CallContext, row_for
from streams.sinks.clickhouse import ClickHouseSink, SinkBackpressure, SinkUnavailable


@pytest.fixture
def db(chdb_dir, request):
    client = store.open_store(f"chdb://{chdb_dir}")
    name = "s_" + re.sub(r"\W", "_", request.node.name)[:30] + "_" + uuid.uuid4().hex[:6]
    store.apply_migrations(client, name)
    yield client, name
    client.command(f"DROP DATABASE IF EXISTS {name}")


class RecordingClient:
    """The real client, recording every INSERT; fails the first `fail` INSERTs like a store that is
    briefly away (optionally after the rows landed: the reply was lost)."""

    def __init__(self, client, fail: int = 0, landed: bool = False, gate: threading.Event | None = None):
        self.client, self.fail, self.landed, self.gate = client, fail, landed, gate
        self.inserts: list[tuple[str, int]] = []

    def insert(self, table, data, column_names=None, **kw):
        if self.gate is not None and not self.gate.wait(timeout=20):
            raise RuntimeError("gate never opened: the event loop was blocked")
        self.inserts.append((table, len(data)))
        if self.fail > 0:
            self.fail -= 1
            if self.landed:
                self.client.insert(table, data, column_names=column_names, **kw)
            raise OperationalError("Error HTTPConnectionPool: connection refused (store is restarting)")
        return self.client.insert(table, data, column_names=column_names, **kw)

    def __getattr__(self, name):
        return getattr(self.client, name)


CTX = CallContext(CallInfo("c", True, agent_id="a", queue="q"), int(time.time() * 1000))


def turn_rows(n: int, call: str = "c", seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [row_for(FusedTurn(call, f"{call}:1:{i:06d}", "customer", i, i + 0.5, rng.random(), 0.5, None, None,
                              None, "x"), CTX)[1] for i in range(n)]


def count(client, db_name, table="turns", final=True):
    return store.query(client, f"SELECT count() FROM {db_name}.{table}{' FINAL' if final else ''}").rows[0][0]


def test_rows_are_written_in_batches_never_one_by_one(db):
    client, name = db
    rec = RecordingClient(client)
    sink = ClickHouseSink(rec, database=name, max_rows=5000, max_delay_s=3600)
    rows = turn_rows(12_000)
    added = 0
    while not sink.due():
        sink.add("turns", rows[added:added + 100])
        added += 100
    assert added == 5000  # due exactly when max_rows rows are buffered
    sink.add("turns", rows[added:])
    sink.add("windows", [row_for(WindowAggregate("c", 5.0 * i, 5.0 * i + 30, 1, 1.0, 0.1, 0.2, 0.0, 1.0, 0.5, 0, 0.5, False), CTX)[1]
                         for i in range(50)])
    assert sink.flush() == 12_050
    assert sorted(rec.inserts) == [(f"{name}.turns", 12_000), (f"{name}.windows", 50)]
    assert (sink.stats.batches, sink.stats.rows_written, sink.buffered) == (2, 12_050, 0)
    assert count(client, name) == 12_000 and count(client, name, "windows") == 50
    assert sink.flush() == 0 and not sink.due()


def test_due_after_max_delay():
    now = [100.0]
    sink = ClickHouseSink(object(), database="x", max_rows=5000, max_delay_s=1.0, clock=lambda: now[0])
    assert not sink.due() and sink.seconds_until_due() is None
    sink.add("turns", turn_rows(1))
    now[0] += 0.4
    assert not sink.due() and sink.seconds_until_due() == pytest.approx(0.6)
    sink.add("turns", turn_rows(1, seed=1))  # a newer row does not reset the oldest row's age
    now[0] += 0.6
    assert sink.due() and sink.seconds_until_due() == 0.0


def test_store_briefly_away_retries_without_loss(db):
    client, name = db
    rec = RecordingClient(client, fail=3)
    sleeps: list[float] = []
    sink = ClickHouseSink(rec, database=name, max_retries=5, backoff_s=0.2, sleep=sleeps.append)
    sink.add("turns", turn_rows(3000))
    assert sink.flush() == 3000
    assert sleeps == [0.2, 0.4, 0.8] and sink.stats.retries == 3 and sink.stats.failures == 0
    assert len(rec.inserts) == 4 and {n for _, n in rec.inserts} == {3000}  # the same batch each time
    assert count(client, name, final=False) == 3000


def test_retry_after_a_lost_reply_does_not_double_rows(db):
    """The first INSERT landed but its reply was lost; the identical retried block is dropped by the
    table's deduplication window, so even the raw (non-FINAL) count is right."""
    client, name = db
    rec = RecordingClient(client, fail=1, landed=True)
    sink = ClickHouseSink(rec, database=name, sleep=lambda s: None)
    sink.add("turns", turn_rows(2000))
    assert sink.flush() == 2000 and sink.stats.retries == 1
    assert count(client, name, final=False) == 2000
    assert count(client, name) == 2000


def test_store_away_longer_than_the_retries_keeps_rows_for_later(db):
    client, name = db
    rec = RecordingClient(client, fail=4)
    now = [0.0]
    sink = ClickHouseSink(rec, database=name, max_retries=2, max_delay_s=1.0, sleep=lambda s: None, clock=lambda: now[0])
    sink.add("turns", turn_rows(1500))
    now[0] = 0.75
    with pytest.raises(SinkUnavailable):
        sink.flush()
    assert sink.buffered == 1500 and sink.stats.failures == 1
    assert sink.seconds_until_due() == pytest.approx(0.25)  # the rows keep their age
    assert count(client, name, final=False) == 0
    sink.add("turns", turn_rows(10, call="d"))  # new rows keep arriving meanwhile
    assert sink.flush() == 1510  # store back (one more failure absorbed by the retries)
    assert count(client, name, final=False) == 1510 and sink.buffered == 0


def test_bad_rows_are_isolated_and_the_rest_written(db):
    client, name = db
    rejected = []
    sink = ClickHouseSink(client, database=name, on_reject=lambda t, row, why: rejected.append((t, row["turn_id"])))
    rows = turn_rows(1000)
    rows[137]["negativity"] = "very"
    rows[901]["start_s"] = None  # not Nullable
    sink.add("turns", rows)
    assert sink.flush() == 998
    assert sorted(rejected) == [("turns", "c:1:000137"), ("turns", "c:1:000901")]
    assert sink.stats.rejected == 2 and count(client, name) == 998


def test_rows_with_wrong_columns_are_refused_at_add():
    sink = ClickHouseSink(object(), database="x")
    row = turn_rows(1)[0]
    del row["text"]
    with pytest.raises(ValueError, match="turns row has columns"):
        sink.add("turns", [row])
    assert sink.buffered == 0


def test_backpressure_when_the_buffer_is_full():
    sink = ClickHouseSink(object(), database="x", max_buffer_rows=100)
    sink.add("turns", turn_rows(100))
    with pytest.raises(SinkBackpressure):
        sink.add("turns", turn_rows(1, seed=2))
    assert sink.buffered == 100


def test_flush_async_keeps_the_event_loop_running(db):
    """The INSERT waits for a gate that only a coroutine on the loop opens: it completes only if
    flush_async left the loop free. Rows added during the flush wait for the next one."""
    client, name = db
    gate = threading.Event()
    sink = ClickHouseSink(RecordingClient(client, gate=gate), database=name)

    async def main():
        sink.add("turns", turn_rows(500))
        flushing = asyncio.ensure_future(sink.flush_async())
        await asyncio.sleep(0)  # let the flush start in the sink's thread
        sink.add("turns", turn_rows(7, call="late"))
        gate.set()
        first = await flushing
        second = await sink.flush_async()
        return first, second

    try:
        first, second = asyncio.run(asyncio.wait_for(main(), timeout=60))
    finally:
        sink.close()
    assert first + second == 507 and second >= 7
    assert count(client, name) == 507


def test_concurrent_flushes_write_each_row_once(db):
    client, name = db
    rec = RecordingClient(client)
    sink = ClickHouseSink(rec, database=name)

    async def main():
        results = []
        for i in range(5):
            sink.add("turns", turn_rows(400, call=f"k{i}"))
            results.append(asyncio.ensure_future(sink.flush_async()))
            results.append(asyncio.ensure_future(asyncio.to_thread(sink.flush)))
        return sum(await asyncio.gather(*results))

    try:
        written = asyncio.run(asyncio.wait_for(main(), timeout=60))
    finally:
        sink.close()
    assert written == 2000 == sum(n for _, n in rec.inserts)
    assert count(client, name, final=False) == 2000
