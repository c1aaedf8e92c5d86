"""The topics of the pipeline, their contents, and creating them before anyone produces.

Every topic is keyed by call id (UTF-8) and has the same partition count, so all events of a call
land on the same partition number of every topic (co-partitioned: one worker owns a call end to end).
Values are `schemas.codec` bytes; the internal turns/scores topics also carry `streams.wire` control
messages (call started / progress / ended) in order with the data.

| name          | values                                    | producer -> consumer              |
|---------------|-------------------------------------------|-----------------------------------|
| audio         | audio_frame, call_event                   | platform (or replay) -> frames    |
| transcripts   | transcript_segment                        | platform ASR -> chain             |
| turns         | speech_turn + control                     | frames -> scoring                 |
| scores        | emotion_score + control                   | scoring -> chain                  |
| fused         | fused_turn                                | chain -> sink                     |
| windows       | window_aggregate                          | chain -> sink                     |
| alerts        | escalation_alert                          | chain -> sink, downstream systems |
| calls         | call_event (started), call_summary        | chain -> sink, downstream systems |
| dead-letter   | dead_letter                               | any stage -> sink                 |
"""

from __future__ import annotations

import asyncio
import logging

from streams.config import Settings

log = logging.getLogger(__name__)

TOPIC_NAMES: tuple[str, ...] = (
    "audio", "transcripts", "turns", "scores", "fused", "windows", "alerts", "calls", "dead-letter",
)


def topic_names(settings: Settings) -> dict[str, str]:
    """Short name -> full topic name (with the configured prefix)."""
    return {name: settings.topic(name) for name in TOPIC_NAMES}


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives a key: where the call's events are."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def bootstrap_of(broker_url: str) -> str:
    """"kafka://h1:9092;h2:9092" -> "h1:9092,h2:9092" (aiokafka's form)."""
    hosts = []
    for part in broker_url.replace(";", ",").split(","):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            hosts.append(part.rstrip("/"))
    return ",".join(hosts)


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create every pipeline topic with `settings.partitions` partitions (existing ones are kept).

    The worker and the replayer both call this, so whichever starts first decides nothing by accident
    (a broker's auto-create could otherwise pick another partition count and break co-partitioning).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_of(settings.broker_url),
                                request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(name, settings.partitions, settings.replicas)
                  for name in topic_names(settings).values() if name not in existing]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            for _ in range(50):  # metadata of new topics can lag a moment behind creation
                if {t.name for t in wanted} <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


def ensure_topics_sync(settings: Settings) -> None:
    asyncio.run(ensure_topics(settings))
