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


def test_many_interleaved_calls_share_front_end_batches_and_match_offline(pipeline, model):
    """Six calls (stereo and mono, upset and calm) replayed at once: the frames stage runs their front
    ends together (one VAD batch across calls, `FrontEndBatch`), and every call still stores exactly the
    offline turns, windows, alerts and summary (no turn counted late: late_events is compared too)."""
    calls = [demo_call("upset_stereo", "e2e-many-s1"), demo_call("calm_stereo", "e2e-many-s2"),
             demo_call("upset_stereo", "e2e-many-s3"),
             demo_call("upset_mono", "e2e-many-m1", stereo=False), demo_call("calm_mono", "e2e-many-m2", stereo=False),
             demo_call("upset_mono", "e2e-many-m3", stereo=False)]
    before = pipeline.stats()["counts"]
    replay(pipeline, calls, speed=0)
    expected = {c.call_id: _check_like_offline(pipeline, c, model) for c in calls}
    counts = pipeline.stats()["counts"]
    batches = counts.get("frame_batches", 0) - before.get("frame_batches", 0)
    shared = counts.get("frame_batch_calls", 0) - before.get("frame_batch_calls", 0)
    assert batches > 0 and shared >= 2 * batches  # batches held several calls each
    on_topic = sorted(a["alert_id"] for a in alert_events(pipeline) if a["call_id"].startswith("e2e-many-"))
    assert on_topic == sorted(a for e in expected.values() for a in e["alerts"])
    assert on_topic  # the upset calls alert


def test_alerts_are_released_by_progress_marks_two_seconds_after_their_window(pipeline, model):
    """The streaming chain's watermark moves only with the frames stage's progress marks (decoded audio
    minus what the front end still holds) and lags them by 2 s: each alert's window is closed by a
    progress mark sent while the call is still going, not by the call's end; and the alerts equal the
    offline ones (checked above on the same calls)."""
    from processors.types import Alert
    from streams.agents.chain import chain_config

    esc = chain_config(pipeline.settings.thresholds).escalation
    assert esc.allowed_lateness_s == 2.0 and esc.watermark_from_turns is False
    call = demo_call("upset_stereo", "e2e-many-s1")
    alerts = [r for r in offline(call, model).records if isinstance(r, Alert)]
    assert alerts and all(a.at_s + esc.allowed_lateness_s + 5.0 < call.duration_s for a in alerts)
    wait_summary(pipeline, call.call_id)
    controls = [rec for kind, rec, _ in pipeline.read_topic("turns")
                if kind == "control" and rec["call_id"] == call.call_id]
    assert controls[-1]["kind"] == "ended"
    marks = [c["t"] for c in controls if c["kind"] == "progress"]
    for alert in alerts:
        # the first mark that closes the alert's window (watermark = mark - lateness >= window end)
        closing = [t for t in marks if t - esc.allowed_lateness_s >= alert.at_s]
        assert closing, f"alert at {alert.at_s} s was only released by the call's end"
        # and no mark before it was already past the window by more than one recheck: it was not held
        assert closing[0] < alert.at_s + esc.allowed_lateness_s + 10.0
