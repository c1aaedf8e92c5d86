"""The per-call chain after the front end: turns + emotion + transcripts -> fused turns -> windows -> alerts.

Input (incremental, any order within the allowed lateness):
    add_turn(turn, emotion | None)   a `SpeechTurn` (its audio is not kept) and its `EmotionResult`;
                                     None when not scored (agent emotion off) or not back yet — a later
                                     add_turn with the same turn_id and an emotion revises the turn
    add_transcript(segment)          a final `TranscriptSegment` (partials are ignored)
    advance_to(t)                    the source promises every turn *starting* before t was delivered
    end_call(reason, at_s=None)      closes every window and writes the summary
Output: each call returns the list of new records, in order: `FusedTurn` (revisions included),
        `WindowAggregate` (each once, when it closes), `Alert` (right after its window), `CallSummary`.

Event time and lateness.  The watermark is (latest turn start or advance_to time) - allowed lateness;
windows whose end is <= the watermark close, in order.  Turn *starts* drive it because a turn is only
delivered once it ends: a long turn must not be overtaken by the short turns that ended inside it.
That inference is what costs the lateness (a window is evaluated `allowed_lateness_s` = the longest turn
after its end).  A source that knows its progress exactly (the front end knows how much audio it still
holds) can send `advance_to` marks instead, with `EscalationConfig.watermark_from_turns` off and a lateness
of ~0: then only the marks move the watermark.
Transcripts never move the watermark (platform ASR may run ahead of the audio stages).  With
`EscalationConfig.early_firing` the spans ending at customer turn ends are evaluated on the same watermark,
merged in time order with the windows; a turn starting before the last evaluated span's end is late too.  A turn that
overlaps an already closed window is late: it is fused and emitted but kept out of windows and alerts,
and counted in `CallSummary.late_events_dropped`; so is a transcript that would revise a turn inside a
closed window (the revision is still emitted).  Hence, when every event arrives within the lateness
bound, the windows and alerts are those of in-order processing, whatever the arrival order.

Per-call customer baseline (`FusionConfig.baseline_turns` > 0).  The chain keeps the raw voice scores
of the call's earliest `baseline_turns` customer turns (by (start, turn_id); scored, not late) and fuses
each customer turn with the baseline of those that *started before it* (`processors.fusion.voice_baseline`).
A turn that arrives out of order, or a voice score that arrives late, and lands among those earliest turns
re-fuses every live customer turn after it (emitted as revisions), so once every event is in, each turn's
baseline is that of in-order processing.  Turns already folded out of the live state all lie before any
turn that is not late, so they never need revising.  The baseline list is part of the serialised state.

Redelivery.  A duplicate turn_id (at-least-once delivery) returns [] and changes nothing; so does a
duplicate segment.  State is explicit and serialisable (`state_bytes` / `from_state_bytes`, JSON).
Bad input raises `ChainInputError` before any state changes.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Union

from processors.escalation import (
    EscalationConfig,
    EscalationState,
    observe_point,
    observe_window,
)
from processors.fusion import (
    FusionConfig,
    fuse_turn,
    segment_belongs_to_turn,
    turn_text,
    voice_baseline,
)
from processors.types import (
    AGENT,
    CUSTOMER,
    Alert,
    CallSummary,
    EmotionResult,
    FusedTurn,
    SpeechTurn,
    TranscriptSegment,
    WindowAggregate,
)
from processors.windows import (
    aggregate_span,
    aggregate_window,
    is_window_end,
    last_window_ending_by,
    last_window_starting_before,
    window_bounds,
)

log = logging.getLogger(__name__)
ChainRecord = Union[FusedTurn, WindowAggregate, Alert, CallSummary]
PolarityFn = Callable[[str], float]
END_REASONS = ("ended", "idle_timeout")
STATE_VERSION = 3
READABLE_STATE_VERSIONS = (1, 2, 3)
"""Version 1 had no baseline list (it restores as empty); versions 1-2 had no early-firing point (it
restores as the end of the last closed window: nothing before it is evaluated again)."""


class ChainInputError(ValueError):
    """An event the chain cannot use (wrong call, impossible times); nothing was changed."""


@dataclass(frozen=True)
class ChainConfig:
    fusion: FusionConfig = field(default_factory=FusionConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    max_call_s: float = 12 * 3600.0
    """Event times beyond this are refused (ChainInputError): one bogus timestamp must not make the
    chain emit millions of windows."""
    agent_emotion: bool = True
    """False: only customer turns are scored — an emotion handed in for an agent (or unattributed) turn is
    ignored and no polarity is computed for their words (EU AI Act: no inference of employees'
    emotions); their timing still feeds talk ratio, interruptions and silence."""


def default_polarity() -> PolarityFn:
    """The project's polarity scorer; VADER's compound score (with a warning) if it cannot be loaded."""
    try:
        from processors.text.polarity import load_default_scorer

        return load_default_scorer().score
    except (ImportError, ValueError, OSError) as exc:
        log.warning("polarity model unavailable (%s); falling back to plain VADER compound scores", exc)
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        return lambda text: float(analyzer.polarity_scores(text)["compound"])


_TURN_FIELDS = tuple(f.name for f in fields(FusedTurn))
_SEGMENT_FIELDS = tuple(f.name for f in fields(TranscriptSegment))


def _flat(obj, names: tuple[str, ...]) -> dict:
    """Shallow dict of a flat dataclass (dataclasses.asdict deep-copies: 10x slower on the checkpoint path)."""
    return {n: getattr(obj, n) for n in names}


def _finite(*xs: float) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


@dataclass
class _Totals:
    """Summary accumulators over turns already folded out of the live state."""

    customer_turns: int = 0
    agent_turns: int = 0
    customer_speech_s: float = 0.0
    agent_speech_s: float = 0.0
    weighted_negativity: float = 0.0
    max_negativity: float = 0.0
    upset_speech_s: float = 0.0

    def add(self, t: FusedTurn, upset_threshold: float) -> None:
        d = max(0.0, t.end_s - t.start_s)
        if t.speaker == CUSTOMER:
            self.customer_turns += 1
            self.customer_speech_s += d
            self.weighted_negativity += d * t.negativity
            self.max_negativity = max(self.max_negativity, t.negativity)
            if t.negativity >= upset_threshold:
                self.upset_speech_s += d
        elif t.speaker == AGENT:
            self.agent_turns += 1
            self.agent_speech_s += d


class CallChain:
    """Per-call state machine; one instance per call, fed by the offline runner or a stream agent."""

    def __init__(self, call_id: str, config: ChainConfig | None = None, polarity: PolarityFn | None = None):
        if not call_id:
            raise ChainInputError("call_id must be a non-empty string")
        self.call_id = call_id
        self.config = config or ChainConfig()
        self._polarity_fn = polarity
        self._turns: dict[str, FusedTurn] = {}
        self._late_turns: set[str] = set()
        self._seen_turns: set[str] = set()
        self._segments: dict[str, TranscriptSegment] = {}
        self._seen_segments: set[str] = set()
        self._progress_s = -math.inf
        self._max_end_s = 0.0
        self._next_window = 0
        self._late = 0
        self._escalation = EscalationState()
        self._totals = _Totals()
        self._ended = False
        self._baseline: list[tuple[float, str, float]] = []
        """(start_s, turn_id, raw voice upset) of the earliest scored, non-late customer turns, sorted."""
        self._rule_until = -math.inf
        """End of the last early-firing span evaluated (`EscalationConfig.early_firing`)."""

    # ---- inputs -------------------------------------------------------------------------------

    def add_turn(self, turn: SpeechTurn, emotion: EmotionResult | None = None) -> list[ChainRecord]:
        self._check_turn(turn, emotion)
        if self._ended:
            self._late += 1
            return []
        if turn.turn_id in self._seen_turns:
            return self._late_voice(turn.turn_id, emotion)
        self._seen_turns.add(turn.turn_id)
        start, end = float(turn.start_s), float(turn.end_s)
        if not self._scorable(turn.speaker):
            emotion = None
        text, polarity = self._words_for(turn.speaker, start, end)
        late = start < self._evaluated_end()
        if late:
            self._late_turns.add(turn.turn_id)
            self._late += 1
        revisions = []
        if emotion is not None and not late:
            revisions = self._enter_baseline(turn.speaker, start, turn.turn_id, float(emotion.upset))
        fused = fuse_turn(
            self.call_id, turn.turn_id, turn.speaker, start, end,
            float(emotion.upset) if emotion is not None else None,
            emotion.label if emotion is not None else None,
            text, polarity, self.config.fusion,
            voice_baseline=self._baseline_for(turn.speaker, start, turn.turn_id),
        )
        self._turns[turn.turn_id] = fused
        self._max_end_s = max(self._max_end_s, end)
        if self.config.escalation.watermark_from_turns:
            self._progress_s = max(self._progress_s, start)
        return [fused, *revisions, *self._close_windows()]

    def add_transcript(self, segment: TranscriptSegment) -> list[ChainRecord]:
        self._check_segment(segment)
        if not segment.is_final:
            return []
        if self._ended:
            self._late += 1
            return []
        if segment.segment_id in self._seen_segments and (
            segment.segment_id not in self._segments or self._segments[segment.segment_id] == segment
        ):
            return []  # redelivery (a corrected final of a live segment replaces it below)
        self._seen_segments.add(segment.segment_id)
        self._segments[segment.segment_id] = segment
        out: list[ChainRecord] = []
        touched_closed = segment.start_s < self._evaluated_end() and not self._belongs_to_any(segment)
        for tid in sorted(self._turns, key=lambda i: (self._turns[i].start_s, i)):
            t = self._turns[tid]
            if not segment_belongs_to_turn(segment, t.speaker, t.start_s, t.end_s):
                continue
            text, polarity = self._words_for(t.speaker, t.start_s, t.end_s)
            if text == t.text:
                continue
            revised = fuse_turn(
                self.call_id, t.turn_id, t.speaker, t.start_s, t.end_s, t.voice_upset, t.emotion_label,
                text, polarity, self.config.fusion, revision=t.revision + 1,
                voice_baseline=self._baseline_for(t.speaker, t.start_s, t.turn_id),
            )
            self._turns[tid] = revised
            out.append(revised)
            if t.start_s < self._evaluated_end() and tid not in self._late_turns:
                touched_closed = True
        if touched_closed:
            self._late += 1
        return out

    def advance_to(self, t: float) -> list[ChainRecord]:
        if not (_finite(t) and t <= self.config.max_call_s):
            raise ChainInputError(f"advance_to needs a finite time <= {self.config.max_call_s}, got {t!r}")
        if self._ended:
            return []
        self._progress_s = max(self._progress_s, float(t))
        return self._close_windows()

    def end_call(self, reason: str = "ended", at_s: float | None = None) -> list[ChainRecord]:
        if reason not in END_REASONS:
            raise ChainInputError(f"end reason must be one of {END_REASONS}, got {reason!r}")
        if at_s is not None and not (_finite(at_s) and 0 <= at_s <= self.config.max_call_s):
            raise ChainInputError(f"end time must be a finite non-negative number, got {at_s!r}")
        if self._ended:
            return []
        duration = max(self._max_end_s, float(at_s) if at_s is not None else 0.0,
                       self._progress_s if math.isfinite(self._progress_s) else 0.0)
        last = last_window_starting_before(duration, self.config.escalation)
        out = self._evaluate(last, math.inf, duration)
        for tid in sorted(self._turns, key=lambda i: (self._turns[i].start_s, i)):
            self._totals.add(self._turns[tid], self.config.escalation.upset_threshold)
        self._turns.clear()
        self._late_turns.clear()
        self._segments.clear()
        self._ended = True
        tot = self._totals
        out.append(CallSummary(
            call_id=self.call_id,
            duration_s=round(duration, 6),
            customer_turns=tot.customer_turns,
            agent_turns=tot.agent_turns,
            customer_speech_s=round(tot.customer_speech_s, 6),
            agent_speech_s=round(tot.agent_speech_s, 6),
            mean_negativity=round(tot.weighted_negativity / tot.customer_speech_s, 6) if tot.customer_speech_s else 0.0,
            max_negativity=round(tot.max_negativity, 6),
            upset_share=round(tot.upset_speech_s / tot.customer_speech_s, 6) if tot.customer_speech_s else 0.0,
            alerts=self._escalation.episodes,
            late_events_dropped=self._late,
            end_reason=reason,
        ))
        return out

    # ---- read-only views ------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def watermark_s(self) -> float:
        return self._progress_s - self.config.escalation.allowed_lateness_s

    @property
    def late_events(self) -> int:
        return self._late

    # ---- internals -------------------------------------------------------------------------------

    def _polarity(self, text: str) -> float:
        if self._polarity_fn is None:
            self._polarity_fn = default_polarity()
        return float(self._polarity_fn(text))

    def _scorable(self, speaker: str) -> bool:
        return self.config.agent_emotion or speaker == CUSTOMER

    def _words_for(self, speaker: str, start: float, end: float) -> tuple[str, float | None]:
        segs = [s for s in self._segments.values() if segment_belongs_to_turn(s, speaker, start, end)]
        text = turn_text(segs)
        return text, (self._polarity(text) if text and self._scorable(speaker) else None)

    def _belongs_to_any(self, seg: TranscriptSegment) -> bool:
        return any(segment_belongs_to_turn(seg, t.speaker, t.start_s, t.end_s) for t in self._turns.values())

    def _late_voice(self, turn_id: str, emotion: EmotionResult | None) -> list[ChainRecord]:
        """A redelivered turn: nothing, unless it brings the voice score the first delivery lacked."""
        t = self._turns.get(turn_id)
        if emotion is None or t is None or t.voice_upset is not None or not self._scorable(t.speaker):
            return []
        late = turn_id in self._late_turns or t.start_s < self._evaluated_end()
        revisions = [] if late else self._enter_baseline(t.speaker, t.start_s, turn_id, float(emotion.upset))
        revised = fuse_turn(
            self.call_id, t.turn_id, t.speaker, t.start_s, t.end_s, float(emotion.upset), emotion.label,
            t.text, t.polarity, self.config.fusion, revision=t.revision + 1,
            voice_baseline=self._baseline_for(t.speaker, t.start_s, turn_id),
        )
        self._turns[turn_id] = revised
        if t.start_s < self._evaluated_end() and turn_id not in self._late_turns:
            self._late += 1
        return [revised, *revisions]

    def _baseline_for(self, speaker: str, start: float, turn_id: str) -> float | None:
        """The caller's baseline for a customer turn (None when the baseline is off or not a customer)."""
        fusion = self.config.fusion
        if fusion.baseline_turns <= 0 or speaker != CUSTOMER:
            return None
        earlier = [v for s, i, v in self._baseline if (s, i) < (start, turn_id)]
        return voice_baseline(earlier, fusion)

    def _enter_baseline(self, speaker: str, start: float, turn_id: str, upset: float) -> list[ChainRecord]:
        """Add a scored customer turn to the baseline when it is among the earliest; re-fuse the live
        customer turns after it whose baseline changed (returned as revisions)."""
        n = self.config.fusion.baseline_turns
        if n <= 0 or speaker != CUSTOMER:
            return []
        key = (start, turn_id)
        if len(self._baseline) >= n and key > self._baseline[-1][:2]:
            return []
        self._baseline = sorted([*self._baseline, (start, turn_id, upset)])[:n]
        out: list[ChainRecord] = []
        for tid in sorted(self._turns, key=lambda i: (self._turns[i].start_s, i)):
            t = self._turns[tid]
            if t.speaker != CUSTOMER or t.voice_upset is None or (t.start_s, tid) <= key:
                continue
            revised = fuse_turn(
                self.call_id, t.turn_id, t.speaker, t.start_s, t.end_s, t.voice_upset, t.emotion_label,
                t.text, t.polarity, self.config.fusion, revision=t.revision + 1,
                voice_baseline=self._baseline_for(t.speaker, t.start_s, tid),
            )
            if (revised.negativity, revised.confidence) != (t.negativity, t.confidence):
                self._turns[tid] = revised
                out.append(revised)
        return out

    def _closed_end(self) -> float:
        """End of the last closed window (-inf when none is closed)."""
        if self._next_window == 0:
            return -math.inf
        return window_bounds(self._next_window - 1, self.config.escalation)[1]

    def _evaluated_end(self) -> float:
        """Turns starting before this are late: they would change a window or span already evaluated."""
        return max(self._closed_end(), self._rule_until)

    def _close_windows(self) -> list[ChainRecord]:
        if not math.isfinite(self._progress_s):
            return []
        watermark = self.watermark_s
        out = self._evaluate(last_window_ending_by(watermark, self.config.escalation), watermark, None)
        self._prune(watermark)
        return out

    def _evaluate(self, last_window: int, until_s: float, call_end_s: float | None) -> list[ChainRecord]:
        """Close hopping windows up to index `last_window` and evaluate the early-firing spans ending by
        `until_s`, merged in time order (a span ending exactly at a window's end comes after it)."""
        esc = self.config.escalation
        points: list[float] = []
        if esc.early_firing:
            points = sorted({t.end_s for tid, t in self._turns.items()
                             if t.speaker == CUSTOMER and tid not in self._late_turns
                             and self._rule_until < t.end_s <= until_s
                             and not is_window_end(t.end_s, esc)})
        out: list[ChainRecord] = []
        i = 0
        while self._next_window <= last_window:
            end = window_bounds(self._next_window, esc)[1]
            while i < len(points) and points[i] < end:
                out.extend(self._emit_point(points[i]))
                i += 1
            out.extend(self._emit_window(self._next_window, call_end_s))
            self._next_window += 1
        for t in points[i:]:
            out.extend(self._emit_point(t))
        return out

    def _emit_point(self, t: float) -> list[ChainRecord]:
        """Evaluate the rule on [t - window_s, t), t a customer turn's end; only an alert comes out (the
        span is not one of the hopping windows, so no WindowAggregate is published for it)."""
        self._rule_until = t
        esc = self.config.escalation
        customer = [x for tid, x in self._turns.items() if x.speaker == CUSTOMER and tid not in self._late_turns]
        window, turns = aggregate_span(self.call_id, max(0.0, round(t - esc.window_s, 6)), t, customer, esc)
        alert = observe_point(self._escalation, window, turns, esc)
        return [] if alert is None else [alert]

    def _emit_window(self, k: int, call_end_s: float | None) -> list[ChainRecord]:
        live = [t for tid, t in self._turns.items() if tid not in self._late_turns]
        window, customer = aggregate_window(self.call_id, k, live, self.config.escalation, call_end_s)
        alert = observe_window(self._escalation, window, customer, self.config.escalation)
        return [window] if alert is None else [window, alert]

    def _prune(self, watermark: float) -> None:
        """Fold turns and segments that no open window (nor early-firing span: those still to come end
        after the watermark) can see into the summary totals."""
        esc = self.config.escalation
        horizon = window_bounds(self._next_window, esc)[0]
        if esc.early_firing:
            horizon = min(horizon, watermark - esc.window_s)
        for tid in sorted(self._turns, key=lambda i: (self._turns[i].start_s, i)):
            t = self._turns[tid]
            if t.end_s <= horizon:
                self._totals.add(t, self.config.escalation.upset_threshold)
                del self._turns[tid]
                self._late_turns.discard(tid)
        for sid in [sid for sid, s in self._segments.items() if s.end_s <= horizon]:
            del self._segments[sid]

    def _check_turn(self, turn: SpeechTurn, emotion: EmotionResult | None) -> None:
        if turn.call_id != self.call_id:
            raise ChainInputError(f"turn {turn.turn_id!r} belongs to call {turn.call_id!r}, not {self.call_id!r}")
        if not turn.turn_id:
            raise ChainInputError("turn_id must be non-empty")
        if not (_finite(turn.start_s, turn.end_s) and 0 <= turn.start_s <= turn.end_s <= self.config.max_call_s):
            raise ChainInputError(f"turn {turn.turn_id!r}: need 0 <= start_s <= end_s <= {self.config.max_call_s}, "
                                  f"got {turn.start_s!r}..{turn.end_s!r}")
        if emotion is not None and not (_finite(emotion.upset) and 0.0 <= emotion.upset <= 1.0):
            raise ChainInputError(f"turn {turn.turn_id!r}: emotion upset must be in [0, 1], got {emotion.upset!r}")

    def _check_segment(self, seg: TranscriptSegment) -> None:
        if seg.call_id != self.call_id:
            raise ChainInputError(f"segment {seg.segment_id!r} belongs to call {seg.call_id!r}, not {self.call_id!r}")
        if not seg.segment_id:
            raise ChainInputError("segment_id must be non-empty")
        if not (_finite(seg.start_s, seg.end_s) and 0 <= seg.start_s <= seg.end_s <= self.config.max_call_s):
            raise ChainInputError(f"segment {seg.segment_id!r}: need 0 <= start_s <= end_s <= {self.config.max_call_s}")
        if not isinstance(seg.text, str):
            raise ChainInputError(f"segment {seg.segment_id!r}: text must be a string")

    # ---- checkpoints --------------------------------------------------------------------------------

    def state_bytes(self) -> bytes:
        """Everything needed to continue this call elsewhere (config and scorer are not state)."""
        state = {
            "version": STATE_VERSION,
            "call_id": self.call_id,
            "turns": [_flat(self._turns[t], _TURN_FIELDS) for t in sorted(self._turns)],
            "late_turns": sorted(self._late_turns),
            "seen_turns": self._pack_ids(self._seen_turns),
            "segments": [_flat(self._segments[s], _SEGMENT_FIELDS) for s in sorted(self._segments)],
            "seen_segments": self._pack_ids(self._seen_segments),
            "progress_s": self._progress_s if math.isfinite(self._progress_s) else None,
            "max_end_s": self._max_end_s,
            "next_window": self._next_window,
            "late": self._late,
            "escalation": self._escalation.to_dict(),
            "totals": asdict(self._totals),
            "ended": self._ended,
            "baseline": [[s, i, v] for s, i, v in self._baseline],
            "rule_until": self._rule_until if math.isfinite(self._rule_until) else None,
        }
        return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()

    def _pack_ids(self, ids: set[str]) -> list[str]:
        """Ids without the call-id prefix they all share (turn ids are f"{call_id}:{channel}:{index}"):
        the seen-id sets are the only state that grows with the call, so keep them small."""
        prefix = self.call_id + ":"
        return sorted("~" + i[len(prefix):] if i.startswith(prefix) else "=" + i for i in ids)

    def _unpack_ids(self, packed: list[str]) -> set[str]:
        prefix = self.call_id + ":"
        return {prefix + i[1:] if i.startswith("~") else i[1:] for i in packed}

    @classmethod
    def from_state_bytes(
        cls, data: bytes, config: ChainConfig | None = None, polarity: PolarityFn | None = None
    ) -> "CallChain":
        try:
            state = json.loads(data)
            if state.get("version") not in READABLE_STATE_VERSIONS:
                raise ChainInputError(f"unknown call-chain state version {state.get('version')!r}")
            chain = cls(state["call_id"], config, polarity)
            chain._turns = {d["turn_id"]: FusedTurn(**d) for d in state["turns"]}
            chain._late_turns = set(state["late_turns"])
            chain._seen_turns = chain._unpack_ids(state["seen_turns"])
            chain._segments = {d["segment_id"]: TranscriptSegment(**d) for d in state["segments"]}
            chain._seen_segments = chain._unpack_ids(state["seen_segments"])
            chain._progress_s = -math.inf if state["progress_s"] is None else float(state["progress_s"])
            chain._max_end_s = float(state["max_end_s"])
            chain._next_window = int(state["next_window"])
            chain._late = int(state["late"])
            chain._escalation = EscalationState.from_dict(state["escalation"])
            chain._totals = _Totals(**state["totals"])
            chain._ended = bool(state["ended"])
            chain._baseline = sorted((float(s), str(i), float(v)) for s, i, v in state.get("baseline", []))
            if state["version"] >= 3:
                chain._rule_until = -math.inf if state["rule_until"] is None else float(state["rule_until"])
            else:
                chain._rule_until = chain._closed_end()
        except ChainInputError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ChainInputError(f"corrupt call-chain state: {exc}") from exc
        return chain


def run_chain(
    call_id: str,
    events: list[tuple[SpeechTurn, EmotionResult | None] | TranscriptSegment],
    config: ChainConfig | None = None,
    polarity: PolarityFn | None = None,
    end_at_s: float | None = None,
) -> list[ChainRecord]:
    """Feed a whole list of events (turn pairs or segments) and end the call: the offline shortcut."""
    chain = CallChain(call_id, config, polarity)
    out: list[ChainRecord] = []
    for ev in events:
        if isinstance(ev, TranscriptSegment):
            out.extend(chain.add_transcript(ev))
        else:
            out.extend(chain.add_turn(*ev))
    out.extend(chain.end_call("ended", end_at_s))
    return out
