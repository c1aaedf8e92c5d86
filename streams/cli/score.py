"""`callpulse score PATH...`: emotion of whole audio files, one JSON line per file.

Input: files or folders (searched recursively for .wav/.flac); any sample rate, stereo downmixed.
Output (stdout): {"path", "duration_s", "emotions": {label: p}, "upset", "label"} per file, or
{"path", "error"} for a file that is unreadable, shorter than 0.3 s or silent. Exit status 1 only when
every file failed (or none was found), else 0. Files are scored in batches through one session.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HELP = "Score the emotion of whole audio files (one JSON line per file)."
AUDIO_SUFFIXES = {".wav", ".flac"}
log = logging.getLogger("callpulse.score")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="audio files or folders (WAV/FLAC)")
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--batch", type=int, default=32, help="files per onnxruntime call")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")


def expand(paths: list[str]) -> list[Path]:
    """Folders become their audio files (recursive, sorted); files are kept as given, even odd ones."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
        else:
            out.append(p)
    return out


def run(args: argparse.Namespace) -> int:
    from processors.audio.io import AudioReadError, load_audio
    from processors.emotion.model import BadAudioError, EmotionModel

    files = expand(args.paths)
    if not files:
        print(json.dumps({"error": f"no WAV/FLAC files under {args.paths}"}), flush=True)
        return 1
    model = EmotionModel(args.model, intra_op_threads=args.threads)
    ok = 0
    for start in range(0, len(files), max(1, args.batch)):
        group = files[start : start + args.batch]
        lines: list[dict] = [{"path": str(f)} for f in group]
        audios, slots = [], []
        for i, f in enumerate(group):
            try:
                clip = load_audio(f)
            except AudioReadError as exc:
                lines[i]["error"] = str(exc)
                continue
            lines[i]["duration_s"] = round(clip.duration_s, 3)
            audios.append(clip.samples)
            slots.append(i)
        for i, result in zip(slots, model.score_many(audios)):
            if isinstance(result, BadAudioError):
                lines[i]["error"] = str(result)
                continue
            lines[i].update(
                emotions={k: round(v, 4) for k, v in result.probs.items()},
                upset=round(result.upset, 4),
                label=result.label,
            )
            ok += 1
        for line in lines:
            print(json.dumps(line), flush=True)
    if ok == 0:
        log.error("no file could be scored")
    return 0 if ok else 1


if __name__ == "__main__":
    from streams.cli import main

    sys.exit(main(["score", *sys.argv[1:]]))
