"""End to end on the embedded broker (Tansu) and store (chdb), worker in its own process, no mocks:
a stereo (both channels interleaved in one event, or one event per channel) and a mono call replayed
through every stage give exactly the turns, windows, alerts and
call summary that the offline analysis of the same recording gives, and the alerts reach the topic."""

from __future__ import annotations

import pytest

from streams.local import PipelineError, wait_for
from tests.streams.e2e import (
    alert_events, demo_call, model_path, offline, offline_counts, replay, start_pipeline, store_counts,
    wait_summary,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    p = start_pipeline(tmp_path_factory.mktemp("e2e-calls"))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def model():
    from processors.emotion.model import EmotionModel

    return EmotionModel(model_path())


def _check_like_offline(pipeline, call, model) -> dict:
    expected = offline_counts(offline(call, model))
    wait_summary(pipeline, call.call_id)
    try:
        wait_for(lambda: store_counts(pipeline, call.call_id) == expected, 60, f"{call.call_id} rows like offline")
    except PipelineError:
        assert store_counts(pipeline, call.call_id) == expected
    return expected


def test_stereo_and_mono_calls_match_offline_analysis(pipeline, model):
    stereo = demo_call("upset_stereo", "e2e-stereo-1")
    mono = demo_call("upset_mono", "e2e-mono-1", stereo=False)
    replay(pipeline, [stereo, mono], speed=0)

    exp_stereo = _check_like_offline(pipeline, stereo, model)
    exp_mono = _check_like_offline(pipeline, mono, model)
    assert exp_stereo["turns"] > 5 and exp_mono["turns"] > 5
    assert exp_stereo["windows"] > 0

    # Every alert of the offline run is on the alert topic, once.
    on_topic = [a["alert_id"] for a in alert_events(pipeline) if a["call_id"] in (stereo.call_id, mono.call_id)]
    assert sorted(on_topic) == sorted(exp_stereo["alerts"] + exp_mono["alerts"])

    # The call summary row carries the call's end reason and duration.
    rows = pipeline.sql(f"SELECT end_reason, round(duration_s, 1) FROM callpulse.calls FINAL "
                        f"WHERE call_id = '{stereo.call_id}'")
    assert rows == [["ended", round(stereo.duration_s, 1)]]


def test_transcripts_reach_the_turns(pipeline, model):
    """Also the other stereo framing: one event per channel and frame (the stereo call above sends
    both channels interleaved in one event), with the same results as the offline analysis."""
    call = demo_call("calm_stereo", "e2e-words-1", with_transcript=True, per_channel_frames=True)
    assert call.transcript
    replay(pipeline, [call], speed=0)
    _check_like_offline(pipeline, call, model)
    rows = wait_for(lambda: pipeline.sql(
        f"SELECT count() FROM callpulse.turns FINAL WHERE call_id = '{call.call_id}' AND text LIKE '%by the door%'"
    )[0][0], 30, "turn text from the transcript")
    assert rows > 0


def test_sql_cli_answers_while_the_worker_holds_the_store(pipeline):
    """`callpulse sql` cannot open the embedded store the worker holds; it goes through POST /sql."""
    import os
    import subprocess
    import sys

    wait_summary(pipeline, "e2e-stereo-1")
    env = dict(os.environ, CALLPULSE_HOME=str(pipeline.home))
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "sql", "--format", "json",
         "SELECT call_id, end_reason FROM callpulse.calls FINAL WHERE call_id = 'e2e-stereo-1'"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "e2e-stereo-1" in out.stdout and "ended" in out.stdout


def test_frames_out_of_order_within_the_reorder_window_give_the_offline_turns(pipeline, model):
    """Frames published shuffled within blocks of 8 (each frame at most 7 places early or late, inside
    the front end's reorder window): the sequencer puts them back in order, and every turn it releases
    on a frame that came after a later one reaches the store, with the offline bounds."""
    from processors.frontend import FrontEndConfig

    block = FrontEndConfig().reorder_window
    stereo = demo_call("upset_stereo", "e2e-reorder-stereo", shuffle_frames=block, shuffle_seed=1)
    mono = demo_call("upset_mono", "e2e-reorder-mono", stereo=False, shuffle_frames=block, shuffle_seed=2)
    replay(pipeline, [stereo, mono], speed=0)
    for call in (stereo, mono):
        result = offline(call, model)
        want = {r.turn_id: (round(r.start_s, 2), round(r.end_s, 2)) for r in result.records
                if type(r).__name__ == "FusedTurn"}
        _check_like_offline(pipeline, call, model)
        got = {r["turn_id"]: (round(r["start_s"], 2), round(r["end_s"], 2)) for k, r, _ in pipeline.read_topic("fused")
               if r["call_id"] == call.call_id}
        assert got == want
    assert pipeline.stats()["counts"].get("frames_reordered", 0) > 0
