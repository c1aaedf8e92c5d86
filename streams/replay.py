"""Publish recordings as a contact-center platform would: call started, audio frames at (a multiple
of) real time, transcript segments as they end, call ended. Many calls at once, one scheduler loop.

Input: `ReplayCall`s (16 kHz float32 audio, stereo with the customer on a channel, or mono).
Output: events on `<prefix>audio` and `<prefix>transcripts`; `ReplayResult` with the wall-clock time
each frame tick of each call was handed to the producer (the bench measures latency from it).
Used by `callpulse replay`, `callpulse demo`, the end-to-end tests and bench/bench_pipeline.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from processors.text.transcripts import load_transcript_json
from processors.types import SAMPLE_RATE, CallInfo, TranscriptSegment
from schemas.codec import encode
from streams.config import Settings
from streams.records import call_ended_record, call_started_record, to_record
from streams.topics import bootstrap_of, ensure_topics, partition_of

log = logging.getLogger(__name__)


@dataclass
class ReplayCall:
    call_id: str
    samples: np.ndarray
    """(channels, n) float32 at 16 kHz; mono calls have one channel."""
    stereo: bool
    customer_channel: int = 1
    agent_id: str = ""
    queue: str = ""
    transcript: list[TranscriptSegment] = field(default_factory=list)
    send_end: bool = True
    """False: the call never ends (the worker's idle timeout must close it)."""
    start_delay_s: float = 0.0
    per_channel_frames: bool = False
    """Stereo calls: one event per channel and time step (audio_frame v1 style) instead of one event
    with both channels interleaved (v2 `channels` = 2, as Genesys AudioHook sends them)."""
    shuffle_frames: int = 0
    """> 1: publish the frames out of order, shuffled within consecutive blocks of this many (a
    network that reorders packets). A frame then arrives at most `shuffle_frames - 1` places early or
    late, inside the front end's reorder window as long as that is <= `reorder_window`."""
    shuffle_seed: int = 0

    @property
    def duration_s(self) -> float:
        return self.samples.shape[-1] / 16_000.0

    @property
    def info(self) -> CallInfo:
        return CallInfo(self.call_id, self.stereo, agent_channel=(1 - self.customer_channel) if self.stereo else 0,
                        agent_id=self.agent_id, queue=self.queue)


def load_call(path: str | Path, call_id: str | None = None, *, stereo: bool | None = None,
              customer_channel: int = 1, transcript: str | Path | None = None, with_transcript: bool = True,
              **kw) -> ReplayCall:
    """A recording as a call: stereo when it has 2 channels (unless `stereo=False`: downmixed to mono).
    A transcript JSON next to it (`<name>.transcript.json`, the `callpulse analyze --transcript` format)
    is replayed too, unless `with_transcript=False` (a platform without ASR)."""
    from processors.audio.io import load_audio

    path = Path(path)
    clip = load_audio(path, keep_channels=True)
    x = clip.samples
    if stereo is None:
        stereo = x.shape[0] == 2
    if stereo and x.shape[0] != 2:
        raise ValueError(f"{path}: stereo replay needs 2 channels, the file has {x.shape[0]}")
    if not stereo and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    call_id = call_id or path.stem
    tpath = Path(transcript) if transcript else path.with_name(path.name.split(".")[0] + ".transcript.json")
    segments = load_transcript_json(tpath, call_id) if with_transcript and tpath.exists() else []
    return ReplayCall(call_id, np.ascontiguousarray(x, dtype=np.float32), stereo, customer_channel,
                      transcript=segments, **kw)


@dataclass
class ReplayResult:
    frame_s: float
    publish_wall: dict[str, np.ndarray]
    """call id -> time.time() at which frame seq k (every channel) was handed to the producer."""
    frames_sent: int = 0
    audio_s: float = 0.0
    """Seconds of audio replayed, channels counted separately."""
    wall_s: float = 0.0

    def publish_time(self, call_id: str, t: float) -> float:
        """Wall time the audio at event time t of a call was published (the frame that contains it)."""
        arr = self.publish_wall[call_id]
        k = min(len(arr) - 1, max(0, int(np.ceil(t / self.frame_s)) - 1))
        return float(arr[k])


def bounded_shuffle(n: int, block: int, seed: int = 0) -> np.ndarray:
    """0..n-1 shuffled within consecutive blocks of `block` (each block a random permutation of
    itself): an element moves at most block - 1 places. block <= 1: in order."""
    order = np.arange(n)
    if block > 1:
        rng = np.random.default_rng(seed)
        for a in range(0, n, block):
            order[a:a + block] = rng.permutation(order[a:a + block])
    return order


class _CallCursor:
    def __init__(self, call: ReplayCall, frame_ms: float):
        from processors.audio.decode import float_to_int16

        self.call = call
        self.channels = call.samples.shape[0]
        self.per_frame = int(round(frame_ms * 16))
        self.n_ticks = int(np.ceil(call.samples.shape[1] / self.per_frame))
        # PCM16 once per call (what `frames_from_clip` encodes frame by frame, sample for sample), in
        # time-major order too when both channels go into one event: a tick is then one slice.
        self.pcm = float_to_int16(call.samples).astype("<i2")
        self.interleave = self.channels > 1 and not call.per_channel_frames
        self.pcm_by_time = np.ascontiguousarray(self.pcm.T) if self.interleave else None
        self.tick = 0
        self.segments = sorted(call.transcript, key=lambda s: s.end_s)
        self.seg_i = 0
        self.started = False
        self.done = False
        self.wall = np.zeros(self.n_ticks)
        self.partition: int | None = None
        self.seq_of_tick = bounded_shuffle(self.n_ticks, call.shuffle_frames, call.shuffle_seed)

    def frame_records(self) -> list[dict]:
        """The audio_frame records of the current tick: one with every channel interleaved (v2), or
        one per channel. Identical to `frames_from_clip` + `interleaved_record` / `frame_to_record`."""
        seq = int(self.seq_of_tick[self.tick])
        a, b = seq * self.per_frame, min((seq + 1) * self.per_frame, self.pcm.shape[1])
        base = {"call_id": self.call.call_id, "channel": 0, "seq": seq,
                "capture_ts_ms": round(seq * self.per_frame * 1000 / SAMPLE_RATE),
                "sample_rate": SAMPLE_RATE, "encoding": "pcm_s16le"}
        if self.interleave:
            return [{**base, "payload": self.pcm_by_time[a:b].tobytes(), "channels": self.channels}]
        return [{**base, "channel": c, "payload": self.pcm[c, a:b].tobytes(), "channels": 1}
                for c in range(self.channels)]


async def replay(settings: Settings, calls: list[ReplayCall], *, speed: float = 1.0, frame_ms: float = 20,
                 on_progress: Callable[[int, int], None] | None = None, create_topics: bool = True,
                 producer_kw: dict | None = None) -> ReplayResult:
    """Publish all calls concurrently. speed 1 = real time, N = N x faster, 0 = as fast as possible."""
    from aiokafka import AIOKafkaProducer

    if create_topics:
        await ensure_topics(settings)
    topic_audio, topic_tr = settings.topic("audio"), settings.topic("transcripts")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_of(settings.broker_url), linger_ms=2,
                                max_batch_size=256 * 1024, acks=1, **(producer_kw or {}))
    await producer.start()
    frame_s = frame_ms / 1000.0
    cursors = [_CallCursor(c, frame_ms) for c in calls]
    result = ReplayResult(frame_s, {c.call_id: cur.wall for c, cur in zip(calls, cursors)})
    t0 = time.monotonic()
    wall0 = time.time()
    tick = 0
    try:
        while not all(c.done for c in cursors):
            target = t0 + tick * frame_s / speed if speed > 0 else 0.0
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            futures = []
            now_wall = time.time()
            for cur in cursors:
                if cur.done:
                    continue
                call = cur.call
                local = tick - int(round(call.start_delay_s / frame_s))
                if local < 0:
                    continue
                key = call.call_id.encode()
                if not cur.started:
                    cur.started = True
                    # the default partitioner's choice, computed once per call instead of per event
                    cur.partition = partition_of(key, len(await producer.partitions_for(topic_audio)))
                    rec = call_started_record(call.info, int(now_wall * 1000))
                    futures.append(await producer.send(topic_audio, encode("call_event", rec), key=key,
                                                       partition=cur.partition))
                if cur.tick < cur.n_ticks:
                    for rec in cur.frame_records():
                        futures.append(await producer.send(topic_audio, encode("audio_frame", rec), key=key,
                                                           partition=cur.partition))
                        result.frames_sent += 1
                        result.audio_s += len(rec["payload"]) / 2 / SAMPLE_RATE
                if cur.tick < cur.n_ticks:
                    cur.wall[cur.tick] = time.time()
                cur.tick += 1
                t_call = cur.tick * frame_s
                while cur.seg_i < len(cur.segments) and cur.segments[cur.seg_i].end_s <= t_call:
                    seg = cur.segments[cur.seg_i]
                    futures.append(await producer.send(topic_tr, encode("transcript_segment", to_record(seg)), key=key))
                    cur.seg_i += 1
                if cur.tick >= cur.n_ticks:
                    while cur.seg_i < len(cur.segments):
                        seg = cur.segments[cur.seg_i]
                        futures.append(await producer.send(topic_tr, encode("transcript_segment", to_record(seg)), key=key))
                        cur.seg_i += 1
                    if call.send_end:
                        rec = call_ended_record(call.call_id, int(time.time() * 1000), "hangup")
                        futures.append(await producer.send(topic_audio, encode("call_event", rec), key=key))
                    cur.done = True
            if futures and (speed > 0 or tick % 50 == 0):
                await asyncio.gather(*futures)
            tick += 1
            if on_progress is not None and tick % 50 == 0:
                on_progress(sum(c.tick for c in cursors), sum(c.n_ticks for c in cursors))
        await producer.flush()
    finally:
        await producer.stop()
    result.wall_s = time.time() - wall0
    return result
