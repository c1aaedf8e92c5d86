"""`callpulse analyze FILE...`: the whole per-call chain offline, one JSON line per record.

Lines: {"type": "turn", ...FusedTurn fields, "emotion": {probs, label, model_version} when scored},
{"type": "window", ...}, {"type": "alert", "call_id", "at_s", "severity", "evidence", ...} and one
{"type": "summary", ...} per file.  With --no-agent-emotion agent turns (and turns a mono call could not
attribute) never reach the emotion model and their lines carry no emotion, voice or negativity field.
A file that cannot be analysed gives {"type": "error", "file", "error"} on stderr; the others go on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from processors.types import CUSTOMER, Alert, CallSummary, FusedTurn, WindowAggregate

HELP = "Run the whole per-call chain offline on recordings (JSON lines)."
log = logging.getLogger(__name__)

_NO_EMOTION_DROP = ("negativity", "confidence", "voice_upset", "polarity", "emotion_label")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="recordings (WAV/FLAC/OGG, any rate)")
    p.add_argument("--stereo", action="store_true",
                   help="2-channel recording with agent and customer on separate channels (default: mono, "
                        "speakers told apart by voice)")
    p.add_argument("--customer-channel", type=int, choices=(0, 1), default=1,
                   help="with --stereo: the channel carrying the customer (default 1)")
    p.add_argument("--no-agent-emotion", action="store_true",
                   help="never score agent turns (EU AI Act); talk ratio, interruptions and silence stay")
    p.add_argument("--transcript", action="append", type=Path, metavar="FILE.json",
                   help="transcript of a FILE (give one per FILE, in the same order)")
    p.add_argument("--no-asr", action="store_true", help="do not transcribe even when the ASR extra is installed")
    p.add_argument("--frame-ms", type=float, default=20.0, help="frame size fed to the front end (default 20)")
    p.add_argument("--model", type=Path, help="emotion model (.onnx); default: the shipped one")
    p.add_argument("--call-id", action="append", help="call id per FILE (default: the file name without suffix)")
    p.add_argument("--window-s", type=float, help="window size (default 30)")
    p.add_argument("--step-s", type=float, help="window step (default 5)")
    p.add_argument("--lateness-s", type=float, help="allowed lateness (default 10)")
    p.add_argument("--upset-threshold", type=float, help="turn negativity counted as upset")
    p.add_argument("--upset-share", type=float, help="share of customer speech upset for an upset window")
    p.add_argument("--consecutive-windows", type=int, help="upset windows in a row to alert")
    p.add_argument("--no-windows", action="store_true", help="print turns, alerts and summaries only")


def _chain_config(args):
    from processors.call_chain import ChainConfig
    from processors.escalation import EscalationConfig

    overrides = {
        name: value for name, value in (
            ("window_s", args.window_s), ("step_s", args.step_s), ("allowed_lateness_s", args.lateness_s),
            ("upset_threshold", args.upset_threshold), ("upset_share", args.upset_share),
            ("consecutive_windows", args.consecutive_windows),
        ) if value is not None
    }
    escalation = dataclasses.replace(EscalationConfig(), **overrides)
    return ChainConfig(escalation=escalation, agent_emotion=not args.no_agent_emotion)


def record_json(record, emotions: dict, agent_emotion: bool) -> dict | None:
    """One output line for one chain record."""
    if isinstance(record, FusedTurn):
        d = {"type": "turn", **dataclasses.asdict(record)}
        if not agent_emotion and record.speaker != CUSTOMER:
            for key in _NO_EMOTION_DROP:
                d.pop(key, None)
        else:
            em = emotions.get(record.turn_id)
            if em is not None:
                d["emotion"] = {"probs": em.probs, "upset": em.upset, "label": em.label,
                                "model_version": em.model_version}
        return d
    if isinstance(record, WindowAggregate):
        return {"type": "window", **dataclasses.asdict(record)}
    if isinstance(record, Alert):
        return {"type": "alert", **dataclasses.asdict(record)}
    if isinstance(record, CallSummary):
        return {"type": "summary", **dataclasses.asdict(record)}
    raise TypeError(f"unexpected record {type(record).__name__}")


def _asr_wanted(args) -> bool:
    if args.no_asr:
        return False
    try:
        from processors.text.asr import asr_available
    except ImportError:
        return False
    return bool(asr_available())


def run(args) -> int:
    from processors.audio.io import AudioReadError, load_audio
    from processors.call_chain import default_polarity
    from processors.emotion.model import EmotionModel, load_default_model
    from processors.offline import analyze_samples

    files: list[Path] = [Path(f) for f in args.files]
    if args.transcript and len(args.transcript) != len(files):
        print(f"callpulse analyze: give one --transcript per FILE ({len(files)} files, "
              f"{len(args.transcript)} transcripts)", file=sys.stderr)
        return 2
    if args.call_id and len(args.call_id) != len(files):
        print("callpulse analyze: give one --call-id per FILE", file=sys.stderr)
        return 2
    try:
        config = _chain_config(args)
    except ValueError as exc:
        print(f"callpulse analyze: {exc}", file=sys.stderr)
        return 2
    model = EmotionModel(args.model) if args.model else load_default_model()
    polarity = default_polarity()
    use_asr = _asr_wanted(args)
    failures = 0
    out = sys.stdout
    for i, path in enumerate(files):
        call_id = args.call_id[i] if args.call_id else path.stem
        try:
            clip = load_audio(path, keep_channels=args.stereo)
            transcript = None
            if args.transcript:
                from processors.text.transcripts import load_transcript_json

                transcript = load_transcript_json(args.transcript[i], call_id,
                                                  agent_channel=1 - args.customer_channel)
            result = analyze_samples(
                call_id, clip.samples, model, stereo=args.stereo, customer_channel=args.customer_channel,
                agent_emotion=not args.no_agent_emotion, frame_ms=args.frame_ms, transcript=transcript,
                use_asr=use_asr, config=config, polarity=polarity,
            )
        except (AudioReadError, ValueError, OSError) as exc:
            failures += 1
            print(json.dumps({"type": "error", "file": str(path), "error": str(exc)}), file=sys.stderr)
            continue
        for record in result.records:
            if args.no_windows and isinstance(record, WindowAggregate):
                continue
            line = record_json(record, result.emotions, not args.no_agent_emotion)
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
        out.flush()
    return 1 if failures else 0
