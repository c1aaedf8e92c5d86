"""Opening the ClickHouse store, applying its DDL, and answering read-only queries.

Input: a store URL — None or "chdb:" (embedded chdb at <home>/clickhouse), "chdb:///abs/dir", or
"http(s)://user:pass@host:port/db" (a ClickHouse server). Output: a clickhouse-connect client, with
the tables of `schemas/clickhouse/` created by `apply_migrations`.

The embedded store can be opened by one process only, so a running worker records
`<home>/worker.json` ({"pid", "web_url"}) and answers `POST <web_url>/sql` ({"sql": "..."}) with
`handle_sql_request`; `callpulse sql` goes through it while the worker holds the store.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import ipaddress
import json
import logging
import math
import os
import re
import threading
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from schemas.migrations import DEFAULT_PARAMS, load_migrations

log = logging.getLogger(__name__)

DEFAULT_HOME = "var"
DATABASE = "callpulse"
SQL_HTTP_PATH = "/sql"
"""Path of the worker's web endpoint that runs read-only SQL (see handle_sql_request)."""


class StoreError(RuntimeError):
    """The store cannot be opened or a statement failed; the message says what to do."""


class StoreBusy(StoreError):
    """The embedded store's directory is held by another process (a running worker)."""


# ---------------------------------------------------------------- locations

def home_dir() -> Path:
    """CALLPULSE_HOME, else ./var: where the embedded store and worker.json live."""
    return Path(os.environ.get("CALLPULSE_HOME", DEFAULT_HOME))


def embedded_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / "clickhouse"


def worker_info_path(home: Path | None = None) -> Path:
    return (home or home_dir()) / "worker.json"


# ---------------------------------------------------------------- opening

@dataclass(frozen=True)
class StoreURL:
    kind: str
    """"chdb" or "http"."""
    path: Path | None = None
    host: str = ""
    port: int = 8123
    username: str = "default"
    password: str = ""
    database: str = DATABASE
    secure: bool = False


def parse_store_url(url: str | None, home: Path | None = None) -> StoreURL:
    if url in (None, "", "chdb:", "chdb://"):
        return StoreURL("chdb", path=embedded_dir(home))
    u = urlparse(url)
    if u.scheme == "chdb":
        path = unquote(u.path or "")
        if u.netloc:  # chdb://relative/dir
            path = u.netloc + path
        if not path:
            raise StoreError(f"store URL {url!r} names no directory")
        return StoreURL("chdb", path=Path(path))
    if u.scheme in ("http", "https"):
        if not u.hostname:
            raise StoreError(f"store URL {url!r} names no host")
        return StoreURL(
            "http",
            host=u.hostname,
            port=u.port or (8443 if u.scheme == "https" else 8123),
            username=unquote(u.username or "default"),
            password=unquote(u.password or ""),
            database=(u.path or "").strip("/") or DATABASE,
            secure=u.scheme == "https",
        )
    raise StoreError(f"unsupported store URL {url!r}: use chdb:, chdb:///abs/dir or http(s)://user:pass@host:port/db")


def open_store(url: str | None = None, *, migrate: bool = False, params: dict[str, str] | None = None):
    """clickhouse-connect client for `url` (see module doc); `migrate=True` also applies the DDL."""
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    global _CHDB_PATH
    target = parse_store_url(url)
    if target.kind == "chdb":
        path = target.path.resolve()
        if _CHDB_PATH is not None and _CHDB_PATH != path:
            raise StoreError(f"this process already runs the embedded store at {_CHDB_PATH}; chdb allows one "
                             f"data directory per process, so {path} cannot be opened here")
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=str(path))
            _CHDB_PATH = path
        except ClickHouseError as exc:
            info = read_worker_info(target.path.parent)
            raise StoreBusy(
                f"cannot open the embedded store at {target.path} ({exc}); "
                + (f"a worker (pid {info['pid']}) holds it: query it through {info['web_url']}{SQL_HTTP_PATH}"
                   if info else "another process probably holds it (one process per data directory)")
            ) from exc
    else:
        try:
            client = clickhouse_connect.get_client(
                host=target.host, port=target.port, username=target.username, password=target.password,
                secure=target.secure, connect_timeout=5, send_receive_timeout=60,
            )
        except ClickHouseError as exc:
            raise StoreError(f"cannot reach ClickHouse at {target.host}:{target.port}: {exc}") from exc
    database = target.database
    _DATABASE_OF[client] = database
    if migrate:
        apply_migrations(client, database, params=params)
    return client


_CHDB_PATH: Path | None = None
"""The embedded store this process opened (chdb: one data directory per process, for its lifetime)."""
_DATABASE_OF: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_LOCKS: "weakref.WeakKeyDictionary[Any, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def process_chdb_path() -> Path | None:
    """Data directory of the embedded store this process opened, if any."""
    return _CHDB_PATH


def database_of(client) -> str:
    """The database a client was opened for (the URL's path; `callpulse` by default)."""
    return _DATABASE_OF.get(client, DATABASE)


def client_lock(client) -> threading.RLock:
    """The lock every user of `client` holds while talking to it (chdb clients are not thread-safe)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(client)
        if lock is None:
            lock = _LOCKS[client] = threading.RLock()
        return lock


# ---------------------------------------------------------------- migrations

def apply_migrations(client, database: str = DATABASE, *, params: dict[str, str] | None = None) -> list[str]:
    """Create the database and apply every migration not yet recorded; returns the ones applied
    ("NNN_name"). Idempotent: a second call applies nothing."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise StoreError(f"bad database name {database!r}")
    values = {**DEFAULT_PARAMS, **(params or {}), "database": database}
    applied_now: list[str] = []
    with client_lock(client):
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        client.command(
            f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
            "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = ReplacingMergeTree ORDER BY version"
        )
        done = {int(v): c for v, c in client.query(
            f"SELECT version, checksum FROM {database}.schema_migrations FINAL").result_rows}
        for m in load_migrations():
            if m.version in done:
                if done[m.version] != m.checksum:
                    log.warning("migration %03d_%s changed since it was applied to %s (checksum %s, now %s); "
                                "released migrations must not be edited", m.version, m.name, database,
                                done[m.version], m.checksum)
                continue
            for stmt in m.statements(values):
                try:
                    client.command(stmt)
                except Exception as exc:
                    raise StoreError(f"migration {m.version:03d}_{m.name} failed on: {stmt[:200]}...: {exc}") from exc
            client.insert(f"{database}.schema_migrations", [[m.version, m.name, m.checksum]],
                          column_names=["version", "name", "checksum"])
            applied_now.append(f"{m.version:03d}_{m.name}")
            log.info("applied migration %03d_%s to %s", m.version, m.name, database)
    return applied_now


def refresh_rollups(client, database: str = DATABASE, *, full: bool = False) -> None:
    """Bring agent_daily / queue_daily up to date now instead of at the next scheduled refresh.
    `full`: recompute every day still in the raw tables (backfill), not only the look-back days."""
    with client_lock(client):
        for name, key in (("agent_daily", "agent_id"), ("queue_daily", "queue")):
            if full:
                client.command(
                    f"INSERT INTO {database}.{name} SELECT day, {key}, calls, customer_turns, mean_negativity, "
                    f"upset_share, alerts, now64(3) FROM {database}.{name}_live")
            else:
                client.command(f"SYSTEM REFRESH VIEW {database}.{name}_refresh")
                client.command(f"SYSTEM WAIT VIEW {database}.{name}_refresh")


# ---------------------------------------------------------------- read-only queries

_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b", re.IGNORECASE)
_COMMENTS = re.compile(r"(--[^\n]*\n?)|(/\*.*?\*/)", re.DOTALL)


def is_read_only(sql: str) -> bool:
    """True for one SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS statement (a guard, not a sandbox:
    servers should also give the worker's query user readonly=1)."""
    body = _COMMENTS.sub(" ", sql).strip().rstrip(";").strip()
    return bool(_READ_ONLY.match(body)) and ";" not in body


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    """More rows matched than `max_rows`; only the first `max_rows` are here."""

    def to_json(self) -> dict:
        return {"columns": self.columns, "types": self.types, "rows": [[_jsonable(v) for v in r] for r in self.rows],
                "truncated": self.truncated}

    @classmethod
    def from_json(cls, d: dict) -> "QueryResult":
        return cls(list(d["columns"]), list(d.get("types", [])), [list(r) for r in d["rows"]], bool(d.get("truncated")))


def query(client, sql: str, *, read_only: bool = True, max_rows: int = 100_000,
          timeout_s: float = 30.0) -> QueryResult:
    """Run one statement under the client's lock; read-only unless told otherwise. `timeout_s`
    bounds it (max_execution_time) so an analyst's query cannot hold up the sink for long."""
    if read_only and not is_read_only(sql):
        raise StoreError("only one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) is allowed")
    with client_lock(client):
        try:
            result = client.query(sql, settings={"max_execution_time": timeout_s} if timeout_s else None)
        except Exception as exc:
            raise StoreError(f"query failed: {exc}") from exc
    all_rows = result.result_rows
    rows = [list(r) for r in all_rows[:max_rows]]
    types = [t.name for t in result.column_types] if result.column_types else []
    return QueryResult(list(result.column_names), types, rows, truncated=len(all_rows) > max_rows)


async def query_async(client, sql: str, **kw) -> QueryResult:
    """`query` in a worker thread, for the worker's asyncio web server."""
    return await asyncio.to_thread(query, client, sql, **kw)


def handle_sql_request(client, body: bytes | str | dict) -> tuple[int, dict]:
    """(HTTP status, JSON payload) for `POST /sql` with body {"sql": "..."} (or the bare SQL text).
    200 -> {"columns", "types", "rows"}; 400 -> {"error"} for a bad or failing query."""
    try:
        if isinstance(body, dict):
            sql = body.get("sql")
        else:
            text = body.decode() if isinstance(body, (bytes, bytearray)) else body
            try:
                parsed = json.loads(text)
                sql = parsed.get("sql") if isinstance(parsed, dict) else None
            except ValueError:
                sql = text
        if not isinstance(sql, str) or not sql.strip():
            return 400, {"error": 'expected {"sql": "SELECT ..."}'}
        return 200, query(client, sql).to_json()
    except StoreError as exc:
        return 400, {"error": str(exc)}
    except UnicodeDecodeError:
        return 400, {"error": "request body is not UTF-8"}


async def handle_sql_request_async(client, body: bytes | str | dict) -> tuple[int, dict]:
    return await asyncio.to_thread(handle_sql_request, client, body)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item"):  # numpy scalars
        return _jsonable(v.item())
    return str(v)


# ---------------------------------------------------------------- worker info

def write_worker_info(web_url: str, home: Path | None = None, pid: int | None = None) -> Path:
    """Record that this process holds the embedded store and where its web server listens."""
    path = worker_info_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid or os.getpid(), "web_url": web_url.rstrip("/")}))
    tmp.replace(path)
    return path


def read_worker_info(home: Path | None = None) -> dict | None:
    """{"pid", "web_url"} of a live worker, or None (no file, unreadable, or its process is gone)."""
    path = worker_info_path(home)
    try:
        info = json.loads(path.read_text())
        pid, url = int(info["pid"]), str(info["web_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(pid):
        return None
    return {"pid": pid, "web_url": url}


def remove_worker_info(home: Path | None = None) -> None:
    """Remove worker.json if it is this process's."""
    path = worker_info_path(home)
    try:
        if int(json.loads(path.read_text())["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
