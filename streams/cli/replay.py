"""`callpulse replay FILE...`: publish recordings as live calls (audio frames, call events, transcripts).

Stereo files are replayed as stereo calls (customer on `--customer-channel`), others as mono; `--mono`
downmixes stereo files. `--speed 1` is real time, `--speed 10` ten times faster, `--speed 0` as fast
as the broker takes it; stereo frames carry both channels interleaved in one event unless
`--per-channel-frames`; `--shuffle-frames N` publishes the frames out of order within blocks of N;
`--copies N` replays every file N times at once (distinct call ids).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

HELP = "Publish recordings as audio-frame events to the broker."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--config", help="TOML settings file (default $CALLPULSE_CONFIG)")
    p.add_argument("--broker", dest="broker_url", help="kafka://host:port (CALLPULSE_BROKER_URL)")
    p.add_argument("--topic-prefix", dest="topic_prefix")
    p.add_argument("--partitions", type=int, help="partitions of topics created here (must match the worker)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time (default), N = N x faster, 0 = max")
    p.add_argument("--copies", type=int, default=1, help="replay each file this many times concurrently")
    p.add_argument("--mono", action="store_true", help="downmix stereo files and replay them as mono calls")
    p.add_argument("--customer-channel", type=int, default=1, choices=(0, 1))
    p.add_argument("--frame-ms", type=float, default=20.0)
    p.add_argument("--call-id-prefix", default="", help="prefix of the call ids (default: file name)")
    p.add_argument("--per-channel-frames", action="store_true",
                   help="stereo: one event per channel and frame (default: both channels interleaved in one event)")
    p.add_argument("--shuffle-frames", type=int, default=0, metavar="N",
                   help="publish frames out of order, shuffled within blocks of N (test the reorder window)")
    p.add_argument("--no-end", action="store_true", help="never send call-ended (test the idle timeout)")
    p.add_argument("--agent-id", default="")
    p.add_argument("--queue", default="")


def run(args: argparse.Namespace) -> int:
    from streams.config import load_settings
    from streams.replay import load_call, replay

    settings = load_settings(args.config, broker_url=args.broker_url, topic_prefix=args.topic_prefix,
                             partitions=args.partitions)
    calls = []
    stamp = time.strftime("%H%M%S")
    for path in args.files:
        for k in range(args.copies):
            base = load_call(path, stereo=False if args.mono else None, customer_channel=args.customer_channel,
                             agent_id=args.agent_id, queue=args.queue, send_end=not args.no_end,
                             per_channel_frames=args.per_channel_frames, shuffle_frames=args.shuffle_frames,
                             shuffle_seed=k)
            suffix = f"-{k:03d}" if args.copies > 1 else ""
            base.call_id = f"{args.call_id_prefix or ''}{base.call_id}-{stamp}{suffix}"
            base.transcript = [type(s)(base.call_id, s.segment_id.replace(s.call_id, base.call_id, 1), s.speaker,
                                       s.start_s, s.end_s, s.text) for s in base.transcript]
            calls.append(base)
    total = sum(c.duration_s for c in calls)
    print(f"replaying {len(calls)} call(s), {total:.0f} s of audio, speed {args.speed or 'max'} "
          f"to {settings.broker_url} ({settings.topic_prefix}audio)", file=sys.stderr)

    def progress(done: int, of: int) -> None:
        print(f"\r  {100 * done / max(of, 1):5.1f}% of frames published", end="", file=sys.stderr)

    result = asyncio.run(replay(settings, calls, speed=args.speed, frame_ms=args.frame_ms, on_progress=progress))
    print(f"\rpublished {result.frames_sent} frames ({result.audio_s:.0f} channel-seconds) in {result.wall_s:.1f} s",
          file=sys.stderr)
    for c in calls:
        print(c.call_id)
    return 0
