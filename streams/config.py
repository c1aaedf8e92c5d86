"""Worker settings: defaults < TOML config file < environment variables (CALLPULSE_*).

Input: an optional TOML path (`[callpulse]` table or top-level keys) and `os.environ`.
Output: a frozen `Settings`. Broker quirks live only in `BROKER_PROFILES`, picked by `broker_profile`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

BROKER_PROFILES: dict[str, dict[str, Any]] = {
    # Tansu 0.6 (embedded default): ListOffsets is wrong when a batch holds more than one record, so
    # changelog recovery needs one record per batch; JoinGroup is held ~half the session timeout, so
    # keep it short; its idempotent producer cannot be initialised by aiokafka, so at-least-once only.
    "tansu": dict(
        producer_max_batch_size=1,
        broker_session_timeout=4.0,
        broker_heartbeat_interval=1.0,
        processing_guarantee="at_least_once",
        producer_acks=1,
        broker_commit_interval=1.0,
        broker_request_timeout=30.0,
        broker_rebalance_timeout=10.0,
        # Tansu answers a fetch only when fetch.max.wait expires, even when records arrive meanwhile
        # (measured: 0.38 s median delivery with aiokafka's wait of 1.5 s, 17 ms with 100 ms);
        # Faust hard-codes 1.5 s, so streams/app.py applies this value (not a Faust setting).
        fetch_max_wait_ms=50,
    ),
    # A real Kafka cluster: Faust's defaults, plus acks from all replicas.
    "kafka": dict(
        processing_guarantee="at_least_once",
        producer_acks=-1,
        broker_commit_interval=2.8,
    ),
}

CLIENT_ONLY_KEYS = frozenset({"fetch_max_wait_ms"})
"""Profile keys that are not Faust settings."""


@dataclass(frozen=True)
class Settings:
    broker_url: str = "kafka://127.0.0.1:9092"
    broker_profile: str = "kafka"
    store_url: str = ""
    """"" = embedded chdb under `home`; otherwise a ClickHouse URL (http://user:pass@host:8123/db)."""
    home: str = ""
    """Where the embedded store, the Faust data dir and worker.json live ("" = $CALLPULSE_HOME or ./var)."""
    app_id: str = "callpulse"
    topic_prefix: str = "callpulse."
    partitions: int = 4
    replicas: int = 1
    web_host: str = "127.0.0.1"
    web_port: int = 0
    """0 = pick a free port (written to worker.json)."""
    agent_emotion: bool = False
    """Score the agent's own voice. Off by default (EU AI Act: emotion recognition of workers)."""
    idle_call_timeout_s: float = 60.0
    idle_check_interval_s: float = 2.0
    checkpoint_every_s: float = 4.0
    """Seconds of a call's audio between front-end checkpoints (and frame acks)."""
    fetch_wait_ms: int = 0
    """The consumer's fetch wait; 0 = the broker profile's (Tansu: 50 ms). On Tansu it is both the
    latency a hop may add (a fetch is answered only when the wait expires) and a fixed cost (an idle
    pipeline measured 0.06-0.07 + 0.12-0.14 core for worker + broker at 50 ms, 0.03-0.04 + 0.05-0.10
    at 200 ms: bench/bench_idle.py)."""
    score_batch_size: int = 32
    score_batch_within_s: float = 0.05
    sink_max_rows: int = 5000
    sink_max_delay_s: float = 1.0
    model_path: str = ""
    """"" = the packaged default emotion model."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Overrides for the per-call chain (upset threshold, window sizes, ...), passed through as is."""

    @property
    def profile(self) -> dict[str, Any]:
        try:
            return BROKER_PROFILES[self.broker_profile]
        except KeyError:
            raise ValueError(f"unknown broker profile {self.broker_profile!r}; "
                             f"known: {', '.join(BROKER_PROFILES)}") from None

    @property
    def faust_settings(self) -> dict[str, Any]:
        """The profile's Faust settings (without the keys streams/app.py applies itself)."""
        return {k: v for k, v in self.profile.items() if k not in CLIENT_ONLY_KEYS}

    @property
    def fetch_max_wait_ms(self) -> int | None:
        if self.fetch_wait_ms > 0:
            return self.fetch_wait_ms
        return self.profile.get("fetch_max_wait_ms")

    @property
    def home_dir(self) -> Path:
        return Path(self.home or os.environ.get("CALLPULSE_HOME") or "var").resolve()

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


STREAM_CHAIN_DEFAULTS: dict[str, float | bool] = {"watermark_from_turns": False, "allowed_lateness_s": 2.0}
"""The streaming worker's chain defaults, under `Settings.thresholds` (which override them). The frames
stage sends exact progress marks (decoded audio minus what the front end still holds, 1 s margin), so
turn starts need not move the watermark and the 10 s lateness that covered turns delivered at their end
is not needed: 2 s remain for transcript segments that arrive after their turn. Windows, and so alerts,
are emitted ~2 s after their end instead of ~10 s. The offline analysis closes every window only once
all turns are in, so its output does not depend on these (the e2e tests compare the two)."""

def _coerce(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def load_settings(config_file: str | Path | None = None, env: dict[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Defaults, then the TOML file (or $CALLPULSE_CONFIG), then CALLPULSE_* variables, then overrides."""
    env = dict(os.environ if env is None else env)
    base = Settings()
    values: dict[str, Any] = {}
    path = config_file or env.get("CALLPULSE_CONFIG")
    if path:
        data = tomllib.loads(Path(path).read_text())
        data = data.get("callpulse", data)
        known = {f.name for f in fields(Settings)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        values.update(data)
    for f in fields(Settings):
        key = f"CALLPULSE_{f.name.upper()}"
        if key in env and f.name != "thresholds":
            values[f.name] = _coerce(env[key], getattr(base, f.name))
    thresholds = dict(values.get("thresholds", {}))
    for key, val in env.items():
        if key.startswith("CALLPULSE_THRESHOLD_"):
            thresholds[key.removeprefix("CALLPULSE_THRESHOLD_").lower()] = float(val)
    values["thresholds"] = thresholds
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(base, **values)
    settings.profile  # validate the profile name early
    return settings
