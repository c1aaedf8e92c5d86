"""Offline analysis of one recording: front end -> emotion model -> (transcripts) -> call chain.

Input:  samples (channels, n) float32 at 16 kHz, how the call was recorded (stereo with the customer on
        a given channel, or mono), an `EmotionModel`, and optionally transcript segments or the built-in
        ASR.
Output: `OfflineResult`: the call chain's records (FusedTurn, WindowAggregate, Alert, CallSummary) and
        the emotion result of every scored turn.

Two steps, usable apart (the assembled-call evaluation caches step 1 and replays step 2 many times):
  1. `cut_and_score`: frames -> `FrontEnd` -> turns; each turn scored as soon as a batch fills, then its
     audio is dropped (memory stays bounded on long files).  With `agent_emotion=False` only customer
     turns are scored: agent turns, and turns the mono front end could not attribute, never reach the
     model (EU AI Act: no inference of employees' emotions).
  2. `chain_records`: feed the call chain.  Transcript segments go first (they never move the
     watermark), then turns in (start, turn_id) order: offline there is no reason to be late, so the
     output does not depend on the order the front end happened to emit turns in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from processors.call_chain import CallChain, ChainConfig, ChainRecord, PolarityFn
from processors.types import CUSTOMER, CallInfo, EmotionResult, SpeechTurn, TranscriptSegment

SCORE_BATCH = 16


@dataclass(frozen=True)
class ScoredTurn:
    """A turn without its audio, with its emotion (None when not scored or unscorable)."""

    turn: SpeechTurn
    emotion: EmotionResult | None
    arrival: int
    """Position in the front end's emission order (for replaying streaming order)."""


@dataclass
class OfflineResult:
    call_id: str
    duration_s: float
    records: list[ChainRecord]
    emotions: dict[str, EmotionResult] = field(default_factory=dict)
    turns: list[ScoredTurn] = field(default_factory=list)


def call_info(call_id: str, channels: int, stereo: bool, customer_channel: int = 1) -> CallInfo:
    if stereo:
        if channels != 2:
            raise ValueError(f"--stereo needs a 2-channel recording, this one has {channels}")
        if customer_channel not in (0, 1):
            raise ValueError("customer channel must be 0 or 1")
        return CallInfo(call_id=call_id, stereo=True, agent_channel=1 - customer_channel)
    return CallInfo(call_id=call_id, stereo=False)


def cut_and_score(
    call_id: str,
    samples: np.ndarray,
    model,
    *,
    stereo: bool,
    customer_channel: int = 1,
    agent_emotion: bool = True,
    frame_ms: int = 20,
    frontend_config=None,
    on_turn: Callable[[SpeechTurn], None] | None = None,
) -> list[ScoredTurn]:
    """Run the front end over the recording and score its turns (step 1).

    `samples` is (n,) or (channels, n); mono analysis downmixes a 2-channel file.  `on_turn` sees every
    turn with its audio before the audio is dropped (the ASR hook).
    """
    from processors.frontend import FrontEnd, frames_from_clip

    x = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if not stereo and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    info = call_info(call_id, x.shape[0], stereo, customer_channel)
    fe = FrontEnd(info, frontend_config)
    pending: list[SpeechTurn] = []
    out: list[ScoredTurn] = []

    def drain() -> None:
        wanted = [t for t in pending if agent_emotion or t.speaker == CUSTOMER]
        results = model.score_many([t.audio for t in wanted]) if (wanted and model is not None) else []
        by_id = {t.turn_id: (r if isinstance(r, EmotionResult) else None) for t, r in zip(wanted, results)}
        for t in pending:
            if on_turn is not None:
                on_turn(t)
            light = SpeechTurn(t.call_id, t.turn_id, t.speaker, t.channel, t.start_s, t.end_s,
                               np.zeros(0, np.float32), t.overlap)
            out.append(ScoredTurn(light, by_id.get(t.turn_id), len(out)))
        pending.clear()

    for frame in frames_from_clip(call_id, x, frame_ms=frame_ms):
        pending.extend(fe.push(frame))
        if len(pending) >= SCORE_BATCH:
            drain()
    pending.extend(fe.flush())
    drain()
    return out


def chain_records(
    call_id: str,
    turns: Sequence[ScoredTurn],
    segments: Sequence[TranscriptSegment] = (),
    *,
    config: ChainConfig | None = None,
    polarity: PolarityFn | None = None,
    duration_s: float | None = None,
    arrival_order: bool = False,
) -> list[ChainRecord]:
    """Feed the call chain (step 2).  `arrival_order=True` replays the front end's emission order
    instead of start order (what a streaming worker sees), to measure late events."""
    chain = CallChain(call_id, config, polarity)
    out: list[ChainRecord] = []
    for seg in sorted(segments, key=lambda s: (s.start_s, s.segment_id)):
        out.extend(chain.add_transcript(seg))
    key = (lambda s: s.arrival) if arrival_order else (lambda s: (s.turn.start_s, s.turn.turn_id))
    for st in sorted(turns, key=key):
        out.extend(chain.add_turn(st.turn, st.emotion))
    out.extend(chain.end_call("ended", duration_s))
    return out


def asr_segments_hook(call_id: str):
    """(hook, segments): an `on_turn` hook transcribing each turn with the built-in ASR, if installed."""
    from processors.text.asr import load_default_transcriber

    transcriber = load_default_transcriber()
    segments: list[TranscriptSegment] = []

    def hook(turn: SpeechTurn) -> None:
        segments.extend(transcriber.transcribe(turn.audio, call_id, turn.speaker, turn.start_s))

    return hook, segments


def analyze_samples(
    call_id: str,
    samples: np.ndarray,
    model,
    *,
    stereo: bool,
    customer_channel: int = 1,
    agent_emotion: bool = True,
    frame_ms: int = 20,
    transcript: Sequence[TranscriptSegment] | None = None,
    use_asr: bool = False,
    config: ChainConfig | None = None,
    polarity: PolarityFn | None = None,
    frontend_config=None,
) -> OfflineResult:
    """The whole per-call chain on one recording held in memory."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    duration = x.shape[1] / 16_000.0
    hook, asr_segs = (None, [])
    if transcript is None and use_asr:
        hook, asr_segs = asr_segments_hook(call_id)
    turns = cut_and_score(call_id, x, model, stereo=stereo, customer_channel=customer_channel,
                          agent_emotion=agent_emotion, frame_ms=frame_ms, frontend_config=frontend_config,
                          on_turn=hook)
    segments = list(transcript) if transcript is not None else asr_segs
    records = chain_records(call_id, turns, segments, config=config, polarity=polarity, duration_s=duration)
    emotions = {st.turn.turn_id: st.emotion for st in turns if st.emotion is not None}
    return OfflineResult(call_id, duration, records, emotions, list(turns))
