"""Typed records that cross stage boundaries.

Every stage of callpulse (front end -> emotion scoring -> fusion -> windows/escalation -> sinks)
hands one of these to the next. Times are *event time*: seconds since the start of the call,
derived from the number of audio samples decoded, never from wall clocks, so the same call gives
the same records whatever the frame sizes or the arrival order.

Fields are part of the public contract (Avro schemas in `schemas/` mirror them): add new fields
with a default, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16_000
"""Every processor works on 16 kHz mono float32 in [-1, 1]."""

AGENT = "agent"
CUSTOMER = "customer"
UNKNOWN = "unknown"

EMOTION_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
"""The one label set of the emotion model, in the order of its output vector."""

NEGATIVE_EMOTIONS: frozenset[str] = frozenset({"angry", "disgust", "fear", "sad"})
"""Classes whose probability mass counts as `upset` (the seeds' mapping)."""


@dataclass(frozen=True)
class CallInfo:
    """What the platform tells us when a call starts (the call-started lifecycle event)."""

    call_id: str
    stereo: bool
    agent_channel: int = 0
    """Stereo calls: the channel carrying the agent; the other one carries the customer."""
    agent_id: str = ""
    queue: str = ""
    language: str = "en"
    agent_voiceprint: tuple[float, ...] | None = None
    """Mono calls: the agent's enrolled speaker embedding, if the platform has one."""


@dataclass(frozen=True)
class AudioFrame:
    """One chunk of one channel of a call, as the platform publishes it."""

    call_id: str
    channel: int
    seq: int
    """Per (call, channel) sequence number, starting at 0 and increasing by 1."""
    capture_ts_ms: int
    sample_rate: int
    encoding: str
    """"pcm_s16le", "mulaw" or "alaw"."""
    payload: bytes


@dataclass(eq=False)
class SpeechTurn:
    """A stretch of one speaker's speech, cut by the front end, ready to be scored."""

    call_id: str
    turn_id: str
    """Deterministic: f"{call_id}:{channel}:{index:05d}", index counting turns per channel."""
    speaker: str
    """AGENT, CUSTOMER or UNKNOWN."""
    channel: int
    start_s: float
    end_s: float
    audio: np.ndarray = field(repr=False)
    """16 kHz mono float32 (after the front end's denoiser)."""
    overlap: bool = False
    """True when another speaker was active during part of this turn."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class EmotionResult:
    """The emotion model's verdict on one turn."""

    probs: dict[str, float]
    """Probability per EMOTION_LABELS entry; sums to 1."""
    upset: float
    """Probability that the speaker is upset (see models/emotion/MODEL_CARD.md for the mapping)."""
    label: str
    """argmax of probs."""
    model_version: str


@dataclass(frozen=True)
class TranscriptSegment:
    """One ASR segment, from the platform's ASR or the optional built-in transcriber."""

    call_id: str
    segment_id: str
    speaker: str
    """AGENT or CUSTOMER (platforms transcribe per channel)."""
    start_s: float
    end_s: float
    text: str
    is_final: bool = True


@dataclass(frozen=True)
class FusedTurn:
    """A turn's negativity from voice and words. A later revision replaces an earlier one."""

    call_id: str
    turn_id: str
    speaker: str
    start_s: float
    end_s: float
    negativity: float
    """In [0, 1]."""
    confidence: float
    """In [0, 1]; low when one modality is missing or the two disagree."""
    voice_upset: float | None
    """None when the voice was not scored (agent side with emotion scoring off)."""
    polarity: float | None
    """Transcript polarity in [-1, 1] of the words overlapping the turn; None when no words yet."""
    emotion_label: str | None
    text: str
    revision: int = 0


@dataclass(frozen=True)
class WindowAggregate:
    """Event-time hopping window over one call (default 30 s size, 5 s step)."""

    call_id: str
    window_start_s: float
    window_end_s: float
    customer_turns: int
    customer_speech_s: float
    mean_negativity: float
    max_negativity: float
    upset_share: float
    """Share of customer speech time in turns whose negativity is above the upset threshold."""
    agent_speech_s: float
    talk_ratio: float
    """Agent speech time / (agent + customer speech time); 0 when nobody spoke."""
    interruptions: int
    """Turns that started while the other party was still speaking."""
    longest_silence_s: float
    upset: bool
    """The window meets the sustained-upset share threshold."""


@dataclass(frozen=True)
class AlertEvidence:
    turn_id: str
    start_s: float
    end_s: float
    negativity: float
    text: str


@dataclass(frozen=True)
class Alert:
    """One sustained-upset episode of one call (hysteresis: one alert per episode)."""

    call_id: str
    alert_id: str
    """Deterministic: f"{call_id}:episode:{episode}"."""
    episode: int
    at_s: float
    """Event time the rule fired: the end of the window that completed the condition."""
    severity: str
    """"medium", "high" or "critical"."""
    score: float
    windows: int
    """Consecutive upset windows at firing time."""
    evidence: tuple[AlertEvidence, ...]


@dataclass(frozen=True)
class CallSummary:
    """Written when a call ends (or is closed after an idle timeout)."""

    call_id: str
    duration_s: float
    customer_turns: int
    agent_turns: int
    customer_speech_s: float
    agent_speech_s: float
    mean_negativity: float
    max_negativity: float
    upset_share: float
    alerts: int
    late_events_dropped: int
    end_reason: str
    """"ended" (lifecycle event) or "idle_timeout"."""
