"""Rows per second into the embedded store (chdb) through ClickHouseSink.

Run: OMP_NUM_THREADS=1 python bench/bench_sink.py [--rows 200000] [--batch 5000]
Measures, for turn rows: building rows (records.row_for), the sink end to end (add + flush when
due, batches of --batch rows), the INSERT alone per batch size, and one-row-at-a-time INSERTs
(what the sink avoids). Writes bench/results/bench_sink.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from processors.types import CallInfo, FusedTurn
from streams import store
from streams.records import CallContext, row_for
from streams.sinks.clickhouse import ClickHouseSink


def make_turns(n: int, seed: int = 0) -> list[tuple[FusedTurn, CallContext]]:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    ctxs = [CallContext(CallInfo(f"call-{i:06d}", True, agent_id=f"agent-{i % 50}", queue=f"q{i % 5}"), now - i * 1000)
            for i in range(max(1, n // 40))]
    out = []
    for k in range(n):
        ctx = ctxs[k % len(ctxs)]
        t = (k // len(ctxs)) * 3.0
        neg = rng.random()
        out.append((FusedTurn(ctx.call_id, f"{ctx.call_id}:{k % 2}:{k:07d}", ("agent", "customer")[k % 2], t, t + 2.5,
                              neg, rng.random(), neg, rng.uniform(-1, 1), "neutral", "some words of the turn"), ctx))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--single", type=int, default=300, help="rows inserted one at a time, for comparison")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_sink_")
    client = store.open_store(f"chdb://{tmp}", migrate=True)
    turns = make_turns(args.rows)

    t = time.perf_counter()
    rows = [row_for(o, ctx) for o, ctx in turns]
    row_us = (time.perf_counter() - t) / len(rows) * 1e6

    sink = ClickHouseSink(client, max_rows=args.batch, max_delay_s=3600)
    cpu = time.process_time()
    t = time.perf_counter()
    for table, row in rows:
        sink.add(table, [row])
        if sink.due():
            sink.flush()
    sink.flush()
    e2e_s = time.perf_counter() - t
    e2e_cpu_s = time.process_time() - cpu
    stored = store.query(client, "SELECT count() FROM callpulse.turns FINAL").rows[0][0]
    assert stored == args.rows, stored

    insert_only = {}
    for batch in (500, 5000, 50_000):
        if batch > args.rows:
            continue
        client.command("TRUNCATE TABLE callpulse.turns")
        s = ClickHouseSink(client, max_rows=batch)
        chunk = [r for _, r in rows[:batch]]
        s.add("turns", chunk)
        t = time.perf_counter()
        s.flush()
        dt = time.perf_counter() - t
        insert_only[str(batch)] = {"seconds": round(dt, 4), "rows_per_s": round(batch / dt)}

    client.command("TRUNCATE TABLE callpulse.turns")
    s = ClickHouseSink(client)
    t = time.perf_counter()
    for _, r in rows[: args.single]:
        s.add("turns", [r])
        s.flush()
    single_s = time.perf_counter() - t

    res = {
        "rows": args.rows,
        "batch_rows": args.batch,
        "row_for_us_per_row": round(row_us, 2),
        "sink_end_to_end_rows_per_s": round(args.rows / e2e_s),
        "sink_end_to_end_seconds": round(e2e_s, 3),
        "sink_end_to_end_cpu_us_per_row": round(e2e_cpu_s / args.rows * 1e6, 2),
        "batches": sink.stats.batches,
        "insert_only_by_batch_size": insert_only,
        "one_row_per_insert_rows_per_s": round(args.single / single_s, 1),
    }
    print(json.dumps(res, indent=2))
    out = {"bench": "sink", "store": "chdb (clickhouse-connect interface=chdb)", "python": platform.python_version(),
           "cpu_count": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "results": res}
    path = Path(__file__).resolve().parent / "results" / "bench_sink.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
