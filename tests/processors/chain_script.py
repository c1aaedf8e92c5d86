"""Scripted conversations for the fusion / windows / escalation / call-chain tests.

A script is a list of (speaker, start_s, end_s, voice_upset or None, text or None); `events_of` turns it
into the (SpeechTurn, EmotionResult|None) pairs and TranscriptSegments the chain consumes.
"""

from __future__ import annotations

import numpy as np

from processors.types import AGENT, CUSTOMER, EMOTION_LABELS, EmotionResult, SpeechTurn, TranscriptSegment

CALL = "call-1"


def emotion(upset: float) -> EmotionResult:
    neg = upset / 4
    rest = (1 - upset) / 3
    probs = {lab: (neg if lab in ("angry", "disgust", "fear", "sad") else rest) for lab in EMOTION_LABELS}
    return EmotionResult(probs=probs, upset=upset, label="angry" if upset >= 0.5 else "neutral", model_version="script")


def turn(index: int, speaker: str, start: float, end: float, call_id: str = CALL) -> SpeechTurn:
    channel = 0 if speaker == AGENT else 1
    return SpeechTurn(call_id, f"{call_id}:{channel}:{index:05d}", speaker, channel, start, end, np.zeros(0, np.float32))


def alternating(n_cycles: int, upset_from_s: float | None, cycle_s: float = 7.0, turn_s: float = 3.0,
                calm: float = 0.1, upset: float = 0.9, agent_voice: bool = False):
    """Customer speaks [c*cycle, c*cycle+turn_s), agent half a second after; customer upset from upset_from_s."""
    script = []
    for c in range(n_cycles):
        s = c * cycle_s
        u = upset if (upset_from_s is not None and s >= upset_from_s) else calm
        script.append((CUSTOMER, s, s + turn_s, u, None))
        script.append((AGENT, s + turn_s + 0.5, s + 2 * turn_s + 0.5, 0.05 if agent_voice else None, None))
    return script


def events_of(script, call_id: str = CALL):
    """(pairs, segments): turn events in script order and one transcript segment per turn with text."""
    counters = {CUSTOMER: 0, AGENT: 0}
    pairs, segments = [], []
    for speaker, start, end, voice, text in script:
        i = counters[speaker]
        counters[speaker] += 1
        t = turn(i, speaker, start, end, call_id)
        pairs.append((t, emotion(voice) if voice is not None else None))
        if text is not None:
            segments.append(TranscriptSegment(call_id, f"{t.turn_id}:seg", speaker, start + 0.1, end - 0.1, text))
    return pairs, segments


def polarity_stub(text: str) -> float:
    """Deterministic word-count polarity for logic tests: 'bad' words minus 'good' words, clipped."""
    words = text.lower().split()
    score = sum(w in ("good", "thanks", "great") for w in words) - sum(w in ("bad", "awful", "angry") for w in words)
    return max(-1.0, min(1.0, score / 3))
