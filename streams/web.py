"""The worker's web views (Faust's web server): the SQL endpoint and stage statistics.

POST /sql   body {"sql": "SELECT ..."} or the bare SQL -> {"columns", "types", "rows"} | {"error"}:
            `callpulse sql` answers from the embedded store through the worker that holds it.
GET  /stats per-stage CPU seconds and counters (streams/stats.py), live calls, assigned partitions.
GET  /ready {"ready": bool}: the store is open and this worker has partitions of the audio topic.
"""

from __future__ import annotations

from faust import web


def register(pipeline) -> None:
    app = pipeline.app

    @app.page("/sql")
    class SqlView(web.View):
        async def post(self, request: web.Request) -> web.Response:
            from streams.store import handle_sql_request_async

            client = await pipeline.extras["sink"].ensure_open()
            status, payload = await handle_sql_request_async(client, await request.read())
            return self.json(payload, status=status)

    @app.page("/stats")
    class StatsView(web.View):
        async def get(self, request: web.Request) -> web.Response:
            snap = pipeline.stats.snapshot()
            snap["live_calls"] = len(pipeline.extras["frames"].calls)
            snap["sink_buffered"] = pipeline.extras["sink"].buffered
            snap["assigned"] = _assigned(pipeline)
            return self.json(snap)

    @app.page("/ready")
    class ReadyView(web.View):
        async def get(self, request: web.Request) -> web.Response:
            sink = pipeline.extras["sink"]
            ready = (sink.sink is not None and bool(_assigned(pipeline)) and _recovered(pipeline)
                     and pipeline.extras.get("model_ready", False))
            return self.json({"ready": ready, "assigned": _assigned(pipeline)})


def _assigned(pipeline) -> list[str]:
    try:
        return sorted(f"{tp.topic}:{tp.partition}" for tp in pipeline.app.consumer.assignment())
    except Exception:
        return []


def _recovered(pipeline) -> bool:
    try:
        return pipeline.app.tables.recovery.completed.is_set()
    except Exception:
        return False
