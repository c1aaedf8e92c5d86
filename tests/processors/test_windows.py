"""Window geometry and aggregates, checked against hand-computed values."""

from __future__ import annotations

import pytest

from processors.escalation import EscalationConfig
from processors.fusion import fuse_turn
from processors.types import AGENT, CUSTOMER
from processors.windows import (
    aggregate_span,
    aggregate_window,
    is_window_end,
    last_window_ending_by,
    last_window_starting_before,
    longest_silence,
    window_bounds,
)

CFG = EscalationConfig()


def ft(tid, speaker, s, e, voice=None):
    return fuse_turn("c", tid, speaker, s, e, voice, "x" if voice is not None else None, "", None)


def test_geometry():
    assert window_bounds(0, CFG) == (0.0, 30.0)
    assert window_bounds(3, CFG) == (15.0, 45.0)
    assert last_window_ending_by(29.9, CFG) == -1
    assert last_window_ending_by(30.0, CFG) == 0
    assert last_window_ending_by(44.99, CFG) == 2
    assert last_window_starting_before(0.0, CFG) == -1
    assert last_window_starting_before(0.01, CFG) == 0
    assert last_window_starting_before(10.0, CFG) == 1
    cfg = EscalationConfig(window_s=10.0, step_s=2.5)
    assert window_bounds(4, cfg) == (10.0, 20.0)
    assert last_window_ending_by(20.0, cfg) == 4


def test_aggregate_by_hand():
    turns = [
        ft("c1", CUSTOMER, 2.0, 6.0, 0.2),     # 4 s calm
        ft("a1", AGENT, 5.0, 9.0),             # starts while the customer talks: interruption
        ft("c2", CUSTOMER, 12.0, 15.0, 0.9),   # 3 s upset
        ft("c3", CUSTOMER, 20.0, 22.0, 0.8),   # 2 s upset
        ft("c4", CUSTOMER, 28.0, 34.0, 0.1),   # 2 s inside the window
        ft("a2", AGENT, 40.0, 41.0),           # outside
    ]
    w, cust = aggregate_window("c", 0, turns, CFG)
    assert (w.window_start_s, w.window_end_s) == (0.0, 30.0)
    assert w.customer_turns == 4 and [t.turn_id for t in cust] == ["c1", "c2", "c3", "c4"]
    assert w.customer_speech_s == pytest.approx(11.0)
    assert w.agent_speech_s == pytest.approx(4.0)
    assert w.upset_share == pytest.approx(5.0 / 11.0, abs=1e-6)
    negs = {t.turn_id: t.negativity for t in turns}
    mean = (4 * negs["c1"] + 3 * negs["c2"] + 2 * negs["c3"] + 2 * negs["c4"]) / 11
    assert w.mean_negativity == pytest.approx(mean, abs=1e-6)
    assert w.max_negativity == pytest.approx(negs["c2"], abs=1e-6)
    assert w.talk_ratio == pytest.approx(4 / 15, abs=1e-6)
    assert w.interruptions == 1
    assert w.longest_silence_s == pytest.approx(6.0)  # 22..28 (others: 0..2, 9..12, 15..20)
    assert w.upset  # 2 upset turns, share 0.45 >= 0.25


def test_longest_silence_edges_and_call_end():
    turns = [ft("c1", CUSTOMER, 4.0, 6.0, 0.1)]
    assert longest_silence(turns, 0.0, 30.0) == pytest.approx(24.0)
    assert longest_silence(turns, 0.0, 10.0) == pytest.approx(4.0)
    assert longest_silence([], 0.0, 7.0) == pytest.approx(7.0)
    w, _ = aggregate_window("c", 0, turns, CFG, call_end_s=8.0)
    assert w.longest_silence_s == pytest.approx(4.0)


def test_single_upset_turn_does_not_make_an_upset_window():
    turns = [ft("c1", CUSTOMER, 1.0, 9.0, 0.95), ft("c2", CUSTOMER, 10.0, 12.0, 0.1)]
    w, _ = aggregate_window("c", 0, turns, CFG)
    assert w.upset_share > 0.7 and not w.upset


def test_no_customer_speech():
    w, cust = aggregate_window("c", 2, [ft("a1", AGENT, 12.0, 20.0)], CFG)
    assert cust == [] and w.customer_turns == 0 and w.upset_share == 0.0 and not w.upset
    assert w.talk_ratio == 1.0 and w.mean_negativity == 0.0


def test_window_ends_and_spans():
    assert [is_window_end(t, CFG) for t in (25.0, 30.0, 32.5, 35.0, 45.0, 45.000001)] == [
        False, True, False, True, True, False]
    cfg = EscalationConfig(window_s=10.0, step_s=2.5)
    assert is_window_end(12.5, cfg) and not is_window_end(11.0, cfg) and not is_window_end(7.5, cfg)
    turns = [ft("c1", CUSTOMER, 2.0, 5.0, 0.9), ft("a1", AGENT, 5.5, 8.0), ft("c2", CUSTOMER, 8.5, 12.0, 0.9)]
    # a span ending at a turn end equals the hopping window with the same bounds
    span, inside = aggregate_span("c", 0.0, 30.0, turns, CFG)
    window, inside_w = aggregate_window("c", 0, turns, CFG)
    assert span == window and inside == inside_w
    # the call's first seconds: [0, 12) holds 3 + 3.5 s of customer speech, both turns upset
    span, inside = aggregate_span("c", 0.0, 12.0, turns, CFG)
    assert span.customer_speech_s == 6.5 and span.upset_share == 1.0 and span.upset
    assert [t.turn_id for t in inside] == ["c1", "c2"]
    # upset speech seconds: 6.5 s of upset speech passes 6 s, not 7 s
    assert aggregate_span("c", 0.0, 12.0, turns, EscalationConfig(min_upset_speech_s=6.0))[0].upset
    assert not aggregate_span("c", 0.0, 12.0, turns, EscalationConfig(min_upset_speech_s=7.0))[0].upset
