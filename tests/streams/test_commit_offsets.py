"""The offset faust-streaming's consumer commits (streams/faust_fixes.py): never past a message that a
stream took and did not acknowledge (upstream faust-streaming #606). The frames stage acknowledges a
call's frames only when a checkpoint holds them, so with several calls on one partition the
acknowledged offsets have holes, and committing past one loses frames at the next crash or
rebalance. These run Faust's real consumer class on its own bookkeeping (no broker needed: the
commit decision is local)."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture()
def consumer():
    import faust

    from streams import faust_fixes

    app = faust.App("test-commit-offsets", broker="kafka://127.0.0.1:9", store="memory://")
    faust_fixes.install(app)
    app.consumer_generation_id = 3
    app.topics.add(app.topic("callpulse.audio"))  # what an agent subscribing to it does:
    asyncio.run(app.topics._update_indices())  # acknowledgements of the topic count
    return app.consumer


def _tp():
    from faust.types import TP

    return TP("callpulse.audio", 0)


def _acked(consumer, tp, offsets, committed):
    consumer._committed_offset[tp] = committed
    consumer._acked[tp] = list(offsets)
    consumer._acked_index[tp] = set(offsets)


def _in_flight(consumer, tp, offset, generation=3):
    from faust.types import Message

    m = Message(tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None, tp=tp, generation_id=generation)
    consumer._unacked_messages.add(m)
    return m


def test_one_unacknowledged_message_at_the_head_is_not_committed_past(consumer):
    """#606: committed 10 (offset 10 is next), 11-13 acknowledged, 10 not: stock Faust commits 14."""
    tp = _tp()
    _acked(consumer, tp, [11, 12, 13], committed=10)
    held = _in_flight(consumer, tp, 10)
    assert consumer._filter_committable_offsets({tp}) == {}
    consumer.ack(held)
    assert consumer._filter_committable_offsets({tp}) == {tp: 14}


def test_with_nothing_committed_yet_the_lowest_message_in_flight_bounds_the_commit(consumer):
    """No committed offset (a new group): stock Faust commits the first acknowledged run, whatever
    precedes it. Here another call's frames 0-2 are still waiting for their checkpoint."""
    tp = _tp()
    _acked(consumer, tp, [3, 4, 5], committed=None)
    held = [_in_flight(consumer, tp, o) for o in (0, 1, 2)]
    assert consumer._filter_committable_offsets({tp}) == {}
    for m in held:
        consumer.ack(m)
    assert consumer._filter_committable_offsets({tp}) == {tp: 6}


def test_two_calls_interleaved_on_one_partition_commit_only_below_the_first_hole(consumer):
    tp = _tp()
    # call A's frames (even offsets) checkpointed and acknowledged, call B's (odd) in flight
    _acked(consumer, tp, [20, 22, 24, 26], committed=20)
    held = {o: _in_flight(consumer, tp, o) for o in (21, 23, 25, 27)}
    assert consumer._filter_committable_offsets({tp}) == {tp: 21}
    consumer._committed_offset[tp] = 21
    assert consumer._filter_committable_offsets({tp}) == {}  # stock Faust: 23, past frame 21
    for o in (21, 23):
        consumer.ack(held[o])
    assert consumer._filter_committable_offsets({tp}) == {tp: 25}


def test_messages_of_an_earlier_generation_do_not_hold_the_commit_back(consumer):
    """A message fetched before the last rebalance is fetched again: its old copy, never acknowledged,
    must not stop commits forever."""
    tp = _tp()
    _acked(consumer, tp, [30, 31], committed=30)
    _in_flight(consumer, tp, 29, generation=2)
    assert consumer._filter_committable_offsets({tp}) == {tp: 32}


def test_acknowledgements_of_messages_fetched_before_a_rebalance_are_dropped(consumer):
    """A stream acknowledges the events it skips during a rebalance (even on noack() streams). After
    the rebalance the consumer seeks back to the committed offset (40) and fetches 40, 41 again; an
    old acknowledgement of 41 must not let a commit cover it before the new copy is processed."""
    from streams import faust_fixes

    tp = _tp()
    consumer._committed_offset[tp] = 40
    skipped = _in_flight(consumer, tp, 41, generation=2)
    consumer.ack(skipped)
    assert consumer._acked[tp] == []
    assert consumer._filter_committable_offsets({tp}) == {}

    # between the start of a revoke and the new assignment nothing is acknowledged either
    app = consumer.app
    app.on_rebalance_start()
    assert faust_fixes.revoking(app)
    finished_late = _in_flight(consumer, tp, 40)
    consumer.ack(finished_late)
    assert consumer._acked[tp] == []

    # a message of the current generation, once the assignment is done, counts as usual
    setattr(app, faust_fixes.REVOKING_ATTR, False)
    fresh = _in_flight(consumer, tp, 40)
    consumer.ack(fresh)
    assert consumer._filter_committable_offsets({tp}) == {tp: 41}
