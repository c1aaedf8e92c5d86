"""A worker killed (SIGKILL) in the middle of a call and a new one started: the new worker restores
the front end from its checkpoint table and the call chain from its table (both changelog-backed on
the broker), re-reads the frames no checkpoint covered, and the call ends exactly as the offline
analysis says: no turn lost, none counted twice (after FINAL), each alert on the topic once."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from streams.local import PipelineError, wait_for
from tests.streams.e2e import (
    alert_events, demo_call, model_path, offline, offline_counts, replay, start_pipeline, store_counts,
    wait_summary, where_turns_went,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    p = start_pipeline(tmp_path_factory.mktemp("e2e-restart"))
    yield p
    p.stop()


def test_worker_killed_mid_call_loses_and_duplicates_nothing(pipeline):
    """Two calls on one partition: the frames stage acknowledges each call's frames when its own
    checkpoint holds them, so the acknowledged offsets interleave with unacknowledged ones, and a
    commit past one of those would lose the other call's frames at the kill (faust-streaming #606,
    streams/faust_fixes.py)."""
    from processors.emotion.model import EmotionModel
    from streams.topics import partition_of

    n = pipeline.settings.partitions
    first = "e2e-restart-1"
    second = next(f"e2e-restart-{i}" for i in range(2, 100)
                  if partition_of(f"e2e-restart-{i}".encode(), n) == partition_of(first.encode(), n))
    calls = [demo_call("upset_stereo", first), demo_call("upset_stereo", second, start_delay_s=1.5)]
    model = EmotionModel(model_path())
    results = {c.call_id: offline(c, model) for c in calls}
    expected = {cid: offline_counts(r) for cid, r in results.items()}

    publisher = threading.Thread(target=replay, args=(pipeline, calls), kwargs={"speed": 3.0})
    publisher.start()
    try:
        # Mid-call, after the first alert if the call has one (the alert must not come twice), else
        # half-way through its turns; a front-end checkpoint has been written, the call is not over.
        half = max(2, sum(e["turns"] for e in expected.values()) // 2)

        def mid_call():
            c = pipeline.stats()["counts"]
            return c.get("checkpoints", 0) >= 2 and (c.get("out_alerts", 0) >= 1 or c.get("turns_chained", 0) >= half)

        wait_for(mid_call, 60, "the calls to be half-way")
        assert pipeline.stats()["counts"].get("calls_ended", 0) == 0
        pipeline.kill_worker()
        pipeline.start_worker()
    finally:
        publisher.join()

    for call in calls:
        wait_summary(pipeline, call.call_id)
    for call in calls:
        try:
            wait_for(lambda: store_counts(pipeline, call.call_id) == expected[call.call_id], 60, "rows like offline")
        except PipelineError:
            got = store_counts(pipeline, call.call_id)
            # a str message: pytest shortens a dict message's repr to ~240 characters
            assert got == expected[call.call_id], json.dumps(
                where_turns_went(pipeline, call.call_id, results[call.call_id]), default=str)
    counts = pipeline.stats()["counts"]
    assert counts.get("calls_restored", 0) >= 1 or counts.get("chains_restored", 0) >= 1

    for call in calls:
        alerts = Counter(a["alert_id"] for a in alert_events(pipeline) if a["call_id"] == call.call_id)
        assert sorted(alerts) == expected[call.call_id]["alerts"]
        assert all(n == 1 for n in alerts.values()), f"alert raised more than once: {alerts}"


def test_second_worker_joining_mid_call_takes_over_without_loss(pipeline, tmp_path):
    """Rebalance: a second worker (same app id) joins mid-call, partitions move, the new owners restore
    the calls from the changelog tables. Checked on the output topics (two workers cannot share one
    embedded store: a scaled-out deployment writes to a ClickHouse server)."""
    from processors.emotion.model import EmotionModel
    from processors.types import CallSummary
    from streams.local import LocalPipeline

    from streams.agents.frames import partition_of

    # Two calls on each partition, so whichever partition moves, calls move with it.
    ids = [f"e2e-rebalance-{i}" for i in range(16)]
    by_part = {p: [i for i in ids if partition_of(i.encode(), pipeline.settings.partitions) == p]
               for p in range(pipeline.settings.partitions)}
    calls = [demo_call("upset_stereo", i) for part in by_part.values() for i in part[:2]]
    model = EmotionModel(model_path())
    expected = {c.call_id: offline(c, model) for c in calls}

    second = LocalPipeline(tmp_path / "second", dict(pipeline.overrides)).start(pipeline.settings.broker_url)
    publisher = threading.Thread(target=replay, args=(pipeline, calls), kwargs={"speed": 3.0})
    publisher.start()
    try:
        wait_for(lambda: pipeline.stats()["counts"].get("checkpoints", 0) >= 2 * len(calls), 60,
                 "the calls to be under way")
        second.start_worker()
        audio = pipeline.settings.topic("audio")
        wait_for(lambda: any(a.startswith(audio + ":") for a in second.stats()["assigned"]), 30,
                 "the second worker to own an audio partition")
    finally:
        publisher.join()
    try:
        def summaries():
            got = {rec["call_id"] for kind, rec, _ in pipeline.read_topic("calls") if kind == "call_summary"}
            return got >= set(expected) or None

        wait_for(summaries, 120, "the summaries of the calls")
        fused = pipeline.read_topic("fused")
        windows = pipeline.read_topic("windows")
        alerts = pipeline.read_topic("alerts")
        summaries = [rec for kind, rec, _ in pipeline.read_topic("calls") if kind == "call_summary"]
        for call_id, result in expected.items():
            exp = offline_counts(result)
            bounds: dict[str, set] = {}
            for k, r, _ in fused:
                if r["call_id"] == call_id:
                    bounds.setdefault(r["turn_id"], set()).add((round(r["start_s"], 2), round(r["end_s"], 2)))
            assert all(len(b) == 1 for b in bounds.values()), {t: b for t, b in bounds.items() if len(b) > 1}
            got = {t: next(iter(b)) for t, b in bounds.items()}
            want = {r.turn_id: (round(r.start_s, 2), round(r.end_s, 2)) for r in result.records
                    if type(r).__name__ == "FusedTurn"}
            assert got == want, {"extra": {k: v for k, v in got.items() if want.get(k) != v},
                                 "missing": {k: v for k, v in want.items() if got.get(k) != v}}
            assert len({r["window_start_s"] for k, r, _ in windows if r["call_id"] == call_id}) == exp["windows"]
            assert sorted({r["alert_id"] for k, r, _ in alerts if r["call_id"] == call_id}) == exp["alerts"]
            summary = next(r for r in result.records if isinstance(r, CallSummary))
            mine = [s for s in summaries if s["call_id"] == call_id]
            assert mine and all(s["customer_turns"] == summary.customer_turns and s["alerts"] == summary.alerts
                                for s in mine)
        # The calls of the partition that moved were restored by the second worker.
        assert second.stats()["counts"].get("calls_restored", 0) >= 1
    finally:
        second.stop_worker()
