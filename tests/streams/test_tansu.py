"""The embedded broker: starts on a free local port, answers the Kafka protocol, stops cleanly."""

from __future__ import annotations

import asyncio
import socket

from streams.broker.tansu import TansuBroker
from streams.config import load_settings
from streams.topics import ensure_topics, topic_names


def test_tansu_starts_creates_topics_and_stops():
    from aiokafka.admin import AIOKafkaAdminClient

    with TansuBroker() as broker:
        assert broker.host == "127.0.0.1" and broker.port > 0
        settings = load_settings(None, env={}, broker_url=broker.url, broker_profile="tansu", partitions=3)
        asyncio.run(ensure_topics(settings))

        async def describe():
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                return await admin.describe_topics(list(topic_names(settings).values()))
            finally:
                await admin.close()

        topics = asyncio.run(describe())
        assert {t["topic"] for t in topics} == set(topic_names(settings).values())
        assert all(len(t["partitions"]) == 3 for t in topics)
        asyncio.run(ensure_topics(settings))  # idempotent
        port = broker.port
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the broker still listens after stop()"
