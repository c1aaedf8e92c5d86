"""The ClickHouse store on real chdb: migrations, idempotent redelivery, roll-ups, TTL, queries."""

from __future__ import annotations

import http.server
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest

from processors.types import Alert, AlertEvidence, CallInfo, CallSummary, FusedTurn, WindowAggregate
from streams import store
from streams.records import TABLES, CallContext, call_ended_row, row_for
from streams.sinks.clickhouse import ClickHouseSink

UPSET = 0.5
DAY_MS = 86_400_000


@pytest.fixture
def db(chdb_dir, request):
    """(client, database): a fresh database with the migrations applied, in the process's store."""
    client = store.open_store(f"chdb://{chdb_dir}")
    name = "t_" + re.sub(r"\W", "_", request.node.name)[:30] + "_" + uuid.uuid4().hex[:6]
    assert store.apply_migrations(client, name) == ["001_tables", "002_rollups"]
    yield client, name
    client.command(f"DROP DATABASE IF EXISTS {name}")


def _q(client, sql):
    return store.query(client, sql).rows


def make_calls(n_calls: int, now_ms: int, seed: int = 0):
    """Synthetic calls: contexts, fused turns (some with later revisions), windows, alerts, summaries."""
    rng = random.Random(seed)
    out = []
    for i in range(n_calls):
        info = CallInfo(f"call{i}", stereo=bool(i % 2), agent_id=f"agent{i % 3}", queue=("billing", "support")[i % 2])
        ctx = CallContext(info, now_ms - rng.randrange(0, 3600_000))
        objs: list = [ctx]
        t = 0.0
        for k in range(rng.randrange(3, 12)):
            speaker = "customer" if k % 2 else "agent"
            dur = rng.uniform(0.5, 4.0)
            neg = rng.random()
            objs.append(FusedTurn(info.call_id, f"{info.call_id}:{k % 2}:{k:05d}", speaker, t, t + dur, neg,
                                  rng.random(), neg, None, "angry", "words"))
            if rng.random() < 0.3:  # a later revision once the transcript arrived
                objs.append(FusedTurn(info.call_id, f"{info.call_id}:{k % 2}:{k:05d}", speaker, t, t + dur,
                                      rng.random(), rng.random(), neg, -0.5, "angry", "words!", revision=1))
            t += dur + 0.2
        objs.append(WindowAggregate(info.call_id, 0.0, 30.0, 2, 5.0, 0.4, 0.9, 0.3, 4.0, 0.44, 1, 1.0, False))
        if i % 4 == 0:
            objs.append(Alert(info.call_id, f"{info.call_id}:episode:0", 0, 30.0, "high", 0.8, 2,
                              (AlertEvidence(f"{info.call_id}:1:00001", 1.0, 2.0, 0.9, "no"),)))
        objs.append(CallSummary(info.call_id, t, 3, 3, 5.0, 5.0, 0.4, 0.9, 0.3, int(i % 4 == 0), 0, "ended"))
        out.append((ctx, objs))
    return out


def expected_rollup(calls, key: str):
    """The roll-up computed in Python from the unique, latest-revision facts."""
    from datetime import datetime, timezone
    day = lambda ms: datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date()  # noqa: E731
    agg: dict = {}
    for ctx, objs in calls:
        k = ctx.info.agent_id if key == "agent_id" else ctx.info.queue
        a = agg.setdefault((day(ctx.started_ms), k), {"calls": 0, "turns": {}, "alerts": set()})
        a["calls"] += 1
        for o in objs:
            if isinstance(o, FusedTurn) and o.speaker == "customer":
                d = (day(ctx.started_ms + round(o.start_s * 1000)), k)
                b = agg.setdefault(d, {"calls": 0, "turns": {}, "alerts": set()})
                if o.turn_id not in b["turns"] or b["turns"][o.turn_id].revision < o.revision:
                    b["turns"][o.turn_id] = o
            if isinstance(o, Alert):
                agg.setdefault((day(ctx.started_ms + round(o.at_s * 1000)), k), {"calls": 0, "turns": {}, "alerts": set()})["alerts"].add(o.alert_id)
    rows = {}
    for (d, k), a in agg.items():
        ts = list(a["turns"].values())
        speech = sum(t.end_s - t.start_s for t in ts)
        rows[(d, k)] = (a["calls"], len(ts),
                        sum(t.negativity for t in ts) / len(ts) if ts else None,
                        sum(t.end_s - t.start_s for t in ts if t.negativity >= UPSET) / speech if ts else None,
                        len(a["alerts"]))
    return rows


def _rollup(client, table: str, key: str):
    rows = _q(client, f"SELECT day, {key}, calls, customer_turns, mean_negativity, upset_share, alerts FROM {table}")
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _assert_rollups_equal(got, want):
    assert got.keys() == want.keys()
    for k in want:
        g, w = got[k], want[k]
        assert g[0] == w[0] and g[1] == w[1] and g[4] == w[4], (k, g, w)
        for x, y in zip(g[2:4], w[2:4]):
            assert (x is None and y is None) or x == pytest.approx(y, abs=1e-9), (k, g, w)


def _write(client, database, calls, *, shuffle_seed=None):
    sink = ClickHouseSink(client, database=database, max_rows=10_000)
    items = [(o, ctx) for ctx, objs in calls for o in objs]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(items)
    for o, ctx in items:
        sink.add_obj(o, ctx if o is not ctx else None)
    return sink.flush()


def test_migrations_are_idempotent_and_recorded(db):
    client, name = db
    assert store.apply_migrations(client, name) == []
    assert _q(client, f"SELECT version, name FROM {name}.schema_migrations FINAL ORDER BY version") == [[1, "tables"], [2, "rollups"]]


def test_row_mappings_match_the_tables(db):
    """Every column a row dict carries exists, and every insertable column is carried."""
    client, name = db
    for table, columns in TABLES.items():
        insertable = [r[0] for r in _q(client, f"SELECT name FROM system.columns WHERE database = '{name}' "
                                               f"AND table = '{table}' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') ORDER BY position")]
        assert insertable == list(columns), table


def test_redelivery_is_counted_once_everywhere(db):
    """The same events delivered twice (separate batches, different order, later ingest time) give
    the same FINAL tables and the same roll-ups as one delivery — and both match a Python reference."""
    client, name = db
    now = int(time.time() * 1000)
    calls = make_calls(24, now, seed=1)
    _write(client, name, calls)
    once = {t: _q(client, f"SELECT * EXCEPT ingested_at FROM {name}.{t} FINAL ORDER BY ALL") for t in ("turns", "windows", "alerts")}
    _write(client, name, calls, shuffle_seed=2)  # redelivery
    _write(client, name, calls, shuffle_seed=3)  # and again
    raw = _q(client, f"SELECT count() FROM {name}.turns")[0][0]
    n_unique = len({o.turn_id for _, objs in calls for o in objs if isinstance(o, FusedTurn)})
    assert raw > n_unique  # the raw table really holds duplicates (separate parts, not yet merged)
    for t in ("turns", "windows", "alerts"):
        assert _q(client, f"SELECT * EXCEPT ingested_at FROM {name}.{t} FINAL ORDER BY ALL") == once[t]
    assert _q(client, f"SELECT count() FROM {name}.turns FINAL")[0][0] == n_unique
    assert _q(client, f"SELECT count() FROM {name}.calls FINAL")[0][0] == len(calls)

    for key, view in (("agent_id", "agent_daily"), ("queue", "queue_daily")):
        want = expected_rollup(calls, key)
        _assert_rollups_equal(_rollup(client, f"{name}.{view}_live", key), want)
        store.refresh_rollups(client, name)
        _assert_rollups_equal(_rollup(client, f"{name}.{view} FINAL", key), want)


def test_latest_revision_wins_in_turns_and_rollups(db):
    client, name = db
    now = int(time.time() * 1000)
    ctx = CallContext(CallInfo("r1", True, agent_id="ag", queue="q"), now)
    sink = ClickHouseSink(client, database=name)
    v0 = FusedTurn("r1", "r1:1:00000", "customer", 0.0, 2.0, 0.9, 0.5, 0.9, None, "angry", "")
    v1 = FusedTurn("r1", "r1:1:00000", "customer", 0.0, 2.0, 0.2, 0.8, 0.9, 0.6, "angry", "thanks!", revision=1)
    sink.add_obj(ctx)
    sink.add_obj(v1, ctx)
    sink.flush()
    sink.add_obj(v0, ctx)  # the older revision redelivered after the newer one
    sink.flush()
    assert _q(client, f"SELECT revision, negativity, text FROM {name}.turns FINAL") == [[1, 0.2, "thanks!"]]
    store.refresh_rollups(client, name)
    assert _q(client, f"SELECT customer_turns, mean_negativity, upset_share FROM {name}.agent_daily FINAL") == [[1, 0.2, 0.0]]


def test_call_rows_merge_in_any_order(db):
    client, name = db
    now = int(time.time() * 1000)
    ctx = CallContext(CallInfo("m1", False, agent_id="ag", queue="q", language="de"), now)
    summary = CallSummary("m1", 61.5, 3, 4, 10.0, 12.0, 0.3, 0.7, 0.1, 0, 0, "ended")
    sink = ClickHouseSink(client, database=name)
    for table, row in (row_for(summary), call_ended_row("m1", now + 61_500), row_for(ctx), row_for(summary)):
        sink.add(table, [row])
        sink.flush()  # one part each
    got = _q(client, f"SELECT call_id, started_at, ended_at, agent_id, queue, stereo, language, duration_s, "
                     f"agent_turns, end_reason FROM {name}.calls FINAL")
    from streams.records import ms_to_datetime
    assert got == [["m1", ms_to_datetime(now).replace(tzinfo=None), ms_to_datetime(now + 61_500).replace(tzinfo=None),
                    "ag", "q", 0, "de", 61.5, 4, "ended"]]


def test_raw_turns_expire_after_the_ttl_but_rollups_keep_history(db):
    client, name = db
    now = int(time.time() * 1000)
    old = CallContext(CallInfo("old", True, agent_id="ag", queue="q"), now - 120 * DAY_MS)
    new = CallContext(CallInfo("new", True, agent_id="ag", queue="q"), now)
    sink = ClickHouseSink(client, database=name)
    # Hold TTL merges so the backfill sees the old turn (a background merge would drop it within
    # seconds of its insert: rows already past their TTL do not live long).
    client.command(f"SYSTEM STOP TTL MERGES {name}.turns")
    for ctx in (old, new):
        sink.add_obj(ctx)
        sink.add_obj(FusedTurn(ctx.call_id, f"{ctx.call_id}:1:00000", "customer", 0.0, 1.0, 0.8, 1.0, 0.8, None, None, ""), ctx)
    sink.flush()
    assert _q(client, f"SELECT count() FROM {name}.turns FINAL") == [[2]]
    store.refresh_rollups(client, name, full=True)  # backfill every day present
    client.command(f"SYSTEM START TTL MERGES {name}.turns")
    client.command(f"OPTIMIZE TABLE {name}.turns FINAL")  # TTL is applied when parts merge
    assert _q(client, f"SELECT call_id FROM {name}.turns FINAL") == [["new"]]
    days = _q(client, f"SELECT count() FROM {name}.agent_daily FINAL WHERE customer_turns = 1")
    assert days == [[2]]


def test_query_guard_and_http_handler(db):
    client, name = db
    assert store.is_read_only("  -- hi\n SELECT 1;")
    assert store.is_read_only("WITH 1 AS x SELECT x")
    for bad in ("DROP TABLE x", "SELECT 1; DROP TABLE x", "INSERT INTO t VALUES (1)", "/* SELECT */ ALTER TABLE t"):
        assert not store.is_read_only(bad), bad
    status, body = store.handle_sql_request(client, json.dumps({"sql": f"SELECT count() AS n FROM {name}.turns"}).encode())
    assert (status, body["columns"], body["rows"]) == (200, ["n"], [[0]])
    assert store.handle_sql_request(client, b'{"sql": "DROP DATABASE x"}')[0] == 400
    assert store.handle_sql_request(client, b"SELECT * FROM nowhere.nothing")[0] == 400
    assert store.handle_sql_request(client, b'{"query": 1}')[0] == 400


def test_second_embedded_directory_in_one_process_is_refused(chdb_dir, tmp_path):
    store.open_store(f"chdb://{chdb_dir}")
    with pytest.raises(store.StoreError, match="one data directory per process"):
        store.open_store(f"chdb://{tmp_path}/other")


def test_store_urls():
    u = store.parse_store_url("https://bob:s%40cret@ch.example:8443/analytics")
    assert (u.kind, u.host, u.port, u.username, u.password, u.database, u.secure) == \
        ("http", "ch.example", 8443, "bob", "s@cret", "analytics", True)
    assert store.parse_store_url("http://ch:8123").database == "callpulse"
    assert str(store.parse_store_url("chdb:///data/ch").path) == "/data/ch"
    assert store.parse_store_url(None).path.name == "clickhouse"
    with pytest.raises(store.StoreError):
        store.parse_store_url("mysql://x")


def test_worker_info_ignores_dead_processes(tmp_path):
    assert store.read_worker_info(tmp_path) is None
    store.write_worker_info("http://127.0.0.1:1234/", tmp_path)
    assert store.read_worker_info(tmp_path) == {"pid": os.getpid(), "web_url": "http://127.0.0.1:1234"}
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.write_worker_info("http://127.0.0.1:1234", tmp_path, pid=dead.pid)
    assert store.read_worker_info(tmp_path) is None


def _cli(*args, home):
    env = {**os.environ, "CALLPULSE_HOME": str(home)}
    env.pop("CALLPULSE_STORE_URL", None)
    return subprocess.run([sys.executable, "-m", "streams.cli", "sql", *args], capture_output=True, text=True, env=env, timeout=120)


def test_sql_cli_goes_through_the_worker_that_holds_the_store(db, tmp_path):
    """While this process holds the embedded store, `callpulse sql` in another process gets its answer
    from this process's /sql endpoint (the same handler the worker's web server mounts)."""
    client, name = db
    sink = ClickHouseSink(client, database=name)
    now = int(time.time() * 1000)
    sink.add_obj(CallContext(CallInfo("w1", True, agent_id="ag7", queue="q"), now))
    sink.flush()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            assert self.path == store.SQL_HTTP_PATH
            status, payload = store.handle_sql_request(client, self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store.write_worker_info(f"http://127.0.0.1:{server.server_port}", tmp_path)
        out = _cli(f"SELECT call_id, agent_id FROM {name}.calls FINAL", "--format", "jsonl", home=tmp_path)
        assert out.returncode == 0, out.stderr
        assert [json.loads(line) for line in out.stdout.splitlines()] == [{"call_id": "w1", "agent_id": "ag7"}]
        refused = _cli(f"DROP TABLE {name}.calls", home=tmp_path)
        assert refused.returncode == 2 and "read-only" in refused.stderr
    finally:
        server.shutdown()


@pytest.mark.slow
def test_sql_cli_opens_the_embedded_store_when_no_worker_holds_it(tmp_path):
    out = _cli("SELECT name FROM system.tables WHERE database = 'callpulse' ORDER BY name", "--format", "csv", home=tmp_path)
    assert out.returncode == 0, out.stderr
    names = out.stdout.split()[1:]
    assert {"calls", "turns", "windows", "alerts", "agent_daily", "queue_daily"} <= set(names)
    assert (tmp_path / "clickhouse").is_dir()


def test_dead_letters_keep_the_original_bytes_once(db):
    from streams.records import dead_letter_record

    client, name = db
    sink = ClickHouseSink(client, database=name)
    raw = b"\xff\xfe\x00not-an-event"
    table, row = row_for(dead_letter_record("callpulse.audio-frames", b"\x80call", raw, "bad magic byte", int(time.time() * 1000), 3, 17))
    sink.add(table, [row, row])  # the same dead letter twice (redelivery)
    sink.flush()
    sink.add(table, [row])
    sink.flush()
    assert _q(client, f"SELECT topic, partition, offset, hex(key), hex(value), reason FROM {name}.dead_letters FINAL") == \
        [["callpulse.audio-frames", 3, 17, b"\x80call".hex().upper(), raw.hex().upper(), "bad magic byte"]]


def test_sql_cli_says_who_holds_a_busy_store(db, chdb_dir):
    """This test process holds the store and announces no web server: a clear error, exit 2."""
    out = _cli("SELECT 1", "--store", f"chdb://{chdb_dir}", home=chdb_dir.parent)
    assert out.returncode == 2
    assert "another process probably holds it" in out.stderr


def test_queries_are_bounded_in_time(db):
    client, _ = db
    t = time.perf_counter()
    with pytest.raises(store.StoreError, match="TIMEOUT_EXCEEDED|Timeout exceeded"):
        store.query(client, "SELECT count() FROM numbers(100000000000)", timeout_s=0.5)
    assert time.perf_counter() - t < 10


@pytest.mark.parametrize("fmt, expected", [
    ("table", "agent  calls  mean\n-----  -----  ----\na1     2      0.25\nb\u00e9     0      NULL\n(2 rows)\n"),
    ("csv", "agent,calls,mean\na1,2,0.25\nb\u00e9,0,NULL\n"),
    ("tsv", "agent\tcalls\tmean\na1\t2\t0.25\nb\u00e9\t0\tNULL\n"),
    ("jsonl", '{"agent": "a1", "calls": 2, "mean": 0.25}\n{"agent": "b\\u00e9", "calls": 0, "mean": null}\n'),
])
def test_sql_cli_output_formats(fmt, expected):
    import io

    from streams.cli.sql import _print
    out = io.StringIO()
    _print(store.QueryResult(["agent", "calls", "mean"], ["String", "UInt64", "Nullable(Float64)"],
                             [["a1", 2, 0.25], ["b\u00e9", 0, None]]), fmt, out)
    assert out.getvalue() == expected
