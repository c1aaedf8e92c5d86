"""Scoring stage: speech turns of many calls -> the emotion model in batches -> emotion scores.

Input topic `turns` (speech_turn + control). Output topic `scores` (emotion_score + the same control
messages, in the same order per call). Batches are cut across calls with
`stream.take_events(score_batch_size, within=score_batch_within_s)`: one ONNX run for all the turns
that ended in the last few tens of milliseconds, whichever calls they belong to; results do not
depend on batch-mates (processors/emotion/model.py), so batching changes latency, not scores.

Which turns are scored is the offline rule (`frames.wants_score`): the customer's, and the agent's
only with agent emotion switched on. Unscorable turns (too short, silent) get no emotion.
Stateless: a restart re-scores the turns whose batch was not yet acknowledged (at-least-once).
"""

from __future__ import annotations

import logging

from processors.emotion.model import EmotionModel, load_default_model
from processors.types import EmotionResult
from schemas.codec import SchemaError, decode, encode
from streams.agents.frames import wants_score
from streams.records import emotion_to_record, record_to_turn
from streams.wire import kind_of

log = logging.getLogger(__name__)


class ScoringStage:
    def __init__(self, pipeline) -> None:
        self.p = pipeline
        self.settings = pipeline.settings
        self.stats = pipeline.stats
        self.out = pipeline.topics["scores"]
        self._model: EmotionModel | None = None

    @property
    def model(self) -> EmotionModel:
        if self._model is None:
            path = self.settings.model_path
            self._model = EmotionModel(path) if path else load_default_model()
        return self._model

    async def handle_batch(self, events) -> None:
        """Score every scorable turn of the batch in one model call, then forward in input order."""
        parsed: list[tuple[object, object]] = []  # (event, turn | None for pass-through)
        to_score = []
        for event in events:
            try:
                kind = kind_of(event.value)
                if kind == "control":
                    parsed.append((event, None))
                    continue
                if kind != "speech_turn":
                    raise SchemaError(f"{kind} events do not belong on the turns topic")
                turn = record_to_turn(decode("speech_turn", event.value))
            except SchemaError as exc:
                await self.p.dead_letter(event, f"SchemaError: {exc}")
                continue
            parsed.append((event, turn))
            if wants_score(turn.speaker, self.settings.agent_emotion) and len(turn.audio):
                to_score.append(turn)
        results: dict[str, EmotionResult | None] = {}
        if to_score:
            with self.stats.measure("scoring"):
                outcomes = self.model.score_many([t.audio for t in to_score])
            for t, r in zip(to_score, outcomes):
                results[t.turn_id] = r if isinstance(r, EmotionResult) else None
            self.stats.count("turns_scored", len(to_score))
            self.stats.count("score_batches")
        for event, turn in parsed:
            if turn is None:
                await self.out.send(key=event.key, value=event.value)
            else:
                rec = emotion_to_record(turn.call_id, turn, results.get(turn.turn_id))
                await self.out.send(key=event.key, value=encode("emotion_score", rec))


def register(pipeline) -> ScoringStage:
    stage = ScoringStage(pipeline)
    pipeline.extras["scoring"] = stage
    s = pipeline.settings

    @pipeline.app.agent(pipeline.topics["turns"], name="scoring")
    async def scoring_agent(stream):
        async for events in stream.take_events(s.score_batch_size, within=s.score_batch_within_s):
            await stage.handle_batch(events)

    @pipeline.app.task
    async def load_model_at_start():
        import asyncio

        await asyncio.to_thread(lambda: stage.model)
        pipeline.extras["model_ready"] = True
        log.info("emotion model loaded (%s)", stage.model.providers)

    return stage
