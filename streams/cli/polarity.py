"""`callpulse polarity`: score the polarity of text, one JSON object per input text.

Input: one text per line on standard input, or `--csv FILE --column NAME`.
Output (stdout, one line per input text, in input order; blank texts score 0.0 / neutral):
    {"text": "...", "polarity": -0.8123, "label": "negative"}
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Iterator

HELP = "Score the polarity of text lines (JSON lines)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", type=Path, metavar="FILE", help="read texts from this CSV file instead of stdin")
    parser.add_argument("--column", default="text", help="CSV column holding the text (default: text)")
    parser.add_argument("--model", type=Path, default=None, help="polarity weights (.npz); default: the shipped model")


def _stdin_texts() -> Iterator[str]:
    stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    for line in stream:
        yield line.rstrip("\r\n")


def _csv_texts(path: Path, column: str) -> Iterator[str]:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise KeyError(f"{path} has no column {column!r} (columns: {reader.fieldnames or []})")
        for row in reader:
            yield row[column] or ""


def run(args: argparse.Namespace) -> int:
    from processors.text.polarity import PolarityModelError, PolarityScorer, load_default_scorer

    try:
        scorer = PolarityScorer(args.model) if args.model else load_default_scorer()
    except PolarityModelError as exc:
        print(f"callpulse polarity: {exc}", file=sys.stderr)
        return 2
    try:
        texts = _csv_texts(args.csv, args.column) if args.csv else _stdin_texts()
        out = sys.stdout
        for text in texts:
            polarity = scorer.score(text)
            out.write(json.dumps({"text": text, "polarity": round(polarity, 4), "label": scorer.label(polarity)},
                                 ensure_ascii=False) + "\n")
            out.flush()
    except BrokenPipeError:  # e.g. `| head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, KeyError, csv.Error) as exc:
        print(f"callpulse polarity: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    return 0
