"""Rebalance awareness that faust-streaming 0.15.3 does not give, installed at app start (`install(app)`).

Input: the Faust app, before its worker starts. Output: `revoking(app)`, true from the moment the
consumer learns its partitions are being revoked until it gets its new assignment, and `stale(app,
message)`, true for a message fetched before the rebalance under way or the last one.

Faust's own `app.rebalancing` stays true until the tables of the new assignment are recovered, and
the consumer's assignment still lists the revoked partitions until the revoke is over: neither tells
a stage, at the moment it matters, that the event in its hands may be processed by another worker.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

REVOKING_ATTR = "_callpulse_revoking"


def revoking(app: Any) -> bool:
    """True from the start of a partition revoke until the next assignment."""
    return bool(getattr(app, REVOKING_ATTR, False))


def stale(app: Any, message: Any) -> bool:
    """A message fetched before the rebalance that is under way or that last happened."""
    if revoking(app):
        return True
    gen = getattr(message, "generation_id", None)
    return gen is not None and gen != app.consumer_generation_id


def install(app: Any) -> None:
    """Patch the consumer class (once per process) and hook this app's rebalance start."""
    if not getattr(Consumer, "_callpulse_fixed", False):
        Consumer.on_partitions_assigned = _make_on_assigned(Consumer.on_partitions_assigned)
        Consumer._callpulse_fixed = True
    start = app.on_rebalance_start

    def on_rebalance_start() -> None:
        # Called synchronously by the rebalance listener, before anything of the revoke runs.
        setattr(app, REVOKING_ATTR, True)
        start()

    app.on_rebalance_start = on_rebalance_start


def _make_on_assigned(original):
    async def on_partitions_assigned(self, assigned, generation_id: int = 0) -> None:
        # The listener has set the new generation id before calling this: from now on a message of
        # an earlier generation is told apart by its generation id.
        setattr(self.app, REVOKING_ATTR, False)
        await original(self, assigned, generation_id)

    return on_partitions_assigned
