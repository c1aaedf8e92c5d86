"""Pipeline bench: N concurrent calls replayed at real time through the whole local pipeline.

Tansu broker + one worker process (all stages; `--workers N`: N processes of the same app splitting
the partitions, each with its own embedded store) + this process replaying calls and consuming the
scores and alerts topics. Stereo calls send both channels interleaved in one event per frame (audio_frame
v2, as Genesys AudioHook does) unless `--per-channel-frames` (one event per channel and frame). N is stepped up (default 10, 20, 30, 50, 75, 100) until a step misses a
target; stereo and mono separately. Per step:

* turn latency: wall time from the replayer handing the turn's last frame to the producer, to the
  turn's emotion score arriving on the scores topic (p50/p95/p99 over all turns);
* alert latency: wall time from the publication of the audio at which the sustained-upset condition
  became decidable (the end of the window that completed it, plus the chain's allowed lateness: the
  window cannot close before that much later audio has been seen) to the alert on the alert topic;
  the same from the window end itself is reported too;
* CPU seconds per second of call audio, per stage (thread CPU measured inside the worker around each
  stage's own processing; "framework" = the rest of the worker process: Faust, aiokafka, codecs),
  plus the broker's and the replayer's process CPU;
* sustained = p99 turn latency <= 1 s, p99 alert latency <= 2 s, every turn scored.

Writes bench/results/pipeline.json. Run: OMP_NUM_THREADS=1 python bench/bench_pipeline.py [--steps 10,20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.broker.tansu import TansuBroker  # noqa: E402
from streams.local import LocalPipeline, wait_for  # noqa: E402
from streams.replay import load_call, replay  # noqa: E402

DEMO = ROOT / "demo" / "calls"
SOURCES = {"stereo": ["upset_stereo", "calm_stereo"], "mono": ["upset_mono", "calm_mono"]}
TURN_TARGET_S, ALERT_TARGET_S = 1.0, 2.0


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread group of a process: the main (event loop) thread, other Python threads
    (Faust's Kafka consumer thread, the sink's insert thread, the web server), native threads by name."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        group = "main_thread" if task.name == str(pid) else ("python_threads" if name == "python" else f"native:{name}")
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TopicWatcher(threading.Thread):
    """Consumes scores and alerts from the start of the (fresh) topics; records arrival wall times."""

    def __init__(self, settings):
        super().__init__(daemon=True)
        self.settings = settings
        self.scores: dict[str, tuple[str, float, float]] = {}
        self.alerts: dict[str, tuple[str, float, float]] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self):
        asyncio.run(self._run())

    async def _run(self):
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from schemas.codec import decode
        from streams.topics import bootstrap_of
        from streams.wire import kind_of

        c = AIOKafkaConsumer(bootstrap_servers=bootstrap_of(self.settings.broker_url), enable_auto_commit=False,
                              fetch_max_wait_ms=20)
        await c.start()
        tps = [TopicPartition(self.settings.topic(t), p) for t in ("scores", "alerts")
               for p in range(self.settings.partitions)]
        c.assign(tps)
        await c.seek_to_beginning()
        self.ready.set()
        try:
            while not self.stop.is_set():
                batch = await c.getmany(timeout_ms=200)
                now = time.time()
                for tp, msgs in batch.items():
                    for m in msgs:
                        kind = kind_of(m.value)
                        if kind == "emotion_score":
                            r = decode(kind, m.value)
                            self.scores.setdefault(r["turn_id"], (r["call_id"], r["end_s"], now))
                        elif kind == "escalation_alert":
                            r = decode(kind, m.value)
                            self.alerts.setdefault(r["alert_id"], (r["call_id"], r["at_s"], now))
        finally:
            await c.stop()


def pct(xs, q):
    return float(np.percentile(xs, q)) if len(xs) else None


class Workers:
    """One or more worker processes of the same app (same group: the partitions are split between
    them). Each has its own home, hence its own embedded store: two processes cannot open one chdb
    store, so this stands in for a shared ClickHouse server (latencies are read from the topics)."""

    def __init__(self, pipes: list[LocalPipeline]):
        self.pipes = pipes
        self.settings = pipes[0].settings

    def stats(self) -> dict:
        out = {"cpu_s": {}, "counts": {}, "assigned": []}
        for p in self.pipes:
            s = p.stats()
            for key in ("cpu_s", "counts"):
                for k, v in s[key].items():
                    out[key][k] = out[key].get(k, 0) + v
            out["assigned"] += s.get("assigned", [])
        return out

    def thread_cpu_s(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.pipes:
            for k, v in thread_cpu_s(p.worker.pid).items():
                out[k] = out.get(k, 0.0) + v
        return out

    def proc_cpu_s(self) -> float:
        return sum(proc_cpu_s(p.worker.pid) for p in self.pipes)


def run_step(broker: TansuBroker, kind: str, n: int, work: Path, stagger_s: float, frame_ms: float,
             per_channel: bool = False, workers: int = 1) -> dict:
    tag = f"{kind}{n}-f{int(frame_ms)}{'pc' if per_channel else ''}-w{workers}-{int(time.time())}"
    overrides = {"topic_prefix": f"bench.{tag}.", "app_id": f"bench-{tag}", "partitions": 4,
                 "idle_call_timeout_s": 120.0}
    pipes = [LocalPipeline(work / tag / f"w{i}", dict(overrides)).start(broker.url) for i in range(workers)]
    try:
        for p in pipes:
            p.start_worker()
        group = Workers(pipes)
        audio = group.settings.topic("audio")
        wait_for(lambda: len({a for a in group.stats()["assigned"] if a.startswith(audio + ":")}) == 4
                 and all(any(a.startswith(audio + ":") for a in p.stats()["assigned"]) for p in pipes),
                 60, "every worker to own audio partitions")
        return _measure(group, broker, kind, n, stagger_s, frame_ms, tag, per_channel)
    finally:
        for p in pipes:
            p.stop_worker()


def _measure(p: Workers, broker: TansuBroker, kind: str, n: int, stagger_s: float, frame_ms: float,
             tag: str, per_channel: bool = False) -> dict:

    rng = np.random.default_rng(n)
    calls = []
    for i in range(n):
        name = SOURCES[kind][i % len(SOURCES[kind])]
        c = load_call(DEMO / f"{name}.flac", f"{tag}-{i:03d}", stereo=(kind == "stereo"))
        c.transcript = []
        c.start_delay_s = float(rng.uniform(0, stagger_s))
        c.per_channel_frames = per_channel
        calls.append(c)
    audio_s = sum(c.duration_s for c in calls)
    watcher = TopicWatcher(p.settings)
    watcher.start()
    watcher.ready.wait(30)
    s0 = p.stats()
    th0 = p.thread_cpu_s()
    w0, b0, r0 = p.proc_cpu_s(), proc_cpu_s(broker.proc.pid), resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    result = asyncio.run(replay(p.settings, calls, speed=1.0, frame_ms=frame_ms, create_topics=False))
    lag_ok = True
    try:
        wait_for(lambda: p.stats()["counts"].get("calls_ended", 0) >= n and
                 p.stats()["counts"].get("turns_scored", 0) <= len(watcher.scores) + 0, 120, "the last turns")
        wait_for(lambda: (lambda c: c.get("turns_chained", 0) >= c.get("turns", 0))(p.stats()["counts"]), 120,
                 "the chain to catch up")
    except Exception:
        lag_ok = False
    time.sleep(1.0)
    s1 = p.stats()
    th1 = p.thread_cpu_s()
    w1, b1, r1 = p.proc_cpu_s(), proc_cpu_s(broker.proc.pid), resource.getrusage(resource.RUSAGE_SELF)
    wall = time.time() - t0
    watcher.stop.set()
    watcher.join(5)

    from streams.agents.chain import chain_config

    lateness = chain_config(p.settings.thresholds).escalation.allowed_lateness_s  # what the worker's chain uses
    turn_lat = [recv - result.publish_time(call_id, end_s) for call_id, end_s, recv in watcher.scores.values()]
    alert_lat = [recv - result.publish_time(call_id, at_s + lateness) for call_id, at_s, recv in watcher.alerts.values()]
    alert_lat_raw = [recv - result.publish_time(call_id, at_s) for call_id, at_s, recv in watcher.alerts.values()]
    stage_cpu = {k: (s1["cpu_s"].get(k, 0.0) - s0["cpu_s"].get(k, 0.0)) for k in s1["cpu_s"]}
    worker_cpu = w1 - w0
    per_audio = {k: v / audio_s for k, v in stage_cpu.items()}
    per_audio["framework"] = (worker_cpu - sum(stage_cpu.values())) / audio_s
    c1, c0 = s1["counts"], s0["counts"]
    out = {
        "kind": kind, "frame_ms": frame_ms,
        "stereo_frames": "per_channel" if per_channel else "interleaved", "audio_events": result.frames_sent,
        "calls": n, "workers": len(p.pipes), "audio_s": round(audio_s, 1), "wall_s": round(wall, 1),
        "turns_emitted": c1.get("turns", 0) - c0.get("turns", 0),
        "turns_scored_on_topic": len(watcher.scores),
        "alerts": len(watcher.alerts),
        "turn_latency_s": {"p50": pct(turn_lat, 50), "p95": pct(turn_lat, 95), "p99": pct(turn_lat, 99),
                           "max": max(turn_lat) if turn_lat else None},
        "alert_latency_s": {"p50": pct(alert_lat, 50), "p99": pct(alert_lat, 99),
                            "max": max(alert_lat) if alert_lat else None},
        "alert_latency_from_window_end_s": {"p50": pct(alert_lat_raw, 50), "p99": pct(alert_lat_raw, 99)},
        "cpu_s_per_audio_s": {k: round(v, 5) for k, v in per_audio.items()},
        "worker_cpu_s_per_audio_s": round(worker_cpu / audio_s, 5),
        "worker_threads_cpu_s_per_audio_s": {k: round((v - th0.get(k, 0.0)) / audio_s, 5) for k, v in th1.items()
                                             if v - th0.get(k, 0.0) > 0},
        "broker_cpu_s_per_audio_s": round((b1 - b0) / audio_s, 5),
        "replayer_cpu_s_per_audio_s": round(((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)) / audio_s, 5),
        "caught_up": lag_ok,
        "allowed_lateness_s": lateness,
        "frame_batch_calls_mean": (round((c1.get("frame_batch_calls", 0) - c0.get("frame_batch_calls", 0))
                                         / max(1, c1.get("frame_batches", 0) - c0.get("frame_batches", 0)), 1)
                                   if c1.get("frame_batches") else None),
        "progress_marks": c1.get("progress_marks", 0) - c0.get("progress_marks", 0),
        "loadavg_at_end": os.getloadavg(),
    }
    tl, al = out["turn_latency_s"]["p99"], out["alert_latency_s"]["p99"]
    out["sustained"] = bool(lag_ok and tl is not None and tl <= TURN_TARGET_S and (al is None or al <= ALERT_TARGET_S))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="10,20,30,50,75,100")
    ap.add_argument("--kinds", default="stereo,mono")
    ap.add_argument("--frame-ms", default="20,100", help="frame sizes the platform publishes (ms)")
    ap.add_argument("--per-channel-frames", action="store_true",
                    help="stereo calls: one event per channel and frame (default: both channels in one event)")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker processes of the app (partitions split between them; each has its own store)")
    ap.add_argument("--stagger-s", type=float, default=10.0, help="call starts spread over this many seconds")
    ap.add_argument("--work", default="/tmp/callpulse-bench")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "loadavg_at_start": os.getloadavg()},
               "command": " ".join(["python"] + sys.argv), "steps": []}
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the broker and worker on kill
    with TansuBroker(log_path=work / "tansu.log") as broker:
        for frame_ms in (float(f) for f in args.frame_ms.split(",")):
            for kind in args.kinds.split(","):
                for n in (int(s) for s in args.steps.split(",")):
                    step = run_step(broker, kind, n, work, args.stagger_s, frame_ms, args.per_channel_frames,
                                    args.workers)
                    step["loadavg_after"] = os.getloadavg()
                    results["steps"].append(step)
                    print(json.dumps(step), flush=True)
                    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
                    if not step["sustained"]:
                        break
    summary = {}
    for frame_ms in (float(f) for f in args.frame_ms.split(",")):
        for kind in args.kinds.split(","):
            ok = [s["calls"] for s in results["steps"] if s["kind"] == kind and s["frame_ms"] == frame_ms
                  and s["sustained"]]
            summary[f"{kind}_{int(frame_ms)}ms_frames"] = max(ok) if ok else 0
    results["max_sustained_calls"] = summary
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"max sustained calls: {summary} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
