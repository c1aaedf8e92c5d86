"""Batched, retrying writes of turns, windows, alerts and calls into ClickHouse.

Input: row dicts per table (`rows_for(obj)` / `streams.records.row_for`). Output: one INSERT per
table per flush (thousands of rows or `max_delay_s`, whichever first; never a row at a time).

Retries: a failed INSERT is retried with exponential back-off; rows are never dropped — if every
retry fails the rows go back to the front of the buffer and `flush` raises `SinkUnavailable`, so the
caller must not commit its input offsets. A retried batch is the same block of rows, which the
tables' `non_replicated_deduplication_window` drops if the first attempt had landed after all;
rows that are redelivered some other way collapse in ReplacingMergeTree (read with FINAL).
A batch the server rejects as malformed (not a connection problem) is split in halves until the
bad rows are isolated: those go to `on_reject` (by default: logged) and the rest is written.

Usable from asyncio: `await sink.flush_async()` runs the same flush in the sink's single worker
thread, so the event loop never blocks on ClickHouse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from streams.records import TABLES, CallContext, row_for
from streams.store import DATABASE, client_lock, database_of

log = logging.getLogger(__name__)


class SinkUnavailable(RuntimeError):
    """ClickHouse stayed unreachable through every retry; the rows are still buffered."""


class SinkBackpressure(RuntimeError):
    """The buffer holds max_buffer_rows rows already (ClickHouse has been away too long)."""


@dataclass
class SinkStats:
    rows_written: int = 0
    batches: int = 0
    """Successful INSERT statements."""
    retries: int = 0
    """INSERT attempts that failed with a transient error and were tried again."""
    failures: int = 0
    """Flushes that gave up (rows kept in the buffer)."""
    rejected: int = 0
    """Rows the server refused as malformed, handed to on_reject."""


def rows_for(obj: Any, ctx: CallContext | None = None, **kw) -> tuple[str, dict]:
    """(table, row) for a FusedTurn, WindowAggregate, Alert, CallSummary, CallContext or dead letter."""
    return row_for(obj, ctx, **kw)


class _RowError(Exception):
    """Internal: the batch holds rows the serializer or server refuses."""


def is_row_error(exc: BaseException) -> bool:
    """A batch refused because of its rows' values (bisect it), not because of the server."""
    import struct

    from clickhouse_connect.driver.exceptions import DataError

    if isinstance(exc, (TypeError, ValueError, OverflowError, AttributeError, KeyError, UnicodeError, struct.error, DataError)):
        return True
    # Server-side parse/type errors: CANNOT_PARSE_*, TYPE_MISMATCH, CANNOT_CONVERT_TYPE, TOO_LARGE_STRING_SIZE...
    text = str(exc)
    return any(f"Code: {c}." in text for c in (6, 26, 27, 38, 41, 53, 69, 70, 72, 131))


def is_transient(exc: BaseException) -> bool:
    """Connection-level trouble worth retrying, as opposed to a batch the server rejects."""
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    if isinstance(exc, (OperationalError, ConnectionError, TimeoutError, OSError)):
        return True
    if isinstance(exc, DatabaseError):
        text = str(exc)
        # Server-side codes that mean "try again later": TOO_MANY_PARTS, MEMORY_LIMIT_EXCEEDED,
        # TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, NETWORK_ERROR, SOCKET_TIMEOUT, ALL_CONNECTION_TRIES_FAILED.
        return any(f"Code: {c}." in text for c in (252, 241, 159, 202, 210, 209, 279))
    return False


class ClickHouseSink:
    """One per process; buffers rows per table and writes them in batches."""

    def __init__(
        self,
        client,
        *,
        database: str | None = None,
        max_rows: int = 5000,
        max_delay_s: float = 1.0,
        max_retries: int = 5,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        max_buffer_rows: int = 1_000_000,
        on_reject: Callable[[str, dict, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.database = database or database_of(client) or DATABASE
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_buffer_rows = max_buffer_rows
        self.on_reject = on_reject or _log_reject
        self.stats = SinkStats()
        self._clock = clock
        self._sleep = sleep
        self._buffers: dict[str, list[tuple]] = {}
        self._columns: dict[str, tuple[str, ...]] = {}
        self._oldest: float | None = None
        self._buffered = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ buffering (no I/O)

    def add(self, table: str, rows: list[dict]) -> None:
        """Buffer rows for `table`; a row whose columns differ from the table's is a ValueError
        (raised here, so one bad row never poisons a batch)."""
        if not rows:
            return
        columns = self._columns.get(table) or TABLES.get(table)
        if columns is None:
            columns = tuple(rows[0])
        converted = []
        for row in rows:
            if tuple(row) == columns:  # the usual case: built by row_for, in column order
                converted.append(tuple(row.values()))
            elif len(row) == len(columns) and all(c in row for c in columns):
                converted.append(tuple(row[c] for c in columns))
            else:
                raise ValueError(f"{table} row has columns {sorted(row)}, expected {sorted(columns)}")
        with self._lock:
            if self._buffered + len(converted) > self.max_buffer_rows:
                raise SinkBackpressure(f"{self._buffered} rows buffered (max {self.max_buffer_rows}); ClickHouse is away")
            self._columns.setdefault(table, columns)
            self._buffers.setdefault(table, []).extend(converted)
            self._buffered += len(converted)
            if self._oldest is None:
                self._oldest = self._clock()

    def add_obj(self, obj: Any, ctx: CallContext | None = None, **kw) -> None:
        """Buffer the row of one dataclass (see rows_for)."""
        table, row = rows_for(obj, ctx, **kw)
        self.add(table, [row])

    @property
    def buffered(self) -> int:
        return self._buffered

    def due(self) -> bool:
        """max_rows buffered, or the oldest buffered row waited max_delay_s."""
        with self._lock:
            if self._buffered == 0:
                return False
            return self._buffered >= self.max_rows or self._clock() - (self._oldest or 0.0) >= self.max_delay_s

    def seconds_until_due(self) -> float | None:
        """Time until `due()` turns true by age (None when empty): what a flush timer should sleep."""
        with self._lock:
            if self._buffered == 0:
                return None
            if self._buffered >= self.max_rows:
                return 0.0
            return max(0.0, self.max_delay_s - (self._clock() - (self._oldest or 0.0)))

    # ------------------------------------------------------------ writing

    def flush(self) -> int:
        """Insert everything buffered, one INSERT per table, retrying transient failures.
        Returns rows written; raises SinkUnavailable (rows kept) when retries run out."""
        with self._flush_lock:
            with self._lock:
                batches, self._buffers = self._buffers, {}
                oldest, self._oldest = self._oldest, None
                self._buffered = 0
            written = 0
            tables = list(batches)
            for i, table in enumerate(tables):
                try:
                    written += self._write(table, batches[table])
                except SinkUnavailable:
                    self.stats.failures += 1
                    self._requeue({t: batches[t] for t in tables[i:]}, oldest)
                    raise
            return written

    async def flush_async(self) -> int:
        """`flush` in the sink's single worker thread (the event loop keeps running)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-sink")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.flush)

    async def flush_if_due_async(self) -> int:
        return await self.flush_async() if self.due() else 0

    def close(self) -> int:
        """Flush what is left and stop the worker thread."""
        try:
            return self.flush()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _requeue(self, batches: dict[str, list[tuple]], oldest: float | None) -> None:
        """Put unwritten rows back in front, keeping their age (they stay due)."""
        with self._lock:
            for table, rows in batches.items():
                self._buffers[table] = rows + self._buffers.get(table, [])
                self._buffered += len(rows)
            if oldest is not None:
                self._oldest = oldest if self._oldest is None else min(oldest, self._oldest)

    def _write(self, table: str, rows: list[tuple]) -> int:
        """Insert `rows`; isolate and reject malformed rows by bisection."""
        try:
            self._insert_with_retry(table, rows)
            return len(rows)
        except _RowError as err:  # the server (or the client's serializer) refused the batch
            exc = err.__cause__
            if len(rows) == 1:
                self.stats.rejected += 1
                self.on_reject(table, dict(zip(self._columns[table], rows[0])), f"{type(exc).__name__}: {exc}")
                return 0
            mid = len(rows) // 2
            return self._write(table, rows[:mid]) + self._write(table, rows[mid:])

    def _insert_with_retry(self, table: str, rows: list[tuple]) -> None:
        delay = self.backoff_s
        for attempt in range(self.max_retries + 1):
            try:
                with client_lock(self.client):
                    self.client.insert(f"{self.database}.{table}", rows, column_names=list(self._columns[table]))
                self.stats.batches += 1
                self.stats.rows_written += len(rows)
                return
            except Exception as exc:
                if is_row_error(exc):
                    raise _RowError() from exc
                if not is_transient(exc):
                    raise SinkUnavailable(f"insert into {table} failed and retrying will not help: {exc}") from exc
                if attempt == self.max_retries:
                    raise SinkUnavailable(f"insert into {table} failed {attempt + 1} times: {exc}") from exc
                self.stats.retries += 1
                log.warning("insert of %d rows into %s failed (%s); retry %d in %.2fs",
                            len(rows), table, exc, attempt + 1, delay)
                self._sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)


def _log_reject(table: str, row: dict, reason: str) -> None:
    log.error("ClickHouse rejected a %s row (call %s): %s", table, row.get("call_id"), reason)
