"""Sustained-upset rule on scripted conversations: exact alert times, one per episode, re-arming, lateness.

The script: customer turns [7c, 7c+3), agent turns [7c+3.5, 7c+6.5); default windows 30 s / 5 s,
lateness 5 s (default 10 s; 5 keeps the lateness arithmetic below short), share 0.15, turn threshold 0.75,
at least 2 upset turns, 1 window.  Hand computation for "upset from 42 s":
window [15, 45) holds one upset turn (42-45) -> not upset; window [20, 50) holds 42-45 and 1 s of 49-52:
customer speech 3+3+3+3+1 = 13 s, upset 4 s -> share 0.31 with 2 upset turns -> fires at 50 s.
"""

from __future__ import annotations

import dataclasses

import pytest

from processors.call_chain import CallChain, ChainConfig
from processors.escalation import EscalationConfig, EscalationState, observe_window
from processors.types import AGENT, CUSTOMER, Alert, WindowAggregate
from tests.processors.chain_script import (
    alternating,
    emotion,
    events_of,
    polarity_stub,
    turn,
)


def run(script, config: ChainConfig | None = None, order=None):
    pairs, segs = events_of(script)
    chain = CallChain("call-1", config or ChainConfig(escalation=BASE), polarity_stub)
    out = []
    for i in order if order is not None else range(len(pairs)):
        out += chain.add_turn(*pairs[i])
    out += chain.end_call()
    return out


def alerts(out):
    return [r for r in out if isinstance(r, Alert)]


BASE = EscalationConfig(allowed_lateness_s=5.0)


def with_escalation(**kw) -> ChainConfig:
    return ChainConfig(escalation=dataclasses.replace(BASE, **kw))


def test_calm_call_never_alerts():
    out = run(alternating(20, None))
    assert alerts(out) == []
    assert out[-1].alerts == 0


def test_exact_alert_time_and_evidence():
    (a,) = alerts(run(alternating(20, 42.0)))
    assert a.at_s == 50.0 and a.episode == 1 and a.alert_id == "call-1:episode:1" and a.windows == 1
    assert [e.turn_id for e in a.evidence] == ["call-1:1:00006", "call-1:1:00007"]
    assert a.at_s - 42.0 <= 10.0
    assert a.severity in ("medium", "high", "critical")


def test_consecutive_windows_delay_the_alert_exactly():
    (a,) = alerts(run(alternating(20, 42.0), with_escalation(consecutive_windows=3)))
    assert a.at_s == 60.0 and a.windows == 3


def test_one_alert_per_episode_however_long():
    out = run(alternating(40, 42.0))
    assert [a.at_s for a in alerts(out)] == [50.0]
    upset_windows = [w for w in out if isinstance(w, WindowAggregate) and w.upset]
    assert len(upset_windows) > 30


def _two_episodes(second_from: float):
    """Upset from 42 s, calm from 98 s, upset again from `second_from`."""
    script = []
    for who, s, e, v, text in alternating(40, 42.0):
        if who == CUSTOMER and 98.0 <= s < second_from:
            v = 0.1
        script.append((who, s, e, v, text))
    return script


def test_rearms_after_calm_and_fires_again():
    # upset turns from 42 to 91 s, calm from 98 s, upset again from 182 s (= 42 + 140, same phase)
    out = run(_two_episodes(182.0))
    assert [(a.episode, a.at_s) for a in alerts(out)] == [(1, 50.0), (2, 190.0)]


def test_no_rearm_when_the_calm_is_too_short():
    # calm 98..112 s only: no window is free of upset turns, so the second burst is the same episode
    out = run(_two_episodes(119.0))
    assert [a.at_s for a in alerts(out)] == [50.0]


def test_single_angry_turn_is_not_an_escalation():
    script = alternating(20, None)
    script[8] = (CUSTOMER, 28.0, 36.0, 0.97, None)  # one long angry sentence
    assert alerts(run(script)) == []


def test_late_turn_beyond_lateness_is_counted_and_ignored():
    pairs, _ = events_of(alternating(20, 42.0))
    order = list(range(len(pairs)))
    # the first upset turn (index 12: customer at 42 s) arrives after the turns starting at 56 s
    order.remove(12)
    order.insert(order.index(16) + 1, 12)
    out = run(alternating(20, 42.0), order=order)
    summary = out[-1]
    assert summary.late_events_dropped == 1
    late_turn = [r for r in out if getattr(r, "turn_id", None) == "call-1:1:00006"]
    assert late_turn, "a late turn is still fused and emitted"
    # without 42-45 s the first window with two upset turns is [30, 60): 49-52 and 56-59
    assert [a.at_s for a in alerts(out)] == [60.0]


def test_turn_within_lateness_is_applied():
    pairs, _ = events_of(alternating(20, 42.0))
    order = list(range(len(pairs)))
    order.remove(12)
    order.insert(order.index(14) + 1, 12)  # after the customer turn starting at 49 s: 7 s late, start-wise 7 > 5...
    out = run(alternating(20, 42.0), order=order)
    # ...but windows close on the watermark: at progress 49 the watermark is 44 and only windows ending
    # by 40 are closed; 42 s is still open, so the turn is applied and nothing changes
    assert out[-1].late_events_dropped == 0
    assert [a.at_s for a in alerts(out)] == [50.0]


def test_observe_window_hysteresis_directly():
    cfg = EscalationConfig(rearm_calm_windows=2)
    st = EscalationState()

    def win(share, speech=10.0, upset=None):
        return WindowAggregate("c", 0, 30, 3, speech, 0.5, 0.9, share, 0.0, 0.0, 0, 0.0,
                               share >= cfg.upset_share if upset is None else upset)

    fired = [observe_window(st, w, [], cfg) is not None for w in [
        win(0.5), win(0.6),            # fires on the first, then stays quiet
        win(0.05), win(0.0, speech=0), win(0.2),  # calm, silent (no evidence), in-between breaks the run
        win(0.05), win(0.05),          # two calm windows: re-armed
        win(0.4),                      # fires again
    ]]
    assert fired == [True, False, False, False, False, False, False, True]
    assert st.episodes == 2


def test_config_validation():
    with pytest.raises(ValueError):
        EscalationConfig(step_s=40.0)
    with pytest.raises(ValueError):
        EscalationConfig(rearm_share=0.5, upset_share=0.3)


# ---- early firing: the rule also evaluated on the span ending at each customer turn's end -------------
# Customer turns end at 7c + 3 (3, 10, ..., 45, 52, 59, 66); hopping windows end every 5 s from 30 s.


def test_early_firing_fires_at_the_turn_end_that_completes_the_condition():
    """Upset from 49 s.  Hopping windows: [25, 55) holds one upset turn (49-52); [30, 60) holds 35-38,
    42-45, 49-52, 56-59: 12 s of speech, 6 s upset -> fires at 60.  Early firing: the span [29, 59) ending
    at the second upset turn's end holds 29-31 (2 s), 35-38, 42-45, 49-52, 56-59: 14 s, 6 s upset, share
    0.43 with 2 upset turns -> fires at 59, the moment that turn is over."""
    (grid,) = alerts(run(alternating(20, 49.0), with_escalation(early_firing=False)))
    (early,) = alerts(run(alternating(20, 49.0), with_escalation(early_firing=True)))
    assert grid.at_s == 60.0 and early.at_s == 59.0 and early.windows == 1
    assert [e.turn_id for e in early.evidence] == ["call-1:1:00007", "call-1:1:00008"]


def test_early_firing_keeps_hopping_window_times_when_they_come_first():
    """Upset from 42 s: the window [20, 50) already holds 1 s of the turn 49-52 and fires at 50, before
    the span ending at 52 (the alert is stamped with the window's end, as without early firing)."""
    (a,) = alerts(run(alternating(20, 42.0), with_escalation(early_firing=True)))
    assert a.at_s == 50.0


def test_early_firing_with_consecutive_windows():
    """2 windows in a row: the span at a turn end counts as the second after one upset hopping window.
    Upset from 42 s: [20, 50) upset, then the span [22, 52) -> fires at 52 (55 without early firing).
    Upset from 35 s: the turn end 45 is also a window end; that span *is* the window [15, 45) and does not
    count twice: [15, 45), [20, 50) -> fires at 50, as without early firing."""
    two = {"consecutive_windows": 2}
    assert [a.at_s for a in alerts(run(alternating(20, 42.0), with_escalation(early_firing=True, **two)))] == [52.0]
    assert [a.at_s for a in alerts(run(alternating(20, 42.0), with_escalation(early_firing=False, **two)))] == [55.0]
    assert [a.at_s for a in alerts(run(alternating(20, 35.0), with_escalation(early_firing=True, **two)))] == [50.0]


def test_early_firing_one_alert_per_episode_and_rearm():
    """Same hysteresis as the hopping windows: one alert per episode; the second episode (upset again from
    182 s) fires at 190 either way (its spans ending at 185 and 192 straddle the window ending at 190)."""
    cfg = with_escalation(early_firing=True)
    assert [a.at_s for a in alerts(run(alternating(40, 49.0), cfg))] == [59.0]
    assert [(a.episode, a.at_s) for a in alerts(run(_two_episodes(182.0), cfg))] == [(1, 50.0), (2, 190.0)]
    assert [a.at_s for a in alerts(run(_two_episodes(119.0), cfg))] == [50.0]


def test_early_firing_single_angry_turn_is_still_not_an_escalation():
    script = alternating(20, None)
    script[8] = (CUSTOMER, 28.0, 36.0, 0.97, None)
    assert alerts(run(script, with_escalation(early_firing=True))) == []


def test_upset_speech_seconds_instead_of_turns():
    """1 upset turn + at least 3 s of upset speech: one 8 s angry turn (28-36 s) fires with the window
    [5, 35), which holds 7 s of it (customer speech 3 + 3 + 3 + 7 = 16 s, share 0.44): a hopping window
    counts the part of a turn inside it, so it is stamped before the turn is over.  A 2 s one does not."""
    long_turn = alternating(20, None)
    long_turn[8] = (CUSTOMER, 28.0, 36.0, 0.97, None)
    cfg = with_escalation(early_firing=True, min_upset_turns=1, min_upset_speech_s=3.0)
    assert [a.at_s for a in alerts(run(long_turn, cfg))] == [35.0]
    short_turn = alternating(20, None)
    short_turn[8] = (CUSTOMER, 28.0, 30.0, 0.97, None)
    assert alerts(run(short_turn, cfg)) == []


def test_turn_overlapping_an_evaluated_span_is_late():
    """Early firing evaluates the span ending at 59 once the watermark passes 59 (progress 64.5, lateness
    5): a turn starting at 57 that arrives after that is late (it would change that span), while without
    early firing only the window [25, 55) is closed by then and the same turn is applied."""
    for early, late in ((True, 1), (False, 0)):
        pairs, _ = events_of(alternating(20, None))
        chain = CallChain("call-1", with_escalation(early_firing=early), polarity_stub)
        for p in pairs[:18]:  # turns starting before 63 s
            chain.add_turn(*p)
        chain.advance_to(64.5)
        chain.add_turn(turn(99, AGENT, 57.0, 58.0), emotion(0.1))
        assert chain.end_call()[-1].late_events_dropped == late


def test_exact_progress_marks_emit_the_alert_at_the_turn_end():
    """With `watermark_from_turns` off and no lateness, only the source's marks move the watermark: a mark
    at each turn's end (no turn still to come starts before it) lets the early-firing span ending at 59 be
    evaluated, and the alert emitted, as soon as the turn 56-59 is in; turns alone close nothing."""
    cfg = with_escalation(early_firing=True, allowed_lateness_s=0.0, watermark_from_turns=False)
    pairs, _ = events_of(alternating(20, 49.0))
    chain = CallChain("call-1", cfg, polarity_stub)
    emitted_at = {}
    for p in pairs:
        assert not [r for r in chain.add_turn(*p) if isinstance(r, (Alert, WindowAggregate))]
        for r in chain.advance_to(p[0].end_s):
            if isinstance(r, Alert):
                emitted_at[r.at_s] = p[0].end_s
    assert emitted_at == {59.0: 59.0}
    assert chain.add_turn(turn(99, CUSTOMER, 58.0, 58.5), emotion(0.9))  # fused and emitted, but late:
    assert chain.end_call()[-1].late_events_dropped == 1  # it starts before the last mark
