"""The audio front end of one call: frames in, speaker turns out, streaming.

Input: `AudioFrame`s of one call (any frame size, channels interleaved, possibly out of order).
Output: `SpeechTurn`s (16 kHz float32 audio, start/end in call time, speaker AGENT/CUSTOMER).

Per channel: sequencer (reorder within `reorder_window` frames, conceal lost frames with silence so
times stay right) -> decoder (PCM16 / mu-law / A-law) -> streaming resampler to 16 kHz ->
512-sample windows -> silero VAD -> denoiser -> speech gate (hysteresis + hangover) -> speaker
labels (stereo: the channel's role from `CallInfo.agent_channel`; mono: online speaker clustering,
see `processors/diarization`) -> turn assembler (speaker change, pause, `max_turn_s`).
Everything after the resampler runs on a fixed 512-sample grid, so the same audio gives the same
turns whatever the frame sizes. All per-call state is plain arrays: `state_bytes()` /
`from_state_bytes()` move a call between workers and the resumed front end continues exactly.

Bad input never raises anything but `FrameError`, and only for the frame at fault:
* odd PCM byte length, unknown encoding, unsupported or changed sample rate or encoding, wrong
  call id or channel: `FrameError`; the frame is discarded and its place in the sequence is later
  treated as a lost frame (silence of its duration), so later times stay right. A rate or
  encoding that changes mid-call is not followed: every frame at the new rate is refused (each a
  FrameError naming both rates) until the old one comes back; a platform that really switches
  must start a new call.
* missing seq numbers: frames wait up to `reorder_window` frames for the missing one, then the
  gap is declared, counted (`stats.gaps`, `stats.missing_frames`, `stats.concealed_s`) and filled
  with silence of the duration the capture timestamps say. Duplicates and frames arriving after
  their gap was declared are dropped and counted (`stats.dropped_late`).
* clipped audio (samples at the encoding's full scale) is kept as is and counted
  (`stats.clipped_frames`): VAD copes, emotion scores on it are less reliable.
* silence-only calls give no turns (`stats.speech_s == 0`); a call with no frames at all too.
Stereo overlap: a turn is marked `overlap=True` when the other channel had speech (VAD p >=
threshold) during it; turns are released once the other channel has been decoded past their end
(or lags by more than `max_channel_skew_s`), so the flag does not depend on frame interleaving.
Mono overlap: see `processors/diarization/__init__.py`.

Many calls at once: `push` is three phases, `prepare(frame)` (check, sequence, decode, resample,
queue 512-sample windows), `vad_jobs()` + `processors.vad.run_vad_jobs` (the VAD, which may run
the jobs of many calls as one batch) and `complete()` (gate, cut, release turns);
`processors/frontend_batch.py` runs them for many calls with one VAD batch per step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Iterator

import numpy as np

from processors.audio.decode import (
    SUPPORTED_RATES,
    DecodeError,
    bytes_per_sample,
    canonical_encoding,
    decode_payload,
    encode_samples,
    float_to_int16,
    full_scale_count,
)
from processors.audio.resample_stream import StreamResampler
from processors.audio.sequencing import Gap, Sequencer
from processors.audio.statepack import pack_state, unpack_state
from processors.denoise.base import Denoiser, make_denoiser
from processors.turns import RawTurn, SpeechGate, TurnAssembler
from processors.types import AGENT, CUSTOMER, SAMPLE_RATE, AudioFrame, CallInfo, SpeechTurn
from processors.vad import VAD_WINDOW, VadJob, VadState, run_vad_jobs

STATE_VERSION = 1


class FrameError(ValueError):
    """A bad frame (odd byte length, unknown encoding, rate change...). Only that frame is lost."""


@dataclass
class FrontEndConfig:
    denoiser: str = "off"
    """"off", "spectral_gate" or "dtln". Chosen by measurement (bench/bench_denoise.py, see
    processors/denoise/__init__.py): on held-out speakers the spectral gate lowered the emotion
    model's accuracy on noisy speech (0.266 -> 0.247, p = 0.035) and DTLN's +2.2 points were not
    significant (p = 0.07) at five times the stereo front end's CPU budget."""
    vad_threshold: float = 0.5
    """Silero speech probability that opens a speech region."""
    vad_neg_threshold: float | None = None
    """Probability below which a window counts as silence inside a region (None: threshold - 0.15)."""
    vad_energy_floor_dbfs: float = -60.0
    """Windows quieter than this (RMS) skip the VAD model: probability 0."""
    vad_noise_margin_db: float | None = 6.0
    """Windows within this many dB of the channel's tracked noise floor, after a non-speech window,
    skip the VAD model (probability 0; the model hears the last skipped window before sound
    resumes). None: off. On sample.flac split to stereo with cafe noise at -60/-50/-40 dBFS on the
    line it lowers DER 14.3/17.1/22.4% -> 10.4/12.8/18.5% (`python -m bench.der --stereo`) and the
    stereo front end's CPU by ~25%. Stereo calls only unless `vad_noise_gate_mono`."""
    vad_noise_gate_mono: bool = False
    """Mono calls: the gate measured worse there (DER on trn02 11.6% -> 86%: a lone soft speaker)."""
    hangover_s: float = 0.2
    """Silence that closes a region; turn-end latency is this + 32 ms + one frame."""
    pre_roll_s: float = 0.1
    """Audio kept before the first speech window (soft onsets)."""
    post_pad_s: float = 0.1
    """Audio kept after the last speech window (<= hangover_s)."""
    min_turn_s: float = 0.25
    """Shorter pieces are dropped and counted (coughs, clicks, VAD blips)."""
    max_turn_s: float = 10.0
    """Continuous speech is cut into turns of at most this length."""
    reorder_window: int = 8
    """Frames that may wait for a missing earlier frame before it is declared lost."""
    process_ms: float = 64.0
    """Decoded audio is resampled and run through the VAD in chunks of at least this much (fewer,
    larger numpy/ONNX calls); adds at most this to the latency."""
    max_channel_skew_s: float = 1.0
    """Stereo: release a turn without waiting for the other channel once it lags this much."""
    diarize_mono: bool = True
    """Mono calls: cluster voices (ONNX speaker embeddings). False: every turn is UNKNOWN."""
    diarization: dict = field(default_factory=dict)
    """Overrides of `processors.diarization.DiarizationConfig` fields (mono calls)."""


@dataclass
class FrontEndStats:
    frames: int = 0
    """Frames accepted (decoded or waiting to be)."""
    bytes: int = 0
    rejected_frames: int = 0
    """Frames refused with FrameError."""
    gaps: int = 0
    """Runs of missing frames declared lost."""
    missing_frames: int = 0
    concealed_s: float = 0.0
    """Silence inserted for lost frames."""
    reordered: int = 0
    """Frames that arrived after a later frame and were put back in order."""
    dropped_late: int = 0
    """Duplicates, and frames that came after their gap was declared."""
    clipped_frames: int = 0
    """Frames with samples at the encoding's full scale."""
    vad_windows_skipped: int = 0
    """32 ms windows the noise-floor gates answered without running the VAD model."""
    audio_s: float = 0.0
    """Longest channel decoded so far (call time)."""
    speech_s: float = 0.0
    """Total duration of emitted turns."""
    turns: int = 0
    short_turns_dropped: int = 0
    last_error: str = ""




class _Channel:
    """Everything one channel carries between frames."""

    def __init__(self, channel: int, config: FrontEndConfig):
        self.channel = channel
        self.sequencer = Sequencer(channel, config.reorder_window)
        self.encoding: str | None = None
        self.rate: int | None = None
        self.resampler: StreamResampler | None = None
        self.raw: list[np.ndarray] = []
        """Decoded samples at the source rate (one array per frame), waiting for `process_ms` worth."""
        self.raw_len = 0
        self.vad_queue = np.zeros((0, VAD_WINDOW), np.float32)
        """16 kHz windows waiting for the VAD (stereo: for the other side, to share one batch)."""
        self.buffer = np.zeros(0, np.float32)
        """16 kHz samples not yet making a whole VAD window."""
        self.vad = VadState()
        self.denoiser: Denoiser = make_denoiser(config.denoiser)
        self.denoise_skip = self.denoiser.latency
        """Leading denoiser output samples still to discard (its delay)."""
        self.denoised = np.zeros(0, np.float32)
        """Denoised samples waiting for their window's probability."""
        self.probs: list[float] = []
        """Probabilities of windows whose denoised audio is not complete yet."""
        self.gate = SpeechGate(config.vad_threshold, config.vad_neg_threshold, config.hangover_s,
                               config.pre_roll_s, config.post_pad_s)
        self.assembler = TurnAssembler(config.min_turn_s, config.max_turn_s)
        self.windows = 0
        """VAD windows processed (channel progress = windows * 512 samples)."""
        self.speech: list[list[int]] = []
        """Recent [start, end) sample ranges of windows with p >= threshold (stereo overlap)."""
        self.turn_index = 0

    def to_state(self) -> dict:
        return {
            "sequencer": self.sequencer.to_state(), "encoding": self.encoding, "rate": self.rate,
            "resampler": None if self.resampler is None else self.resampler.to_state(),
            "raw": float_to_int16(self.take_raw(keep=True)),  # decoded PCM16/G.711: exactly int16 values
            "vad_queue": self.vad_queue,
            "buffer": self.buffer, "vad": self.vad.to_state(), "denoiser": self.denoiser.to_state(),
            "denoise_skip": self.denoise_skip, "denoised": self.denoised, "probs": list(self.probs),
            "gate": self.gate.to_state(), "assembler": self.assembler.to_state(), "windows": self.windows,
            "speech": self.speech, "turn_index": self.turn_index,
        }

    def take_raw(self, keep: bool = False) -> np.ndarray:
        """The waiting decoded samples as one array (emptied unless `keep`)."""
        raw = self.raw[0] if len(self.raw) == 1 else (np.concatenate(self.raw) if self.raw else np.zeros(0, np.float32))
        if not keep:
            self.raw, self.raw_len = [], 0
        return raw

    def load_state(self, st: dict, call_id: str) -> None:
        self.sequencer.load_state(st["sequencer"], call_id)
        self.encoding, self.rate = st["encoding"], st["rate"]
        self.resampler = None if st["resampler"] is None else StreamResampler.from_state(st["resampler"])
        raw = np.asarray(st["raw"], np.int16).astype(np.float32) / 32768.0
        self.raw, self.raw_len = ([raw] if len(raw) else []), len(raw)
        self.vad_queue = np.asarray(st["vad_queue"], np.float32).reshape(-1, VAD_WINDOW)
        self.buffer = np.asarray(st["buffer"], np.float32)
        self.vad = VadState.from_state(st["vad"])
        self.denoiser.load_state(st["denoiser"])
        self.denoise_skip = int(st["denoise_skip"])
        self.denoised = np.asarray(st["denoised"], np.float32)
        self.probs = [float(p) for p in st["probs"]]
        self.gate.load_state(st["gate"])
        self.assembler.load_state(st["assembler"])
        self.windows = int(st["windows"])
        self.speech = [[int(a), int(b)] for a, b in st["speech"]]
        self.turn_index = int(st["turn_index"])


class _ConstantLabeler:
    """Stereo: every piece of speech of the channel has the channel's role."""

    def __init__(self, label: str):
        self.label = label

    def on_start(self, sample: int) -> None:
        pass

    def on_audio(self, audio: np.ndarray) -> list[tuple[np.ndarray, str]]:
        return [(audio, self.label)]

    def on_end(self, sample: int) -> list[tuple[np.ndarray, str]]:
        return []

    def role(self, label: str) -> str:
        return label

    pending_samples = 0

    def to_state(self) -> dict:
        return {}

    def load_state(self, st: dict) -> None:
        pass


class FrontEnd:
    """Streaming front end of one call. Not thread-safe: one call is handled by one task."""

    def __init__(self, call: CallInfo, config: FrontEndConfig | None = None):
        self.call = call
        self.config = config or FrontEndConfig()
        self._stats = FrontEndStats()
        n_channels = 2 if call.stereo else 1
        if call.stereo and call.agent_channel not in (0, 1):
            raise ValueError(f"agent_channel must be 0 or 1, got {call.agent_channel}")
        self._channels = [_Channel(c, self.config) for c in range(n_channels)]
        self._labelers = [self._make_labeler(c) for c in range(n_channels)]
        problem = getattr(getattr(self._labelers[0], "roles", None), "problem", "")
        if problem:
            self._stats.last_error = problem
        self._unreleased: list[tuple[int, RawTurn]] = []
        self._jobs: list[VadJob] = []
        """VAD jobs handed out by vad_jobs() and not completed yet (empty between frames)."""
        self._flushed = False
        self.last_labels: dict[str, str] = {}
        """turn_id -> speaker label (mono: the cluster, "spk0".."spkN"; stereo: the role) of the
        turns returned by the latest push/flush (DER scoring and `callpulse diarize` read it)."""

    @property
    def stats(self) -> FrontEndStats:
        """Counters of this call so far (see FrontEndStats)."""
        self._sync_sequencer_stats()
        self._stats.short_turns_dropped = sum(c.assembler.dropped_short for c in self._channels)
        self._stats.vad_windows_skipped = sum(c.vad.skipped for c in self._channels)
        return self._stats

    def _make_labeler(self, channel: int):
        if self.call.stereo:
            return _ConstantLabeler(AGENT if channel == self.call.agent_channel else CUSTOMER)
        if not self.config.diarize_mono:
            from processors.types import UNKNOWN

            return _ConstantLabeler(UNKNOWN)
        from processors.diarization import SpeakerLabeler

        return SpeakerLabeler(self.call, self.config.diarization)

    # ------------------------------------------------------------------ frames in
    def push(self, frame: AudioFrame) -> list[SpeechTurn]:
        """Take one frame; return the turns that ended. FrameError only for this frame's fault.

        The same as `prepare(frame)`, `run_vad_jobs(vad_jobs())`, `complete()`: `FrontEndBatch`
        runs those phases for many calls at once, sharing one VAD batch."""
        self.prepare(frame)
        run_vad_jobs(self.vad_jobs())
        return self.complete()

    def prepare(self, frame: AudioFrame) -> bool:
        """Phase 1: check, sequence, decode and resample the frame; its 512-sample windows wait for
        the VAD. FrameError only for this frame's fault (nothing changed then). Returns False when
        the sequencer refused the frame (a duplicate, or later than its declared gap: not new audio)."""
        self._check_frame(frame)
        ch = self._channels[frame.channel]
        self._stats.frames += 1
        self._stats.bytes += len(frame.payload)
        dropped = ch.sequencer.dropped_late
        for item in ch.sequencer.push(frame):
            self._consume(ch, item)
        return ch.sequencer.dropped_late == dropped

    def vad_jobs(self, final: bool = False) -> list[VadJob]:
        """Phase 2: take the windows due for the VAD off the queues, as jobs for `run_vad_jobs`
        (which may run them with other calls' jobs). Stereo: both sides advance together; a side
        that runs ahead waits (up to max_channel_skew_s) for the other, then goes alone.
        `complete()` must follow before the next frame (state_bytes() in between would miss them)."""
        if self._jobs:
            raise RuntimeError(f"call {self.call.call_id}: vad_jobs() again before complete()")
        chans = self._channels
        floor, margin = self.config.vad_energy_floor_dbfs, self.config.vad_noise_margin_db
        if not (self.call.stereo or self.config.vad_noise_gate_mono):
            margin = None
        lag = int(self.config.max_channel_skew_s * SAMPLE_RATE / VAD_WINDOW)
        n = min(len(c.vad_queue) for c in chans)
        for c in chans:
            queued = len(c.vad_queue)
            take = queued if (final or len(chans) == 1 or queued - n > lag) else n
            if take:
                windows, c.vad_queue = c.vad_queue[:take], c.vad_queue[take:]
                self._jobs.append(VadJob(windows, c.vad, floor, margin, channel=c.channel))
        return list(self._jobs)

    def complete(self) -> list[SpeechTurn]:
        """Phase 3 (after `run_vad_jobs` on the jobs of `vad_jobs()`): gate, cut and release turns."""
        return self._release(self._after_jobs(), final=False)

    def _settle_jobs(self) -> list[tuple[int, RawTurn]]:
        """Jobs handed out and not completed (a batch cut short): finish them if they ran, else put
        their windows back at the front of the queues (the VAD state has not moved)."""
        if not self._jobs:
            return []
        if all(job.probs is not None for job in self._jobs):
            return self._after_jobs()
        for job in self._jobs:
            ch = self._channels[job.channel]
            ch.vad_queue = np.concatenate([job.windows, ch.vad_queue]) if len(ch.vad_queue) else job.windows
        self._jobs = []
        return []

    def _after_jobs(self) -> list[tuple[int, RawTurn]]:
        jobs, self._jobs = self._jobs, []
        raw: list[tuple[int, RawTurn]] = []
        for job in jobs:
            if job.probs is None:
                raise RuntimeError(f"call {self.call.call_id}: complete() before run_vad_jobs()")
            raw.extend(self._after_vad(self._channels[job.channel], job.windows, job.probs))
        return raw

    def _check_frame(self, frame: AudioFrame) -> None:
        try:
            if self._flushed:
                raise FrameError(f"call {self.call.call_id} was already flushed (ended)")
            if frame.call_id != self.call.call_id:
                raise FrameError(f"frame of call {frame.call_id!r} sent to the front end of {self.call.call_id!r}")
            if not 0 <= frame.channel < len(self._channels):
                kind = "stereo" if self.call.stereo else "mono"
                raise FrameError(f"channel {frame.channel} does not exist in {kind} call {self.call.call_id}")
            if frame.seq < 0:
                raise FrameError(f"negative seq {frame.seq}")
            try:
                enc = canonical_encoding(frame.encoding)
            except DecodeError as exc:
                raise FrameError(str(exc)) from None
            if frame.sample_rate not in SUPPORTED_RATES:
                raise FrameError(f"unsupported sample rate {frame.sample_rate} Hz; expected one of {SUPPORTED_RATES}")
            ch = self._channels[frame.channel]
            if ch.rate is not None and frame.sample_rate != ch.rate:
                raise FrameError(f"sample rate changed mid-call on channel {frame.channel}: "
                                 f"{ch.rate} -> {frame.sample_rate} Hz (frame seq {frame.seq} rejected)")
            if ch.encoding is not None and enc != ch.encoding:
                raise FrameError(f"encoding changed mid-call on channel {frame.channel}: "
                                 f"{ch.encoding} -> {enc} (frame seq {frame.seq} rejected)")
            if len(frame.payload) % bytes_per_sample(enc):
                raise FrameError(f"{enc} payload has an odd byte length ({len(frame.payload)}), "
                                 f"frame seq {frame.seq} of channel {frame.channel}")
            if ch.encoding is None:
                ch.encoding, ch.rate = enc, frame.sample_rate
                ch.resampler = StreamResampler(frame.sample_rate)
        except FrameError as exc:
            self._stats.rejected_frames += 1
            self._stats.last_error = str(exc)
            raise

    def _consume(self, ch: _Channel, item: AudioFrame | Gap) -> None:
        assert ch.resampler is not None and ch.rate is not None and ch.encoding is not None
        if isinstance(item, Gap):
            n = int(round(item.duration_ms * ch.rate / 1000.0))
            self._stats.concealed_s += n / ch.rate
            samples = np.zeros(n, np.float32)
        else:
            samples = decode_payload(item.payload, ch.encoding)
            ch.sequencer.note_released(item, 1000.0 * len(samples) / ch.rate)
            if len(samples) and full_scale_count(item.payload, ch.encoding) >= max(2, len(samples) // 200):
                self._stats.clipped_frames += 1
        ch.raw.append(samples)
        ch.raw_len += len(samples)
        if ch.raw_len * 1000.0 >= self.config.process_ms * ch.rate:
            self._feed(ch, ch.resampler.process(ch.take_raw()))

    def _feed(self, ch: _Channel, samples16: np.ndarray, final: bool = False) -> None:
        """Cut 16 kHz audio into VAD windows (the last one zero-padded at the end of the call)."""
        buf = np.concatenate([ch.buffer, samples16]) if len(ch.buffer) else samples16
        if final and len(buf) % VAD_WINDOW:
            buf = np.concatenate([buf, np.zeros(VAD_WINDOW - len(buf) % VAD_WINDOW, np.float32)])
        n = len(buf) // VAD_WINDOW
        ch.buffer = buf[n * VAD_WINDOW:].copy()
        if n:
            windows = buf[: n * VAD_WINDOW].reshape(n, VAD_WINDOW)
            ch.vad_queue = np.concatenate([ch.vad_queue, windows]) if len(ch.vad_queue) else windows.copy()

    def _after_vad(self, ch: _Channel, windows: np.ndarray, probs: np.ndarray) -> list[tuple[int, RawTurn]]:
        plist = probs.tolist()
        self._note_speech(ch, plist)
        out = ch.denoiser.process(windows, probs)
        return self._gate(ch, out, plist)

    def _gate(self, ch: _Channel, denoised: np.ndarray, probs: list[float]) -> list[tuple[int, RawTurn]]:
        if ch.denoise_skip:
            drop = min(ch.denoise_skip, len(denoised))
            denoised, ch.denoise_skip = denoised[drop:], ch.denoise_skip - drop
        ch.denoised = np.concatenate([ch.denoised, denoised]) if len(ch.denoised) else denoised
        ch.probs.extend(probs)
        ready = min(len(ch.probs), len(ch.denoised) // VAD_WINDOW)
        raw: list[tuple[int, RawTurn]] = []
        if ready:
            labeler = self._labelers[ch.channel]
            # stereo (constant labels): the gate's audio comes in runs, fewer assembler calls
            events = ch.gate.push_many(ch.denoised[:ready * VAD_WINDOW], ch.probs[:ready],
                                       merge=isinstance(labeler, _ConstantLabeler))
            raw = self._apply_events(ch, labeler, events)
            ch.denoised = ch.denoised[ready * VAD_WINDOW:].copy()
            del ch.probs[:ready]
            ch.windows += ready
        self._stats.audio_s = max(self._stats.audio_s, ch.windows * VAD_WINDOW / SAMPLE_RATE)
        return raw

    def _apply_events(self, ch: _Channel, labeler, events) -> list[tuple[int, RawTurn]]:
        raw: list[RawTurn] = []
        for kind, value in events:
            if kind == "start":
                labeler.on_start(value)
                ch.assembler.open(value)
            elif kind == "audio":
                for audio, label in labeler.on_audio(value):
                    raw.extend(ch.assembler.add(audio, label))
            else:
                for audio, label in labeler.on_end(value):
                    raw.extend(ch.assembler.add(audio, label))
                raw.extend(ch.assembler.close())
        return [(ch.channel, t) for t in raw]

    def _note_speech(self, ch: _Channel, probs: list[float]) -> None:
        if len(self._channels) < 2:
            return
        threshold = float(np.float32(self.config.vad_threshold))  # compared as float32, as the probabilities are
        base = (ch.windows + len(ch.probs)) * VAD_WINDOW  # first sample of these windows
        speech = ch.speech
        for i, p in enumerate(probs):
            if p >= threshold:
                s = base + i * VAD_WINDOW
                if speech and speech[-1][1] == s:
                    speech[-1][1] = s + VAD_WINDOW
                else:
                    speech.append([s, s + VAD_WINDOW])
        horizon = base - 120 * SAMPLE_RATE  # nothing older can overlap a turn still pending
        while speech and speech[0][1] < horizon:
            speech.pop(0)

    # ------------------------------------------------------------------ turns out
    def _release(self, raw: list[tuple[int, RawTurn]], final: bool) -> list[SpeechTurn]:
        self._unreleased.extend(raw)
        if not self._unreleased:
            self.last_labels = {}
            return []
        progress = [c.windows * VAD_WINDOW for c in self._channels]
        skew = int(self.config.max_channel_skew_s * SAMPLE_RATE)
        keep: list[tuple[int, RawTurn]] = []
        ready: list[tuple[int, RawTurn]] = []
        for channel, turn in self._unreleased:
            others = [p for c, p in enumerate(progress) if c != channel]
            if final or all(p >= turn.end or progress[channel] - p > skew for p in others):
                ready.append((channel, turn))
            else:
                keep.append((channel, turn))
        self._unreleased = keep
        ready.sort(key=lambda ct: (ct[1].start, ct[0]))
        out = [self._to_speech_turn(channel, turn) for channel, turn in ready]
        return out

    def _to_speech_turn(self, channel: int, turn: RawTurn) -> SpeechTurn:
        ch = self._channels[channel]
        overlap = turn.overlap
        for c, other in enumerate(self._channels):
            if c != channel and any(s < turn.end and e > turn.start for s, e in other.speech):
                overlap = True
        turn_id = f"{self.call.call_id}:{channel}:{ch.turn_index:05d}"
        ch.turn_index += 1
        self._stats.turns += 1
        self._stats.speech_s += (turn.end - turn.start) / SAMPLE_RATE
        labeler = self._labelers[channel]
        self.last_labels[turn_id] = turn.label
        return SpeechTurn(
            call_id=self.call.call_id, turn_id=turn_id, speaker=labeler.role(turn.label), channel=channel,
            start_s=turn.start / SAMPLE_RATE, end_s=turn.end / SAMPLE_RATE,
            audio=turn.audio.astype(np.float32) / 32768.0, overlap=overlap,
        )

    def speaker_segments(self) -> list[tuple[float, float, str]]:
        """Mono calls: (start_s, end_s, cluster label) of the emitted speech still in the speaker
        clusterer's memory, labelled by its latest clustering (`SpeakerLabeler.current_segments`;
        `processors.diarization.relabel_turns` lays them over the emitted turns). Stereo: []."""
        segments = getattr(self._labelers[0], "current_segments", None)
        if self.call.stereo or segments is None:
            return []
        return [(a / SAMPLE_RATE, b / SAMPLE_RATE, label) for a, b, label in segments()]

    def role_of(self, label: str, channel: int = 0) -> str:
        """The role (agent / customer) the front end gives a speaker label now."""
        return self._labelers[channel].role(label)

    def flush(self) -> list[SpeechTurn]:
        """The call ended: declare missing frames lost, decode the tail, emit the last turns."""
        if self._flushed:
            return []
        for ch in self._channels:
            if ch.resampler is None:
                continue
            for item in ch.sequencer.flush():
                self._consume(ch, item)
            head = ch.resampler.process(ch.take_raw())
            self._feed(ch, np.concatenate([head, ch.resampler.flush()]), final=True)
        raw = self._settle_jobs()
        run_vad_jobs(self.vad_jobs(final=True))
        raw.extend(self._after_jobs())
        for ch in self._channels:
            if ch.resampler is None:
                continue
            rest = ch.denoiser.flush()
            raw.extend(self._gate(ch, rest, []))
            labeler = self._labelers[ch.channel]
            raw.extend(self._apply_events(ch, labeler, ch.gate.flush()))
            raw.extend((ch.channel, t) for t in ch.assembler.close())
        self._flushed = True
        self.last_labels = {}
        return self._release(raw, final=True)

    def _sync_sequencer_stats(self) -> None:
        seqs = [c.sequencer for c in self._channels]
        self._stats.gaps = sum(s.gaps for s in seqs)
        self._stats.missing_frames = sum(s.missing_frames for s in seqs)
        self._stats.reordered = sum(s.reordered for s in seqs)
        self._stats.dropped_late = sum(s.dropped_late for s in seqs)

    @property
    def pending_audio_s(self) -> float:
        """Audio held for turns not emitted yet (snapshot state when this is small)."""
        samples = sum(len(t.audio) for _, t in self._unreleased)
        for ch, labeler in zip(self._channels, self._labelers):
            samples += ch.assembler.pending_samples + ch.gate.pending_samples + labeler.pending_samples
            samples += len(ch.vad_queue) * VAD_WINDOW
        return samples / SAMPLE_RATE

    # ------------------------------------------------------------------ state
    def state_bytes(self) -> bytes:
        if self._jobs:
            raise RuntimeError(f"call {self.call.call_id}: state_bytes() between vad_jobs() and complete()")
        return pack_state({
            "version": STATE_VERSION,
            "call": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.call).items()},
            "config": asdict(self.config),
            "stats": asdict(self.stats),
            "channels": [c.to_state() for c in self._channels],
            "labelers": [lab.to_state() for lab in self._labelers],
            "unreleased": [[c, t.start, t.end, t.audio, t.label, t.overlap] for c, t in self._unreleased],
            "flushed": self._flushed,
        })

    @classmethod
    def from_state_bytes(cls, data: bytes, config: FrontEndConfig | None = None) -> "FrontEnd":
        """Resume a call; `config` defaults to the one saved with the state."""
        st = unpack_state(data)
        if not isinstance(st, dict) or st.get("version") != STATE_VERSION:
            raise ValueError("front-end state of an unknown version")
        call_d = dict(st["call"])
        if call_d.get("agent_voiceprint") is not None:
            call_d["agent_voiceprint"] = tuple(float(v) for v in call_d["agent_voiceprint"])
        call = CallInfo(**call_d)
        saved = FrontEndConfig(**{k: v for k, v in st["config"].items() if k in {f.name for f in fields(FrontEndConfig)}})
        if config is None:
            config = saved
        elif config.denoiser != saved.denoiser:
            raise ValueError(f"state was written with denoiser {saved.denoiser!r}; cannot resume it with "
                             f"{config.denoiser!r} (its per-call state would not match)")
        fe = cls(call, config)
        fe._stats = FrontEndStats(**{k: v for k, v in st["stats"].items() if k in {f.name for f in fields(FrontEndStats)}})
        for ch, cst in zip(fe._channels, st["channels"]):
            ch.load_state(cst, call.call_id)
        for lab, lst in zip(fe._labelers, st["labelers"]):
            lab.load_state(lst)
        fe._unreleased = [(int(c), RawTurn(int(s), int(e), np.asarray(a, np.int16), str(lab), bool(o)))
                          for c, s, e, a, lab, o in st["unreleased"]]
        fe._flushed = bool(st["flushed"])
        return fe


def frames_from_clip(call_id: str, samples_by_channel: np.ndarray, frame_ms: float = 20,
                     encoding: str = "pcm_s16le", sample_rate: int = 16000) -> Iterator[AudioFrame]:
    """Cut 16 kHz float32 audio (channels, n) or (n,) into frames, channels interleaved in time order.

    Audio is resampled to `sample_rate` (soxr) and encoded as `encoding`; seq and capture_ts_ms
    count from 0 per channel. Used by replay, offline analysis, benches and tests.
    """
    from processors.audio.io import resample

    x = np.asarray(samples_by_channel, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if sample_rate != SAMPLE_RATE:
        x = np.stack([resample(c, SAMPLE_RATE, sample_rate) for c in x])
    per_frame = max(1, int(round(frame_ms * sample_rate / 1000.0)))
    n_frames = math.ceil(x.shape[1] / per_frame)
    for seq in range(n_frames):
        for channel in range(x.shape[0]):
            chunk = x[channel, seq * per_frame:(seq + 1) * per_frame]
            yield AudioFrame(call_id=call_id, channel=channel, seq=seq,
                             capture_ts_ms=int(round(seq * per_frame * 1000 / sample_rate)),
                             sample_rate=sample_rate, encoding=encoding, payload=encode_samples(chunk, encoding))
