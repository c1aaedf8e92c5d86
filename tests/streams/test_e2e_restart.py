"""A worker killed (SIGKILL) in the middle of a call and a new one started: the new worker restores
the front end from its checkpoint table and the call chain from its table (both changelog-backed on
the broker), re-reads the frames no checkpoint covered, and the call ends exactly as the offline
analysis says: no turn lost, none counted twice (after FINAL), each alert on the topic once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from streams.local import PipelineError, wait_for
from tests.streams.e2e import (
    alert_events, demo_call, model_path, offline, offline_counts, replay, start_pipeline, store_counts,
    wait_summary,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    p = start_pipeline(tmp_path_factory.mktemp("e2e-restart"))
    yield p
    p.stop()


def test_worker_killed_mid_call_loses_and_duplicates_nothing(pipeline):
    from processors.emotion.model import EmotionModel

    call = demo_call("upset_stereo", "e2e-restart-1")
    expected = offline_counts(offline(call, EmotionModel(model_path())))

    publisher = threading.Thread(target=replay, args=(pipeline, [call]), kwargs={"speed": 3.0})
    publisher.start()
    try:
        # Mid-call, after the first alert if the call has one (the alert must not come twice), else
        # half-way through its turns; a front-end checkpoint has been written, the call is not over.
        half = max(2, expected["turns"] // 2)

        def mid_call():
            c = pipeline.stats()["counts"]
            return c.get("checkpoints", 0) >= 1 and (c.get("out_alerts", 0) >= 1 or c.get("turns_chained", 0) >= half)

        wait_for(mid_call, 60, "the call to be half-way")
        assert pipeline.stats()["counts"].get("calls_ended", 0) == 0
        pipeline.kill_worker()
        pipeline.start_worker()
    finally:
        publisher.join()

    wait_summary(pipeline, call.call_id)
    try:
        wait_for(lambda: store_counts(pipeline, call.call_id) == expected, 60, "rows like offline")
    except PipelineError:
        assert store_counts(pipeline, call.call_id) == expected
    counts = pipeline.stats()["counts"]
    assert counts.get("calls_restored", 0) >= 1 or counts.get("chains_restored", 0) >= 1

    alerts = Counter(a["alert_id"] for a in alert_events(pipeline) if a["call_id"] == call.call_id)
    assert sorted(alerts) == expected["alerts"]
    assert all(n == 1 for n in alerts.values()), f"alert raised more than once: {alerts}"
