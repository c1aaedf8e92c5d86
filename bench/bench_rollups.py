"""Roll-up correctness under redelivery, and what the chosen design costs (chdb).

Run: OMP_NUM_THREADS=1 python bench/bench_rollups.py [--turns 300000] [--redeliver 0.2] [--out FILE]
Delivers --turns fused turns (plus calls and alerts) once, then redelivers a share of them (as
Kafka at-least-once does after a crash) and revises some (a later revision of the same turn).
Compares, for customer turns per agent per day and their mean negativity:
  exact          Python reference over unique, latest-revision turns
  live view      callpulse.agent_daily_live (GROUP BY over FINAL, at query time)
  refreshed      callpulse.agent_daily FINAL (refreshable MV, re-computed from the live view)
  naive_summing  insert-triggered MV into SummingMergeTree (what the design avoids)
  naive_uniq     insert-triggered MV into AggregatingMergeTree with uniqExactState(turn_id) for the
                 count and sumState for negativity
and times the live query, one refresh, and a read of the refreshed table.
Writes bench/results/bench_rollups.json.
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
from streams.records import CallContext
from streams.sinks.clickhouse import ClickHouseSink

NAIVE = """
CREATE TABLE callpulse.naive_summing (day Date, agent_id String, customer_turns UInt64, neg_sum Float64)
ENGINE = SummingMergeTree ORDER BY (day, agent_id);
CREATE MATERIALIZED VIEW callpulse.naive_summing_mv TO callpulse.naive_summing AS
SELECT day, toString(agent_id) AS agent_id, count() AS customer_turns, sum(negativity) AS neg_sum
FROM callpulse.turns WHERE speaker = 'customer' GROUP BY day, agent_id;
CREATE TABLE callpulse.naive_uniq (day Date, agent_id String, turns AggregateFunction(uniqExact, String),
  neg AggregateFunction(sum, Float64)) ENGINE = AggregatingMergeTree ORDER BY (day, agent_id);
CREATE MATERIALIZED VIEW callpulse.naive_uniq_mv TO callpulse.naive_uniq AS
SELECT day, toString(agent_id) AS agent_id, uniqExactState(turn_id) AS turns, sumState(negativity) AS neg
FROM callpulse.turns WHERE speaker = 'customer' GROUP BY day, agent_id
"""


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=300_000)
    ap.add_argument("--redeliver", type=float, default=0.2, help="share of turns delivered a second time")
    ap.add_argument("--revise", type=float, default=0.1, help="share of turns given a later revision")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_rollups.json"))
    args = ap.parse_args()
    rng = random.Random(0)
    client = store.open_store(f"chdb://{tempfile.mkdtemp(prefix='bench_rollups_')}", migrate=True)
    for stmt in NAIVE.split(";"):
        client.command(stmt)

    now = int(time.time() * 1000)
    n_calls = max(1, args.turns // 40)
    ctxs = [CallContext(CallInfo(f"call-{i:06d}", True, agent_id=f"agent-{i % 50:02d}", queue=f"q{i % 5}"),
                        now - rng.randrange(0, 86_400_000)) for i in range(n_calls)]
    turns = []
    for k in range(args.turns):
        ctx = ctxs[k % n_calls]
        t = (k // n_calls) * 3.0
        turns.append((FusedTurn(ctx.call_id, f"{ctx.call_id}:{k % 2}:{k:07d}", ("agent", "customer")[k % 2], t, t + 2.5,
                                rng.random(), 0.5, None, None, None, ""), ctx))
    revised = [(FusedTurn(**{**o.__dict__, "negativity": rng.random(), "revision": 1}), c)
               for o, c in rng.sample(turns, int(args.turns * args.revise))]
    again = rng.sample(turns, int(args.turns * args.redeliver))

    sink = ClickHouseSink(client, max_rows=5000, max_delay_s=3600)
    t = time.perf_counter()
    for ctx in ctxs:
        sink.add_obj(ctx)
    for batch in (turns, revised, again):  # first delivery, revisions, redelivery of old revisions
        for o, ctx in batch:
            sink.add_obj(o, ctx)
            if sink.due():
                sink.flush()
        sink.flush()
    load_s = time.perf_counter() - t

    latest: dict[str, FusedTurn] = {}
    for o, _ in turns + revised:
        if o.speaker == "customer" and (o.turn_id not in latest or latest[o.turn_id].revision < o.revision):
            latest[o.turn_id] = o
    exact_turns = len(latest)
    exact_mean = sum(o.negativity for o in latest.values()) / exact_turns

    def totals(sql: str) -> tuple[int, float]:
        n, s = store.query(client, sql).rows[0]
        return int(n), float(s) / int(n)

    live_q = "SELECT sum(customer_turns), sum(mean_negativity * customer_turns) FROM callpulse.agent_daily_live"
    store.refresh_rollups(client)
    results = {
        "exact": {"customer_turns": exact_turns, "mean_negativity": round(exact_mean, 6)},
        "live_view": totals(live_q),
        "refreshed": totals("SELECT sum(customer_turns), sum(mean_negativity * customer_turns) FROM callpulse.agent_daily FINAL"),
        "naive_summing": totals("SELECT sum(customer_turns), sum(neg_sum) FROM callpulse.naive_summing FINAL"),
        "naive_uniq": totals("SELECT uniqExactMerge(turns), sumMerge(neg) FROM callpulse.naive_uniq"),
    }
    for k in ("live_view", "refreshed", "naive_summing", "naive_uniq"):
        n, mean = results[k]
        results[k] = {"customer_turns": n, "mean_negativity": round(mean, 6),
                      "turns_error_pct": round(100 * (n - exact_turns) / exact_turns, 2),
                      "mean_error": round(mean - exact_mean, 6)}
    raw = store.query(client, "SELECT count() FROM callpulse.turns").rows[0][0]
    timings = {
        "load_seconds": round(load_s, 2),
        "raw_turn_rows": raw,
        "live_view_query_s": round(timed(lambda: store.query(client, "SELECT * FROM callpulse.agent_daily_live")), 4),
        "refresh_s": round(timed(lambda: store.refresh_rollups(client)), 4),
        "refreshed_table_query_s": round(timed(lambda: store.query(client, "SELECT * FROM callpulse.agent_daily FINAL")), 4),
        "turns_final_count_s": round(timed(lambda: store.query(client, "SELECT count() FROM callpulse.turns FINAL")), 4),
    }
    out = {"bench": "rollups", "turns": args.turns, "calls": n_calls, "redelivered_share": args.redeliver,
           "revised_share": args.revise, "python": platform.python_version(), "cpu_count": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
           "correctness": results, "timings": timings}
    print(json.dumps(out, indent=2))
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
