"""Faust app factory: one worker process runs every stage for the partitions it owns.

Input: `Settings`. Output: `Pipeline` (the Faust app, its topics, shared helpers), with the agents of
`streams/agents/` registered: frames -> scoring -> chain -> sink, plus the idle-call timer (lifecycle.py) and the
web views (`POST /sql`, `GET /stats`).

State: Faust tables backed by changelog topics (store "memory://", rebuilt from the changelog on
start or rebalance): `frontend-checkpoints` (frames stage) and `call-chains` (chain stage). See
docs/scaling.md for what is kept where and why no acknowledged input is ever lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import faust

from schemas.codec import encode
from streams import faust_fixes
from streams.config import Settings
from streams.records import dead_letter_record
from streams.stats import StageStats
from streams.topics import topic_names

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    app: faust.App
    settings: Settings
    topics: dict[str, Any]
    stats: StageStats = field(default_factory=StageStats)
    extras: dict[str, Any] = field(default_factory=dict)
    """Stage objects by name (for the web views and tests)."""

    def owns(self, event: Any) -> bool:
        """False for an event fetched before the rebalance under way (from the moment the revoke
        starts, while the consumer still lists the partition as assigned) or before the last one
        (an older consumer generation), and for one of a partition not assigned here: the stateful
        stages must leave it alone. Processing it could restore a call from a checkpoint older than
        the frames already handled (a wrong front end, turns with the right ids and the wrong
        bounds), or race the partition's new owner. Skipping it loses nothing: the frames stage
        acknowledges nothing it skips, and the consumer ignores the chain stream's acknowledgement
        of a stale event (streams/faust_fixes.py), so it is fetched again after the rebalance from
        the committed offset. Events of the new assignment flow only once its tables are recovered."""
        msg = event.message
        try:
            if faust_fixes.stale(self.app, msg):
                return False
            return msg.tp in self.app.consumer.assignment()
        except Exception:
            return True

    def state_ready(self) -> bool:
        """Whether the tables hold the state of this worker's current assignment: no revoke under
        way and the recovery of the latest assignment done (tasks outside the streams, such as the
        idle-call timer, must not restore or write calls before that)."""
        return not faust_fixes.revoking(self.app) and bool(getattr(self.app.tables, "actives_ready", False))

    async def dead_letter(self, event: Any, reason: str) -> None:
        """Send an event that cannot be processed, untouched, to the dead-letter topic."""
        msg = event.message
        rec = dead_letter_record(msg.topic, msg.key, msg.value if msg.value is not None else b"",
                                 reason, int(time.time() * 1000), msg.partition, msg.offset)
        self.stats.count("dead_letters")
        log.warning("dead-letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, reason)
        try:
            await self.topics["dead-letter"].send(key=msg.key, value=encode("dead_letter", rec))
        except Exception as exc:  # noqa: BLE001 - the original bytes are too large for the broker
            note = f"{reason} [original bytes left out: {type(exc).__name__}; they stay at the source offset]"
            rec = dead_letter_record(msg.topic, msg.key, b"", note, int(time.time() * 1000), msg.partition, msg.offset)
            await self.topics["dead-letter"].send(key=msg.key, value=encode("dead_letter", rec))


def set_consumer_fetch_max_wait(ms: int) -> None:
    """Faust's aiokafka driver hard-codes fetch_max_wait_ms=1500 for the group consumer; a broker that
    answers fetches only when that wait expires (Tansu) would add up to 1.5 s per hop. Replace the
    consumer class the driver instantiates with one that uses `ms` (profile `fetch_max_wait_ms`)."""
    import types

    import aiokafka
    import faust.transport.drivers.aiokafka as driver

    class _Consumer(aiokafka.AIOKafkaConsumer):
        def __init__(self, *args, **kwargs):
            if "fetch_max_wait_ms" in kwargs:
                kwargs["fetch_max_wait_ms"] = ms
            super().__init__(*args, **kwargs)

    shim = types.SimpleNamespace(**{k: getattr(aiokafka, k) for k in dir(aiokafka) if not k.startswith("__")})
    shim.AIOKafkaConsumer = _Consumer
    driver.aiokafka = shim


def create_app(settings: Settings, *, web_port: int | None = None) -> Pipeline:
    home = settings.home_dir
    home.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        datadir=str(home / "faust"),
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=web_port if web_port is not None else (settings.web_port or 6066),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replicas,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        table_standby_replicas=0,
        **settings.faust_settings,
    )
    if settings.fetch_max_wait_ms is not None:
        set_consumer_fetch_max_wait(settings.fetch_max_wait_ms)
    faust_fixes.install(app)
    topics = {name: app.topic(full, key_type=bytes, value_type=bytes, partitions=settings.partitions,
                              key_serializer="raw", value_serializer="raw")
              for name, full in topic_names(settings).items()}
    pipeline = Pipeline(app, settings, topics)

    from streams import web
    from streams.agents import chain, frames, lifecycle, scoring, sink

    frames.register(pipeline)
    lifecycle.register(pipeline)
    scoring.register(pipeline)
    chain.register(pipeline)
    sink.register(pipeline)
    web.register(pipeline)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender, revoked, **kwargs):
        """Calls of revoked partitions move to another worker, which restores them from the tables.
        Each stage first lets the event it is in the middle of finish (Faust does not wait for it:
        stream_wait_empty is off), then drops the calls; the producer is flushed again so that what
        that event wrote (turns, a checkpoint) is on the broker before the new owner recovers."""
        partitions = {tp.partition for tp in revoked}
        if partitions:
            await pipeline.extras["frames"].on_revoked(partitions)
            await pipeline.extras["chain"].on_revoked(partitions)
            await app.producer.flush()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender, assigned, **kwargs):
        pipeline.extras["frames"].on_assigned()

    return pipeline
