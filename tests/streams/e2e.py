"""Helpers of the end-to-end tests: a local pipeline per test module, replaying the demo calls,
the offline reference (`processors.offline`, what `callpulse analyze` runs) and ClickHouse reads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from streams.local import LocalPipeline, wait_for

REPO = Path(__file__).resolve().parents[2]
DEMO_CALLS = REPO / "demo" / "calls"


def model_path() -> str:
    from processors.emotion.model import DEFAULT_MODEL_PATH

    path = os.environ.get("CALLPULSE_MODEL_PATH") or str(DEFAULT_MODEL_PATH)
    if not Path(path).exists():
        pytest.skip(f"emotion model not found at {path} (build it: models/emotion/train.py)")
    return path


def start_pipeline(home: Path, **overrides) -> LocalPipeline:
    overrides.setdefault("model_path", model_path())
    overrides.setdefault("partitions", 2)
    p = LocalPipeline(home, overrides).start()
    p.start_worker()
    return p


def demo_call(name: str, call_id: str, *, with_transcript: bool = False, **kw):
    from streams.replay import load_call

    call = load_call(DEMO_CALLS / f"{name}.flac", call_id, **kw)
    if not with_transcript:
        call.transcript = []
    return call


def replay(pipeline: LocalPipeline, calls, speed: float = 0.0):
    from streams.replay import replay as _replay

    return asyncio.run(_replay(pipeline.settings, calls, speed=speed))


def offline(call, model):
    from processors.offline import analyze_samples

    return analyze_samples(call.call_id, call.samples, model, stereo=call.stereo,
                           customer_channel=call.customer_channel, agent_emotion=False,
                           transcript=call.transcript)


def offline_counts(result) -> dict:
    from processors.types import Alert, CallSummary, FusedTurn, WindowAggregate

    recs = result.records
    summary = next(r for r in recs if isinstance(r, CallSummary))
    return {
        "turns": len({r.turn_id for r in recs if isinstance(r, FusedTurn)}),
        "windows": len({r.window_start_s for r in recs if isinstance(r, WindowAggregate)}),
        "upset_windows": len({r.window_start_s for r in recs if isinstance(r, WindowAggregate) and r.upset}),
        "alerts": sorted(r.alert_id for r in recs if isinstance(r, Alert)),
        "customer_turns": summary.customer_turns,
        "agent_turns": summary.agent_turns,
        "summary_alerts": summary.alerts,
        "late_events": summary.late_events_dropped,
    }


def store_counts(p: LocalPipeline, call_id: str) -> dict:
    q = lambda sql: p.sql(sql.replace("$CALL", call_id.replace("'", "")))
    turns, distinct = q("SELECT count(), uniqExact(turn_id) FROM callpulse.turns FINAL WHERE call_id = '$CALL'")[0]
    assert turns == distinct, "a turn counted twice after FINAL"
    windows, upset = q("SELECT count(), countIf(upset) FROM callpulse.windows FINAL WHERE call_id = '$CALL'")[0]
    alerts = [r[0] for r in q("SELECT alert_id FROM callpulse.alerts FINAL WHERE call_id = '$CALL' ORDER BY alert_id")]
    row = q("SELECT customer_turns, agent_turns, alerts, late_events_dropped FROM callpulse.calls FINAL "
            "WHERE call_id = '$CALL'")[0]
    return {"turns": turns, "windows": windows, "upset_windows": upset, "alerts": alerts,
            "customer_turns": row[0], "agent_turns": row[1], "summary_alerts": row[2], "late_events": row[3]}


def wait_summary(p: LocalPipeline, call_id: str, timeout_s: float = 120.0, reason: str | None = None) -> list:
    def done():
        rows = p.sql(f"SELECT end_reason, customer_turns FROM callpulse.calls FINAL WHERE call_id = '{call_id}' "
                     f"AND end_reason IS NOT NULL")
        return rows if rows and (reason is None or rows[0][0] == reason) else None
    return wait_for(done, timeout_s, f"the call summary of {call_id}")


def where_turns_went(p: LocalPipeline, call_id: str, result) -> dict:
    """For a failed count comparison: the offline turns missing from (or extra in) the store, whether each
    missing one reached the fused topic (chain side vs sink side), the dead letters and the worker's
    counters, so a rare failure explains itself (the run's worker.log is gone once pytest rotates it)."""
    from processors.types import FusedTurn

    want = {r.turn_id: (round(r.start_s, 2), round(r.end_s, 2)) for r in result.records if isinstance(r, FusedTurn)}
    stored = {r[0] for r in p.sql(f"SELECT turn_id FROM callpulse.turns FINAL WHERE call_id = '{call_id}'")}
    fused: dict[str, list] = {}
    for _, rec, _ in p.read_topic("fused"):
        if rec.get("call_id") == call_id:
            fused.setdefault(rec["turn_id"], []).append(rec.get("revision"))
    missing = sorted(set(want) - stored)
    return {
        "missing_in_store": {t: want[t] for t in missing},
        "extra_in_store": sorted(stored - set(want)),
        "missing_on_fused_topic": [t for t in missing if t not in fused],
        "fused_revisions_of_missing": {t: fused.get(t) for t in missing},
        "dead_letters": [rec.get("reason") for kind, rec, _ in p.read_topic("dead-letter") if kind == "dead_letter"],
        "worker_counts": p.stats()["counts"],
        "worker_log": str(p.home / "worker.log"),
    }


def alert_events(p: LocalPipeline) -> list[dict]:
    return [rec for kind, rec, _ in p.read_topic("alerts") if kind == "escalation_alert"]
