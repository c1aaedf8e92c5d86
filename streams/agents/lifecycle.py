"""Call lifecycle: close calls that stopped sending frames without a call-ended event.

Input: the frames stage's live calls (`FramesStage.calls`, each with the wall time of its last frame).
Output: every `idle_check_interval_s`, calls silent for `idle_call_timeout_s` are flushed like an
ended call: last turns, then an `ended` control message with reason "idle_timeout", so the chain closes
the windows and writes the summary with `end_reason = "idle_timeout"`. Calls restored from checkpoints
after a restart are loaded on the first check, so a call that never ends is closed even then.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def register(pipeline) -> None:
    frames = pipeline.extras["frames"]

    @pipeline.app.timer(pipeline.settings.idle_check_interval_s, name="idle-calls")
    async def idle_calls():
        try:
            await frames.close_idle_calls()
        except Exception:  # an exception in a Faust timer would stop the worker
            log.exception("idle-call check failed")
