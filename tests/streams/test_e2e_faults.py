"""Bad input on the embedded pipeline: malformed frames, an unknown schema version, a frame of a call
that never started, and a call that never ends. Each bad event goes to the dead-letter topic (and the
dead_letters table) with its reason; the silent call is closed after the idle timeout with a summary;
a normal call replayed at the same time ends exactly as the offline analysis says."""

from __future__ import annotations

import asyncio
import threading

import pytest

from streams.local import PipelineError, wait_for
from tests.streams.e2e import (
    demo_call, model_path, offline, offline_counts, replay, start_pipeline, store_counts, wait_summary,
)

pytestmark = pytest.mark.slow

IDLE_TIMEOUT_S = 4.0


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    p = start_pipeline(tmp_path_factory.mktemp("e2e-faults"), idle_call_timeout_s=IDLE_TIMEOUT_S,
                       idle_check_interval_s=0.5)
    yield p
    p.stop()


async def _publish_bad_events(settings, live_call_id: str) -> None:
    from aiokafka import AIOKafkaProducer

    from schemas.codec import HEADER, MAGIC, _REGISTRY, encode
    from streams.records import frame_to_record
    from streams.topics import bootstrap_of
    from processors.types import AudioFrame

    good_frame = lambda call_id, payload: encode("audio_frame", frame_to_record(
        AudioFrame(call_id, 0, 0, 0, 16000, "pcm_s16le", payload)))
    body = good_frame("e2e-future-1", b"\x00\x00" * 320)[HEADER.size:]
    events = [
        (b"e2e-garbage-1", b"\x00 this is not an event"),
        (live_call_id.encode(), good_frame(live_call_id, b"\x01" * 321)),  # odd PCM length, live call
        (b"e2e-nostart-1", good_frame("e2e-nostart-1", b"\x00\x00" * 320)),
        (b"e2e-future-1", HEADER.pack(MAGIC, _REGISTRY.id_of["audio_frame"], 99) + body),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_of(settings.broker_url))
    await producer.start()
    try:
        for key, value in events:
            await producer.send_and_wait(settings.topic("audio"), value, key=key)
    finally:
        await producer.stop()


def test_bad_events_are_dead_lettered_and_idle_calls_closed(pipeline):
    from processors.emotion.model import EmotionModel

    normal = demo_call("calm_stereo", "e2e-normal-1")
    silent = demo_call("calm_mono", "e2e-neverends-1", stereo=False, send_end=False)
    silent.samples = silent.samples[:, : 16_000 * 12]  # 12 s of it, then nothing: no frames, no end
    expected = offline_counts(offline(normal, EmotionModel(model_path())))

    publisher = threading.Thread(target=replay, args=(pipeline, [normal, silent]), kwargs={"speed": 4.0})
    publisher.start()
    try:
        wait_for(lambda: pipeline.stats()["counts"].get("calls_started", 0) >= 2, 60, "both calls to start")
        asyncio.run(_publish_bad_events(pipeline.settings, normal.call_id))
    finally:
        publisher.join()

    # The call that never ends is closed by the idle timer, with a summary.
    rows = wait_summary(pipeline, silent.call_id, timeout_s=60, reason="idle_timeout")
    assert rows[0][0] == "idle_timeout"

    # Four bad events, four dead letters with their reasons, on the topic and in the store.
    def dead_letters():
        recs = [rec for kind, rec, _ in pipeline.read_topic("dead-letter") if kind == "dead_letter"]
        return recs if len(recs) >= 4 else None

    recs = wait_for(dead_letters, 30, "four dead letters")
    reasons = {r["key"].decode(): r["reason"] for r in recs}
    assert "magic" in reasons["e2e-garbage-1"]
    assert "odd byte length" in reasons[normal.call_id]
    assert "before its call-started" in reasons["e2e-nostart-1"]
    assert "version 99" in reasons["e2e-future-1"]
    assert all(r["topic"] == pipeline.settings.topic("audio") for r in recs)
    assert all(r["value"] for r in recs), "the original bytes travel with the dead letter"
    wait_for(lambda: pipeline.sql("SELECT count() FROM callpulse.dead_letters")[0][0] >= 4, 30,
             "dead letters in the store")

    # The call that got a bad frame, and shared the worker with the rest, is untouched.
    wait_summary(pipeline, normal.call_id)
    try:
        wait_for(lambda: store_counts(pipeline, normal.call_id) == expected, 60, "rows like offline")
    except PipelineError:
        assert store_counts(pipeline, normal.call_id) == expected


async def _publish_segment(settings, segment) -> None:
    from aiokafka import AIOKafkaProducer

    from schemas.codec import encode
    from streams.records import to_record
    from streams.topics import bootstrap_of

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_of(settings.broker_url), max_request_size=8_000_000)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic("transcripts"), encode("transcript_segment", to_record(segment)),
                                     key=segment.call_id.encode())
    finally:
        await producer.stop()


def test_an_output_the_broker_refuses_is_not_remembered_by_the_chain(pipeline):
    """A transcript segment whose words make the revised turn too large for the broker (> 1 MB): the
    chain cannot publish the revision. The segment goes to the dead-letter topic and the chain's state
    forgets it (the state saved before it is restored), so the call still ends exactly as the offline
    analysis says, and nothing later carries the oversized text."""
    from processors.emotion.model import EmotionModel
    from processors.types import CUSTOMER, FusedTurn, TranscriptSegment

    call = demo_call("upset_stereo", "e2e-bigwords-1")
    result = offline(call, EmotionModel(model_path()))
    expected = offline_counts(result)
    turns = sorted((r for r in result.records if isinstance(r, FusedTurn)), key=lambda r: r.end_s)
    k, target = next((i, t) for i, t in enumerate(turns) if t.speaker == CUSTOMER)
    giant = TranscriptSegment(call.call_id, f"{call.call_id}:giant", CUSTOMER, target.start_s, target.end_s,
                              "words " * 250_000)

    before = pipeline.stats()["counts"].get("turns_chained", 0)
    publisher = threading.Thread(target=replay, args=(pipeline, [call]), kwargs={"speed": 3.0})
    publisher.start()
    try:
        wait_for(lambda: pipeline.stats()["counts"].get("turns_chained", 0) >= before + k + 2, 60,
                 "the customer turn to be in the chain")
        asyncio.run(_publish_segment(pipeline.settings, giant))
    finally:
        publisher.join()

    def rejected():
        recs = [rec for kind, rec, _ in pipeline.read_topic("dead-letter")
                if kind == "dead_letter" and rec["key"] == call.call_id.encode()]
        return recs or None

    recs = wait_for(rejected, 60, "the segment on the dead-letter topic")
    assert "OutputRejected" in recs[0]["reason"] and recs[0]["topic"] == pipeline.settings.topic("transcripts")
    wait_summary(pipeline, call.call_id)
    try:
        wait_for(lambda: store_counts(pipeline, call.call_id) == expected, 60, "rows like offline")
    except PipelineError:
        assert store_counts(pipeline, call.call_id) == expected
    texts = pipeline.sql(f"SELECT max(length(text)) FROM callpulse.turns FINAL WHERE call_id = '{call.call_id}'")
    assert texts[0][0] < 1000
