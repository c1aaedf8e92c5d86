"""`callpulse` command line: one module per sub-command in this package.

Each module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`; they are imported
only when their sub-command runs, so `callpulse score` never imports Faust or ClickHouse.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = {
    "score": "Score the emotion of whole audio files (one JSON line per file).",
    "diarize": "Print RTTM speaker turns of a recording, using the streaming front end.",
    "analyze": "Run the whole per-call chain offline on recordings (JSON lines).",
    "polarity": "Score the polarity of text lines (JSON lines).",
    "demo": "Start the embedded broker, a worker and the embedded store, replay demo calls.",
    "replay": "Publish recordings as audio-frame events to the broker.",
    "worker": "Run a production worker (broker and ClickHouse from env or a config file).",
    "sql": "Query the store (the embedded one through a running worker, if one holds it).",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callpulse", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(f"streams.cli.{name}").add_arguments(p)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(importlib.import_module(f"streams.cli.{args.command}").run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
