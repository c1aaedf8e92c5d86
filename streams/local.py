"""A local pipeline on one machine: the Tansu broker plus worker subprocesses (demo, tests, bench).

Input: a home directory and settings overrides. Output: `LocalPipeline` with `.settings` (what
replayers and readers need), `start_worker()` / `kill_worker()` (SIGKILL, to test recovery),
`wait_ready()` (polls the worker's GET /ready, never a fixed sleep), `sql()` through the worker's
POST /sql, and `read_topic()` (every event of a topic so far, decoded).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from streams.broker.tansu import TansuBroker
from streams.config import Settings, load_settings
from streams.topics import bootstrap_of


class PipelineError(RuntimeError):
    pass


@dataclass
class LocalPipeline:
    home: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    broker: TansuBroker | None = None
    worker: subprocess.Popen | None = None
    settings: Settings | None = None
    web_url: str = ""

    def start(self, broker_url: str | None = None) -> "LocalPipeline":
        self.home.mkdir(parents=True, exist_ok=True)
        if broker_url is None:
            self.broker = TansuBroker(log_path=self.home / "tansu.log").start()
            broker_url = self.broker.url
        self.settings = load_settings(None, env={}, broker_url=broker_url, broker_profile="tansu",
                                      home=str(self.home), **self.overrides)
        return self

    def start_worker(self, ready_timeout_s: float = 90.0) -> "LocalPipeline":
        if self.worker is not None and self.worker.poll() is None:
            raise PipelineError("a worker is already running")
        info = self.home / "worker.json"
        info.unlink(missing_ok=True)
        env = dict(os.environ)
        env.update({
            "CALLPULSE_HOME": str(self.home),
            "CALLPULSE_BROKER_URL": self.settings.broker_url,
            "CALLPULSE_BROKER_PROFILE": self.settings.broker_profile,
            "CALLPULSE_TOPIC_PREFIX": self.settings.topic_prefix,
            "CALLPULSE_PARTITIONS": str(self.settings.partitions),
            "CALLPULSE_APP_ID": self.settings.app_id,
            "CALLPULSE_IDLE_CALL_TIMEOUT_S": str(self.settings.idle_call_timeout_s),
            "CALLPULSE_AGENT_EMOTION": "1" if self.settings.agent_emotion else "0",
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
            "PYTHONUNBUFFERED": "1",
        })
        if self.settings.model_path:
            env["CALLPULSE_MODEL_PATH"] = self.settings.model_path
        env.update(self.worker_env)
        log = open(self.home / "worker.log", "ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self.wait_ready(ready_timeout_s)
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        info = self.home / "worker.json"
        while time.monotonic() < deadline:
            if self.worker is not None and self.worker.poll() is not None:
                raise PipelineError(f"worker exited with {self.worker.returncode}; see {self.home / 'worker.log'}")
            try:
                d = json.loads(info.read_text())
                if d.get("pid") == self.worker.pid:
                    self.web_url = d["web_url"]
                    if self.get("/ready").get("ready"):
                        return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise PipelineError(f"worker not ready after {timeout_s} s; see {self.home / 'worker.log'}")

    def get(self, path: str, timeout_s: float = 5.0) -> dict:
        with urllib.request.urlopen(self.web_url + path, timeout=timeout_s) as r:
            return json.loads(r.read())

    def sql(self, query: str, timeout_s: float = 30.0) -> list[list]:
        req = urllib.request.Request(self.web_url + "/sql", data=json.dumps({"sql": query}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                return json.loads(r.read())["rows"]
        except urllib.error.HTTPError as exc:
            raise PipelineError(f"{query!r}: {exc.read().decode(errors='replace')}") from exc

    def stats(self) -> dict:
        return self.get("/stats")

    def kill_worker(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the group (what a crash looks like)."""
        if self.worker is not None and self.worker.poll() is None:
            os.kill(self.worker.pid, signal.SIGKILL)
            self.worker.wait()

    def stop_worker(self, timeout_s: float = 20.0) -> None:
        w, self.worker = self.worker, None
        if w is None or w.poll() is not None:
            return
        w.send_signal(signal.SIGTERM)
        try:
            w.wait(timeout_s)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()

    def stop(self) -> None:
        self.stop_worker()
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> "LocalPipeline":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def read_topic(self, name: str, timeout_s: float = 2.0) -> list[tuple[str, dict, dict]]:
        return asyncio.run(read_topic(self.settings, name, timeout_s))


async def read_topic(settings: Settings, name: str, idle_s: float = 1.0) -> list[tuple[str, dict, dict]]:
    """Every event on a topic so far, as (schema name, record, headers); reads until idle for idle_s."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.codec import decode_any
    from streams.wire import decode_control, headers_dict, kind_of

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_of(settings.broker_url), enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=20)
    await consumer.start()
    out = []
    try:
        topic = settings.topic(name)
        parts = consumer.partitions_for_topic(topic) or set(range(settings.partitions))
        consumer.assign([TopicPartition(topic, p) for p in parts])
        await consumer.seek_to_beginning()
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_s * 1000))
            if not batch:
                break
            for msgs in batch.values():
                for m in msgs:
                    try:
                        kind = kind_of(m.value)
                        rec = decode_control(m.value).__dict__ if kind == "control" else decode_any(m.value)[1]
                    except Exception as exc:  # malformed events (the fault tests publish some)
                        kind, rec = "invalid", {"error": str(exc), "value": m.value}
                    out.append((kind, rec, headers_dict(m.headers)))
    finally:
        await consumer.stop()
    return out


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    """Poll `condition` until it returns something truthy; PipelineError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval_s)
    raise PipelineError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")
