"""`callpulse diarize FILE`: RTTM speaker turns of a recording, from the streaming front end.

The file is cut into frames (`--frame-ms`, PCM16 at 16 kHz, or `--encoding`/`--rate` to simulate a
telephony stream) and fed frame by frame through `processors.frontend.FrontEnd`, exactly as the
worker does; each turn is printed as one RTTM SPEAKER line the moment the front end emits it.
Mono files: speakers are the clusters (`spk0`, `spk1`...), or `agent`/`customer` with `--roles`.
Two-channel files (or `--stereo`): one speaker per channel (`ch0`, `ch1`; roles from
`--agent-channel`).
`--relabel` (mono): print nothing while streaming; at the end, print the emitted turns relabelled
by a fresh clustering of the whole call (the same speech and boundaries; a turn whose 0.8 s slots
now belong to different speakers is split at the slot edge, and touching pieces of one speaker
make one line), see processors/diarization/relabel.py.
Without it, the lines are exactly what a streaming consumer got, as it got them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Print RTTM speaker turns of a recording, using the streaming front end."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="audio file (WAV/FLAC/OGG, any rate)")
    parser.add_argument("--roles", action="store_true", help="name speakers agent / customer")
    parser.add_argument("--stereo", action="store_true", help="treat a 2-channel file as a stereo call (default: when it has 2 channels)")
    parser.add_argument("--mono", action="store_true", help="downmix a multi-channel file and diarize it as a mono call")
    parser.add_argument("--agent-channel", type=int, default=0, help="stereo: channel carrying the agent (default 0)")
    parser.add_argument("--agent-voice", type=Path, help="mono: a recording of the agent alone (enrolled voiceprint)")
    parser.add_argument("--frame-ms", type=float, default=20.0)
    parser.add_argument("--encoding", default="pcm_s16le", choices=["pcm_s16le", "mulaw", "alaw"])
    parser.add_argument("--rate", type=int, default=16000, choices=[8000, 16000, 44100, 48000])
    parser.add_argument("--denoiser", default=None, help="override the default denoiser (off, spectral_gate, dtln)")
    parser.add_argument("--max-turn-s", type=float, default=None)
    parser.add_argument("--file-id", default=None, help="RTTM file id (default: the file name without extension)")
    parser.add_argument("--relabel", action="store_true",
                        help="mono: at the end, print the emitted turns relabelled by the latest clustering")


def run(args: argparse.Namespace) -> int:
    from processors.audio.io import AudioReadError, load_audio
    from processors.frontend import FrontEnd, FrontEndConfig, frames_from_clip
    from processors.types import CallInfo

    try:
        clip = load_audio(args.file, keep_channels=True)
    except AudioReadError as exc:
        print(f"callpulse diarize: {exc}", file=sys.stderr)
        return 2
    samples = clip.samples
    stereo = (args.stereo or samples.shape[0] == 2) and not args.mono
    if stereo and samples.shape[0] != 2:
        print(f"callpulse diarize: --stereo needs a 2-channel file, {args.file} has {samples.shape[0]}", file=sys.stderr)
        return 2
    if not stereo:
        samples = samples.mean(axis=0, keepdims=True)
    voiceprint = None
    if args.agent_voice is not None:
        from processors.diarization.embedder import embed_audio

        voiceprint = tuple(float(v) for v in embed_audio(load_audio(args.agent_voice).samples))
    file_id = args.file_id or args.file.stem
    call = CallInfo(call_id=file_id, stereo=stereo, agent_channel=args.agent_channel, agent_voiceprint=voiceprint)
    config = FrontEndConfig()
    if args.denoiser is not None:
        config.denoiser = args.denoiser
    if args.max_turn_s is not None:
        config.max_turn_s = args.max_turn_s
    fe = FrontEnd(call, config)

    relabel = args.relabel and not stereo
    emitted: list[tuple[float, float, str]] = []

    def line(start: float, end: float, who: str) -> str:
        return f"SPEAKER {file_id} 1 {start:.3f} {end - start:.3f} <NA> <NA> {who} <NA> <NA>"

    def emit(turns) -> None:
        for t in turns:
            if relabel:
                emitted.append((t.start_s, t.end_s, fe.last_labels[t.turn_id]))
                continue
            if args.roles:
                who = t.speaker
            elif stereo:
                who = f"ch{t.channel}"
            else:
                who = fe.last_labels[t.turn_id]
            print(line(t.start_s, t.end_s, who), flush=True)

    try:
        for frame in frames_from_clip(file_id, samples, args.frame_ms, args.encoding, args.rate):
            emit(fe.push(frame))
        emit(fe.flush())
        if relabel:
            from processors.diarization import relabel_turns

            for start, end, label in relabel_turns(emitted, fe.speaker_segments()):
                print(line(start, end, fe.role_of(label) if args.roles else label), flush=True)
    except BrokenPipeError:  # `| head`: the reader has all it wanted
        sys.stderr.close()
    return 0
