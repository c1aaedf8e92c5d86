"""Fixed cost of an idle pipeline: CPU of the Tansu broker and one worker while nothing is replayed.

Tansu answers a consumer's fetch only when its wait expires, so an idle worker still polls every
`fetch_wait_ms`; this is the CPU the pipeline costs before the first call. Per fetch wait given.
Writes bench/results/pipeline_idle.json. Run: OMP_NUM_THREADS=1 python bench/bench_idle.py [--waits 50,200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import proc_cpu_s, thread_cpu_s  # noqa: E402
from streams.broker.tansu import TansuBroker  # noqa: E402
from streams.local import LocalPipeline  # noqa: E402


def measure(broker: TansuBroker, work: Path, wait_ms: int, partitions: int, seconds: float) -> dict:
    tag = f"idle-p{partitions}-w{wait_ms}-{int(time.time())}"
    p = LocalPipeline(work / tag, {"partitions": partitions, "app_id": tag, "topic_prefix": f"{tag}.",
                                   "fetch_wait_ms": wait_ms}).start(broker.url)
    p.worker_env["CALLPULSE_FETCH_WAIT_MS"] = str(wait_ms)
    p.start_worker()
    try:
        time.sleep(5.0)  # let the group settle
        w0, b0, t0 = proc_cpu_s(p.worker.pid), proc_cpu_s(broker.proc.pid), thread_cpu_s(p.worker.pid)
        time.sleep(seconds)
        w1, b1, t1 = proc_cpu_s(p.worker.pid), proc_cpu_s(broker.proc.pid), thread_cpu_s(p.worker.pid)
    finally:
        p.stop_worker()
    return {"fetch_wait_ms": wait_ms, "partitions": partitions, "seconds": seconds,
            "worker_cores": round((w1 - w0) / seconds, 4), "broker_cores": round((b1 - b0) / seconds, 4),
            "worker_threads_cores": {k: round((v - t0.get(k, 0.0)) / seconds, 4) for k, v in t1.items()
                                     if v - t0.get(k, 0.0) > 0},
            "loadavg_after": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waits", default="50,200", help="fetch waits to measure (ms)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--work", default="/tmp/callpulse-bench-idle")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline_idle.json"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {"command": " ".join(["python"] + sys.argv), "loadavg_at_start": os.getloadavg(), "runs": []}
    with TansuBroker(log_path=work / "tansu.log") as broker:
        for wait in (int(w) for w in args.waits.split(",")):
            run = measure(broker, work, wait, args.partitions, args.seconds)
            print(json.dumps(run), flush=True)
            results["runs"].append(run)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
