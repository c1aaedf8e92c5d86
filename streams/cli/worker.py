"""`callpulse worker`: run every pipeline stage for the partitions this worker owns.

Settings come from defaults < `--config FILE.toml` (or $CALLPULSE_CONFIG) < CALLPULSE_* environment
variables < command-line flags. Production: `--broker kafka://k1:9092 --store http://u:p@ch:8123/callpulse
--profile kafka`; the embedded default is a local broker and the chdb store under $CALLPULSE_HOME.
The worker records {"pid", "web_url"} in <home>/worker.json so `callpulse sql` can query through it.
"""

from __future__ import annotations

import argparse
import logging
import os

HELP = "Run a production worker (broker and ClickHouse from env or a config file)."
log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML settings file (default $CALLPULSE_CONFIG)")
    p.add_argument("--broker", dest="broker_url", help="kafka://host:port[,host:port] (CALLPULSE_BROKER_URL)")
    p.add_argument("--profile", dest="broker_profile", choices=("tansu", "kafka"),
                   help="broker profile (CALLPULSE_BROKER_PROFILE; default kafka)")
    p.add_argument("--store", dest="store_url", help="chdb:, chdb:///dir or http://user:pass@host:8123/db")
    p.add_argument("--home", help="data directory (CALLPULSE_HOME; default ./var)")
    p.add_argument("--topic-prefix", dest="topic_prefix")
    p.add_argument("--partitions", type=int)
    p.add_argument("--web-port", dest="web_port", type=int, help="0 = any free port (default)")
    p.add_argument("--agent-emotion", dest="agent_emotion", action="store_true", default=None,
                   help="also score the agent's voice (off by default)")
    p.add_argument("--idle-timeout", dest="idle_call_timeout_s", type=float,
                   help="close calls silent for this many seconds (default 60)")
    p.add_argument("--loglevel", default="warn", choices=("crit", "error", "warn", "info", "debug"))


def run(args: argparse.Namespace) -> int:
    from streams.config import load_settings

    overrides = {k: getattr(args, k, None) for k in (
        "broker_url", "broker_profile", "store_url", "home", "topic_prefix", "partitions", "web_port",
        "agent_emotion", "idle_call_timeout_s")}
    settings = load_settings(args.config, **overrides)
    return run_worker(settings, loglevel=args.loglevel)


def run_worker(settings, loglevel: str = "warn") -> int:
    import asyncio

    import faust

    from streams.app import create_app
    from streams.broker.tansu import free_port
    from streams.store import remove_worker_info, write_worker_info
    from streams.topics import ensure_topics

    home = settings.home_dir
    os.environ["CALLPULSE_HOME"] = str(home)  # the store module finds the embedded store here
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    port = settings.web_port or free_port(settings.web_host)
    asyncio.run(ensure_topics(settings))
    pipeline = create_app(settings, web_port=port)
    web_url = f"http://{settings.web_host}:{port}"
    write_worker_info(web_url, home)
    log.info("worker %s: broker %s, store %s, web %s", os.getpid(), settings.broker_url,
             settings.store_url or f"chdb:{home / 'clickhouse'}", web_url)
    try:
        worker = faust.Worker(pipeline.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()
    finally:
        remove_worker_info(home)
    return 0
