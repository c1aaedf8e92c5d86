"""Event-time hopping windows over one call's fused turns.

Input:  the latest `FusedTurn` of every turn overlapping a window (both speakers), the window's index.
Output: `WindowAggregate` — customer negativity (time-weighted mean, max, upset share, turn count) and
        conversation metrics that do not involve emotion (agent speech, talk ratio, interruptions,
        longest silence), computed only from turn timing so they stay when agent emotion is off.

Window k covers [k*step, k*step + size).  A turn contributes the part of its duration inside the window.
Everything here is a pure function of the turns given, so the result does not depend on arrival order.
"""

from __future__ import annotations

import math

from processors.escalation import EscalationConfig
from processors.types import AGENT, CUSTOMER, FusedTurn, WindowAggregate


def window_bounds(k: int, config: EscalationConfig) -> tuple[float, float]:
    start = round(k * config.step_s, 6)
    return start, round(start + config.window_s, 6)


def last_window_ending_by(t: float, config: EscalationConfig) -> int:
    """Index of the last window whose end is <= t (-1 when none)."""
    return math.floor(round((t - config.window_s) / config.step_s, 9))


def last_window_starting_before(t: float, config: EscalationConfig) -> int:
    """Index of the last window whose start is < t (-1 when t <= 0)."""
    return math.ceil(round(t / config.step_s, 9)) - 1


def is_window_end(t: float, config: EscalationConfig) -> bool:
    """Whether t is the end of a hopping window (an early-firing span ending there would be that window)."""
    x = round((t - config.window_s) / config.step_s, 9)
    return x >= 0 and x == math.floor(x)


def first_window_containing(t: float, config: EscalationConfig) -> int:
    """Index of the first window whose end is > t."""
    return max(0, last_window_ending_by(t, config) + 1)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def longest_silence(turns: list[FusedTurn], start: float, end: float) -> float:
    """Longest stretch of [start, end) that no turn (any speaker) covers."""
    if end <= start:
        return 0.0
    spans = sorted((max(t.start_s, start), min(t.end_s, end)) for t in turns if t.end_s > start and t.start_s < end)
    longest = 0.0
    cursor = start
    for s, e in spans:
        if s > cursor:
            longest = max(longest, s - cursor)
        cursor = max(cursor, e)
    return max(longest, end - cursor)


def count_interruptions(turns: list[FusedTurn], start: float, end: float) -> int:
    """Turns starting in [start, end) while a turn of another speaker was still going (overlapping start)."""
    n = 0
    for t in turns:
        if not (start <= t.start_s < end):
            continue
        for o in turns:
            if o.speaker != t.speaker and o.start_s < t.start_s < o.end_s:
                n += 1
                break
    return n


def aggregate_window(
    call_id: str,
    k: int,
    turns: list[FusedTurn],
    config: EscalationConfig,
    call_end_s: float | None = None,
) -> tuple[WindowAggregate, list[FusedTurn]]:
    """The aggregate of window k and the customer turns it covers (the evidence candidates).

    `turns` may hold turns outside the window; they are ignored.  `call_end_s` clips the silence
    measure of windows running past the end of the call.
    """
    ws, we = window_bounds(k, config)
    return aggregate_span(call_id, ws, we, turns, config, call_end_s)


def aggregate_span(
    call_id: str,
    ws: float,
    we: float,
    turns: list[FusedTurn],
    config: EscalationConfig,
    call_end_s: float | None = None,
) -> tuple[WindowAggregate, list[FusedTurn]]:
    """`aggregate_window` over any span [ws, we): the hopping windows, and the early-firing windows that end
    at a customer turn's end (`EscalationConfig.early_firing`; `ws` may be negative there: the call's first
    seconds, where the span holds less than a window of speech)."""
    inside = [t for t in turns if t.end_s > ws and t.start_s < we]
    customer = [t for t in inside if t.speaker == CUSTOMER]
    cust_s = 0.0
    agent_s = 0.0
    upset_s = 0.0
    weighted = 0.0
    max_neg = 0.0
    upset_turns = 0
    for t in inside:
        part = _overlap(t.start_s, t.end_s, ws, we)
        if t.speaker == CUSTOMER:
            cust_s += part
            weighted += part * t.negativity
            max_neg = max(max_neg, t.negativity)
            if t.negativity >= config.upset_threshold:
                upset_s += part
                upset_turns += 1
        elif t.speaker == AGENT:
            agent_s += part
    share = upset_s / cust_s if cust_s > 0 else 0.0
    silence_end = we if call_end_s is None else max(ws, min(we, call_end_s))
    window = WindowAggregate(
        call_id=call_id,
        window_start_s=ws,
        window_end_s=we,
        customer_turns=len(customer),
        customer_speech_s=round(cust_s, 6),
        mean_negativity=round(weighted / cust_s, 6) if cust_s > 0 else 0.0,
        max_negativity=round(max_neg, 6),
        upset_share=round(share, 6),
        agent_speech_s=round(agent_s, 6),
        talk_ratio=round(agent_s / (agent_s + cust_s), 6) if agent_s + cust_s > 0 else 0.0,
        interruptions=count_interruptions(inside, ws, we),
        longest_silence_s=round(longest_silence(inside, ws, silence_end), 6),
        upset=bool(cust_s > 0 and share >= config.upset_share and upset_turns >= config.min_upset_turns
                   and upset_s >= config.min_upset_speech_s),
    )
    return window, sorted(customer, key=lambda t: (t.start_s, t.turn_id))
