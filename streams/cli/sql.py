"""`callpulse sql "SELECT ..."`: query the store and print the result.

Input: one SQL statement; the store from --store, else CALLPULSE_STORE_URL / the config file, else
the embedded store under CALLPULSE_HOME (./var). Output: a table (default), JSON, JSON lines, CSV or
TSV on stdout; exit 0, or 2 with the reason on stderr.

The embedded store can be opened by one process only: when a live worker holds it
(<home>/worker.json), the query is sent to that worker's web server (`POST <web_url>/sql`), which
runs it read-only on its own client.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import urllib.error
import urllib.request

HELP = "Query the store (the embedded one through a running worker, if one holds it)."
FORMATS = ("table", "json", "jsonl", "csv", "tsv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help='one SQL statement, e.g. "SELECT * FROM callpulse.agent_daily FINAL"')
    parser.add_argument("--store", default=None, help="store URL: chdb:, chdb:///abs/dir or http(s)://user:pass@host:8123/db")
    parser.add_argument("--config", default=None, help="worker config file (TOML) to read store_url/home from")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--write", action="store_true",
                        help="allow statements other than SELECT/SHOW/DESCRIBE/EXPLAIN (never through a worker)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a worker's answer")


def run(args: argparse.Namespace) -> int:
    from streams import store

    try:
        result = _run_query(args)
    except store.StoreError as exc:
        print(f"callpulse sql: {exc}", file=sys.stderr)
        return 2
    _print(result, args.format, sys.stdout)
    if result.truncated:
        print(f"callpulse sql: only the first {len(result.rows)} rows are shown; add a LIMIT", file=sys.stderr)
    return 0


def _run_query(args: argparse.Namespace):
    from streams import store
    from streams.config import load_settings

    settings = load_settings(args.config)
    url = args.store if args.store is not None else settings.store_url
    read_only = not args.write
    if not url or url in ("chdb:", "chdb://"):
        url = f"chdb://{store.embedded_dir(settings.home_dir).resolve()}"
    target = store.parse_store_url(url)
    if target.kind == "chdb":
        # A worker holding <home>/clickhouse announces itself in <home>/worker.json.
        worker = store.read_worker_info(target.path.resolve().parent)
        if worker is not None:
            if args.write:
                raise store.StoreError(f"a worker (pid {worker['pid']}) holds the embedded store; --write is refused through it")
            try:
                return query_worker(worker["web_url"], args.query, timeout=args.timeout)
            except ConnectionError as exc:  # stale worker.json: try the store itself
                print(f"callpulse sql: worker at {worker['web_url']} not answering ({exc}); opening the store", file=sys.stderr)
    client = store.open_store(url, migrate=True)
    return store.query(client, args.query, read_only=read_only)


def query_worker(web_url: str, sql: str, *, timeout: float = 60.0):
    """QueryResult from a worker's `POST /sql`; StoreError for a refused query, ConnectionError
    when nothing answers."""
    from streams.store import SQL_HTTP_PATH, QueryResult, StoreError

    req = urllib.request.Request(
        web_url.rstrip("/") + SQL_HTTP_PATH, data=json.dumps({"sql": sql}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return QueryResult.from_json(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", str(exc))
        except ValueError:
            message = str(exc)
        raise StoreError(message) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectionError(str(getattr(exc, "reason", exc))) from exc


def _print(result, fmt: str, out) -> None:
    from streams.store import _jsonable

    rows = [[_jsonable(v) for v in r] for r in result.rows]
    if fmt == "json":
        json.dump({"columns": result.columns, "types": result.types, "rows": rows}, out)
        out.write("\n")
    elif fmt == "jsonl":
        for r in rows:
            out.write(json.dumps(dict(zip(result.columns, r))) + "\n")
    elif fmt in ("csv", "tsv"):
        w = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        w.writerow(result.columns)
        w.writerows([_cell(v) for v in r] for r in rows)
    else:
        cells = [[_cell(v) for v in r] for r in rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
        line = "  ".join
        out.write(line(c.ljust(w) for c, w in zip(result.columns, widths)).rstrip() + "\n")
        out.write(line("-" * w for w in widths) + "\n")
        for r in cells:
            out.write(line(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
        out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _cell(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)
