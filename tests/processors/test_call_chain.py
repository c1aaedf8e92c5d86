"""CallChain: incremental feeding, arrival-order independence, redelivery, checkpoints, transcripts."""

from __future__ import annotations

import random

import pytest

from processors.call_chain import CallChain, ChainConfig, ChainInputError, run_chain
from processors.escalation import EscalationConfig
from processors.fusion import FusionConfig
from processors.types import (
    AGENT,
    CUSTOMER,
    Alert,
    CallSummary,
    FusedTurn,
    TranscriptSegment,
    WindowAggregate,
)
from tests.processors.chain_script import (
    CALL,
    alternating,
    emotion,
    events_of,
    polarity_stub,
    turn,
)

LATENESS = EscalationConfig().allowed_lateness_s
EARLY = {flag: ChainConfig(escalation=EscalationConfig(early_firing=flag)) for flag in (False, True)}
"""Hopping windows only, and with the rule also evaluated at each customer turn's end."""


def _script_with_words():
    script = []
    for i, (who, s, e, v, _) in enumerate(alternating(24, 63.0, agent_voice=True)):
        if who == CUSTOMER:
            text = "this is bad awful angry" if s >= 63.0 else ("good thanks" if i % 4 == 0 else "okay fine")
        else:
            text = "let me check that for you"
        script.append((who, s, e, v, text))
    return script


def _stable(out):
    """What must not depend on arrival order: windows, alerts, summary, final fused value per turn."""
    windows = [r for r in out if isinstance(r, WindowAggregate)]
    alerts = [r for r in out if isinstance(r, Alert)]
    summary = [r for r in out if isinstance(r, CallSummary)]
    final = {}
    for r in out:
        if isinstance(r, FusedTurn):
            final[r.turn_id] = (r.negativity, r.text, r.voice_upset)
    return windows, alerts, summary, final


def _feed(chain, events):
    out = []
    for ev in events:
        out += chain.add_transcript(ev) if isinstance(ev, TranscriptSegment) else chain.add_turn(*ev)
    return out


def _event_time(ev):
    return ev.start_s if isinstance(ev, TranscriptSegment) else ev[0].start_s


@pytest.mark.parametrize("early_firing", [False, True])
def test_same_alerts_for_any_arrival_order_within_lateness(early_firing):
    config = EARLY[early_firing]
    pairs, segs = events_of(_script_with_words())
    events = pairs + segs
    ref_chain = CallChain(CALL, config, polarity=polarity_stub)
    reference = _stable(_feed(ref_chain, sorted(events, key=_event_time)) + ref_chain.end_call())
    assert reference[1], "the script must produce an alert"
    rng = random.Random(7)
    for _ in range(25):
        # each event is delayed by up to the allowed lateness (transcripts even more: they never move the
        # watermark, but must arrive before their turn's windows close)
        keyed = [(_event_time(e) + rng.uniform(0, LATENESS * (0.99 if not isinstance(e, TranscriptSegment) else 0.5)), i, e)
                 for i, e in enumerate(events)]
        chain = CallChain(CALL, config, polarity=polarity_stub)
        out = _feed(chain, [e for _, _, e in sorted(keyed)]) + chain.end_call()
        assert _stable(out) == reference
        assert out[-1].late_events_dropped == 0


def test_words_change_the_outcome():
    """The same voices with and without transcripts: fusion of negative words raises negativity."""
    pairs, segs = events_of(_script_with_words())
    no_words = run_chain(CALL, pairs, polarity=polarity_stub)
    with_words = run_chain(CALL, sorted(pairs + segs, key=_event_time), polarity=polarity_stub)
    assert with_words[-1].mean_negativity != no_words[-1].mean_negativity
    final = {r.turn_id: r for r in with_words if isinstance(r, FusedTurn)}  # latest revision wins
    upset_turns = [r for r in final.values() if r.speaker == CUSTOMER and r.start_s >= 63]
    assert upset_turns and all(t.polarity is not None and t.polarity < 0 for t in upset_turns)
    assert all(t.revision == 1 for t in upset_turns)  # the words came after the turn: one revision each


def test_redelivery_is_idempotent():
    pairs, segs = events_of(_script_with_words())
    events = sorted(pairs + segs, key=_event_time)
    once = CallChain(CALL, polarity=polarity_stub)
    ref = _feed(once, events) + once.end_call()
    twice = CallChain(CALL, polarity=polarity_stub)
    out = []
    for ev in events:
        out += _feed(twice, [ev])
        assert _feed(twice, [ev]) == []  # immediate duplicate
    out += _feed(twice, events[:10])  # a burst of old redeliveries after a restart
    out += twice.end_call()
    assert out == ref
    assert twice.end_call() == []


@pytest.mark.parametrize("early_firing", [False, True])
def test_checkpoint_restore_at_every_step_gives_the_same_records(early_firing):
    config = EARLY[early_firing]
    pairs, segs = events_of(_script_with_words())
    events = sorted(pairs + segs, key=_event_time)
    plain = CallChain(CALL, config, polarity=polarity_stub)
    ref = _feed(plain, events) + plain.end_call()
    assert any(isinstance(r, Alert) for r in ref)
    chain = CallChain(CALL, config, polarity=polarity_stub)
    out = []
    for ev in events:
        chain = CallChain.from_state_bytes(chain.state_bytes(), config, polarity=polarity_stub)
        out += _feed(chain, [ev])
    chain = CallChain.from_state_bytes(chain.state_bytes(), config, polarity=polarity_stub)
    out += chain.end_call()
    assert out == ref
    assert len(chain.state_bytes()) < 4000  # pruned: old turns are folded into totals


def test_late_transcript_revises_the_turn():
    chain = CallChain(CALL, polarity=polarity_stub)
    t = turn(0, CUSTOMER, 1.0, 4.0)
    (first,) = chain.add_turn(t, emotion(0.3))
    assert first.revision == 0 and first.text == "" and first.polarity is None
    seg = TranscriptSegment(CALL, "s0", CUSTOMER, 1.2, 3.8, "awful awful bad service")
    (rev,) = chain.add_transcript(seg)
    assert rev.turn_id == t.turn_id and rev.revision == 1 and rev.text == seg.text
    assert rev.polarity == -1.0 and rev.negativity > first.negativity
    assert chain.add_transcript(seg) == []  # duplicate segment
    assert chain.add_transcript(TranscriptSegment(CALL, "p", CUSTOMER, 1.0, 4.0, "bad", is_final=False)) == []


def test_transcript_before_its_turn_is_used_at_once():
    chain = CallChain(CALL, polarity=polarity_stub)
    assert chain.add_transcript(TranscriptSegment(CALL, "s0", CUSTOMER, 1.2, 3.8, "bad bad bad")) == []
    (ft,) = chain.add_turn(turn(0, CUSTOMER, 1.0, 4.0), emotion(0.3))
    assert ft.revision == 0 and ft.text == "bad bad bad" and ft.polarity == -1.0


def test_late_voice_score_revises_the_turn():
    chain = CallChain(CALL, polarity=polarity_stub)
    t = turn(0, CUSTOMER, 1.0, 4.0)
    (a,) = chain.add_turn(t, None)
    assert a.voice_upset is None and a.negativity == 0.0
    (b,) = chain.add_turn(t, emotion(0.8))
    assert b.revision == 1 and b.voice_upset == 0.8 and b.negativity == pytest.approx(0.8)
    assert chain.add_turn(t, emotion(0.8)) == []


def test_late_transcript_after_window_closed_is_counted():
    pairs, _ = events_of(alternating(12, None))
    chain = CallChain(CALL, polarity=polarity_stub)
    _feed(chain, pairs)
    # windows ending by 77 - 10 = 67 are closed, so a segment for the customer turn at 49 s
    # (window [25, 55) closed) still revises the turn but cannot change those windows
    out = chain.add_transcript(TranscriptSegment(CALL, "late", CUSTOMER, 49.1, 51.9, "awful bad"))
    summary = chain.end_call()[-1]
    assert [r.revision for r in out] == [1]
    assert summary.late_events_dropped == 1


def test_agent_turns_without_emotion_keep_conversation_metrics():
    pairs, _ = events_of(alternating(10, None))  # agent turns carry no emotion
    out = run_chain(CALL, pairs, polarity=polarity_stub)
    agent_turns = [r for r in out if isinstance(r, FusedTurn) and r.speaker == AGENT]
    assert agent_turns and all(t.voice_upset is None and t.emotion_label is None for t in agent_turns)
    w = next(r for r in out if isinstance(r, WindowAggregate) and r.window_start_s == 10.0)
    assert w.agent_speech_s > 0 and 0 < w.talk_ratio < 1 and w.longest_silence_s > 0
    summary = out[-1]
    assert summary.agent_turns == 10 and summary.customer_turns == 10
    assert summary.agent_speech_s == pytest.approx(30.0)


def test_windows_cover_the_whole_call_once_each():
    pairs, _ = events_of(alternating(10, None))
    out = run_chain(CALL, pairs, polarity=polarity_stub)
    starts = [r.window_start_s for r in out if isinstance(r, WindowAggregate)]
    duration = out[-1].duration_s
    assert starts == [5.0 * k for k in range(len(starts))]
    assert starts[-1] < duration <= starts[-1] + 5.0


def test_bad_input_is_rejected_without_changing_state():
    chain = CallChain(CALL, polarity=polarity_stub)
    chain.add_turn(turn(0, CUSTOMER, 1.0, 4.0), emotion(0.3))
    before = chain.state_bytes()
    with pytest.raises(ChainInputError):
        chain.add_turn(turn(1, CUSTOMER, 5.0, 4.0), emotion(0.3))
    with pytest.raises(ChainInputError):
        chain.add_turn(turn(1, CUSTOMER, 5.0, 6.0, call_id="other"), emotion(0.3))
    with pytest.raises(ChainInputError):
        chain.add_turn(turn(1, CUSTOMER, float("nan"), 6.0), emotion(0.3))
    with pytest.raises(ChainInputError):
        chain.add_turn(turn(1, CUSTOMER, 5.0, 6.0), emotion(1.5))
    with pytest.raises(ChainInputError):
        chain.add_transcript(TranscriptSegment(CALL, "s", CUSTOMER, 3.0, 2.0, "x"))
    with pytest.raises(ChainInputError):
        chain.end_call("hung up")
    with pytest.raises(ChainInputError):  # a bogus timestamp must not flood the output with windows
        chain.add_turn(turn(1, CUSTOMER, 5.0, 1e9), emotion(0.3))
    with pytest.raises(ChainInputError):
        chain.advance_to(1e12)
    with pytest.raises(ChainInputError):
        CallChain.from_state_bytes(b"{not json")
    assert chain.state_bytes() == before


def test_events_after_the_end_are_counted_not_applied():
    chain = CallChain(CALL, polarity=polarity_stub)
    chain.add_turn(turn(0, CUSTOMER, 1.0, 4.0), emotion(0.3))
    summary = chain.end_call("idle_timeout")[-1]
    assert summary.end_reason == "idle_timeout" and summary.late_events_dropped == 0
    assert chain.add_turn(turn(1, CUSTOMER, 5.0, 6.0), emotion(0.3)) == []
    assert chain.late_events == 1


def test_advance_to_closes_windows_without_turns():
    chain = CallChain(CALL, polarity=polarity_stub)
    chain.add_turn(turn(0, CUSTOMER, 1.0, 4.0), emotion(0.3))
    lateness = chain.config.escalation.allowed_lateness_s
    out = chain.advance_to(39.9 + lateness)
    assert [(w.window_start_s, w.window_end_s) for w in out] == [(0.0, 30.0), (5.0, 35.0)]
    assert chain.advance_to(39.9 + lateness) == []
    assert chain.watermark_s == pytest.approx(39.9)


def test_checkpoint_keeps_foreign_ids_apart():
    chain = CallChain(CALL, polarity=polarity_stub)
    odd = turn(0, CUSTOMER, 1.0, 2.0)
    odd.turn_id = "~weird-id"
    chain.add_turn(odd, emotion(0.2))
    chain.add_turn(turn(1, CUSTOMER, 3.0, 4.0), emotion(0.2))
    chain.add_transcript(TranscriptSegment(CALL, "=seg", CUSTOMER, 3.0, 4.0, "fine"))
    restored = CallChain.from_state_bytes(chain.state_bytes(), polarity=polarity_stub)
    assert restored.add_turn(odd, emotion(0.2)) == []
    assert restored.add_turn(turn(1, CUSTOMER, 3.0, 4.0), emotion(0.2)) == []
    assert restored.add_transcript(TranscriptSegment(CALL, "=seg", CUSTOMER, 3.0, 4.0, "fine")) == []
    assert restored.state_bytes() == chain.state_bytes()


def test_no_agent_emotion_ignores_agent_scores_and_words():
    from processors.call_chain import ChainConfig

    chain = CallChain(CALL, ChainConfig(agent_emotion=False), polarity=polarity_stub)
    chain.add_transcript(TranscriptSegment(CALL, "a", AGENT, 1.0, 2.0, "awful bad angry"))
    (agent,) = chain.add_turn(turn(0, AGENT, 1.0, 2.0), emotion(0.9))
    assert agent.voice_upset is None and agent.polarity is None and agent.negativity == 0.0
    assert agent.text == "awful bad angry"  # words are kept, not scored
    assert chain.add_turn(turn(0, AGENT, 1.0, 2.0), emotion(0.9)) == []  # no late-voice revision either
    (cust,) = chain.add_turn(turn(0, CUSTOMER, 3.0, 4.0), emotion(0.9))
    assert cust.voice_upset == 0.9


# ---- per-call customer baseline (FusionConfig.baseline_turns) ----------------------------------------

BASELINE = ChainConfig(fusion=FusionConfig(baseline_turns=3, baseline_prior=0.5, baseline_prior_weight=1.0))


def _loud_caller_script():
    """A caller whose calm voice scores 0.7 (a loud voice) and who turns to 0.95 from 63 s, words too."""
    script = []
    for who, s, e, v, text in _script_with_words():
        if who == CUSTOMER:
            v = 0.95 if s >= 63.0 else 0.7
        script.append((who, s, e, v, text))
    return script


def test_baseline_reads_the_voice_relative_to_the_callers_first_turns():
    pairs, _ = events_of(_loud_caller_script())
    no_baseline = ChainConfig(fusion=FusionConfig(baseline_turns=0))
    raw = {r.turn_id: r for r in run_chain(CALL, pairs, no_baseline, polarity=polarity_stub) if isinstance(r, FusedTurn)}
    rel = {r.turn_id: r for r in run_chain(CALL, pairs, BASELINE, polarity=polarity_stub) if isinstance(r, FusedTurn)}
    cust = sorted((t for t in raw.values() if t.speaker == CUSTOMER), key=lambda t: t.start_s)
    first = cust[0].turn_id
    assert rel[first].negativity == pytest.approx(raw[first].negativity)  # nothing before it: the prior
    calm_later = [t.turn_id for t in cust[3:] if t.start_s < 63.0]
    upset = [t.turn_id for t in cust if t.start_s >= 63.0]
    assert calm_later and upset
    for tid in calm_later:  # the loud caller's calm turns drop below the raw score...
        assert rel[tid].negativity < raw[tid].negativity - 0.05
        assert rel[tid].voice_upset == raw[tid].voice_upset == pytest.approx(0.7)  # raw score kept
    # ...and the change to 0.95 still stands out above them
    assert min(rel[t].negativity for t in upset) > max(rel[t].negativity for t in calm_later) + 0.2


def test_baseline_records_do_not_depend_on_arrival_order_or_late_voice():
    pairs, segs = events_of(_loud_caller_script())
    events = pairs + segs
    ref_chain = CallChain(CALL, BASELINE, polarity=polarity_stub)
    reference = _stable(_feed(ref_chain, sorted(events, key=_event_time)) + ref_chain.end_call())
    assert reference[1], "the script must produce an alert"
    rng = random.Random(11)
    for trial in range(20):
        keyed = [(_event_time(e) + rng.uniform(0, LATENESS * (0.99 if not isinstance(e, TranscriptSegment) else 0.5)), i, e)
                 for i, e in enumerate(events)]
        ordered = [e for _, _, e in sorted(keyed)]
        if trial % 2:  # the first customer turns arrive without a voice score; the score follows later
            early = [e for e in ordered if not isinstance(e, TranscriptSegment) and e[0].speaker == CUSTOMER][:3]
            ordered = [(e[0], None) if e in early else e for e in ordered]
            for e in early:
                ordered.insert(ordered.index((e[0], None)) + 2, e)
        chain = CallChain(CALL, BASELINE, polarity=polarity_stub)
        out = _feed(chain, ordered) + chain.end_call()
        assert _stable(out) == reference
        assert out[-1].late_events_dropped == 0


def test_baseline_survives_checkpoints():
    pairs, segs = events_of(_loud_caller_script())
    events = sorted(pairs + segs, key=_event_time)
    plain = CallChain(CALL, BASELINE, polarity=polarity_stub)
    ref = _feed(plain, events) + plain.end_call()
    chain = CallChain(CALL, BASELINE, polarity=polarity_stub)
    out = []
    for ev in events:
        chain = CallChain.from_state_bytes(chain.state_bytes(), BASELINE, polarity=polarity_stub)
        out += _feed(chain, [ev])
    out += CallChain.from_state_bytes(chain.state_bytes(), BASELINE, polarity=polarity_stub).end_call()
    assert out == ref


def test_version_2_state_restores_with_early_firing_from_the_last_closed_window():
    """A checkpoint written before early firing existed (state version 2: no early-firing point) continues
    as if its spans had been evaluated up to the last closed window: nothing earlier is evaluated again."""
    import json

    pairs, segs = events_of(_script_with_words())
    events = sorted(pairs + segs, key=_event_time)
    half = len(events) // 2
    old = CallChain(CALL, EARLY[False], polarity=polarity_stub)
    _feed(old, events[:half])
    state = json.loads(old.state_bytes())
    assert state["version"] == 3
    state["version"] = 2
    del state["rule_until"]
    restored = CallChain.from_state_bytes(json.dumps(state).encode(), EARLY[True], polarity=polarity_stub)
    assert restored._evaluated_end() == restored._closed_end() > 0
    current = CallChain.from_state_bytes(old.state_bytes(), EARLY[True], polarity=polarity_stub)
    assert _feed(restored, events[half:]) + restored.end_call() == _feed(current, events[half:]) + current.end_call()
    with pytest.raises(ChainInputError):
        CallChain.from_state_bytes(json.dumps({**state, "version": 4}).encode())
