"""The outbox relay as a process of its own: `python -m shared.relay_process` (started by the service runtime
when `relay_process` is set).

The relay's per-record work (building and sending each record with aiokafka) then runs on another core than
the service's consumer, instead of sharing its event loop. The child reads what it needs from the environment
(`POSTLOAN_RELAY_*`, set by the parent; the database URL never appears on a command line), dies with its parent
(Linux parent-death signal, and a watch on the parent's pid) and stops cleanly on SIGTERM. Exactly one relay of
a service leads at a time either way: the advisory lock decides, not the process layout.
"""

import asyncio
import contextlib
import ctypes
import os
import signal

import structlog
from sqlalchemy import MetaData

from shared import tracing
from shared.db import create_engine, messaging_tables, outbox_parked_table
from shared.kafka_security import KafkaAccess
from shared.logging import configure_logging
from shared.relay import OutboxRelay

log = structlog.get_logger("postloan.relay")
PR_SET_PDEATHSIG = 1
ENV = "POSTLOAN_RELAY_"


def environment(*, database_url: str, schema: str, kafka: KafkaAccess, batch_size: int, poll_interval_s: float,
                log_level: str, log_json: bool | None) -> dict[str, str]:
    """What the parent passes to the child (the Kafka credentials too: in the environment, not on a command line)."""
    return {
        "POSTLOAN_RELAY_DATABASE_URL": database_url, "POSTLOAN_RELAY_SCHEMA": schema, **kafka.environment(ENV),
        "POSTLOAN_RELAY_BATCH_SIZE": str(batch_size),
        "POSTLOAN_RELAY_POLL_INTERVAL_S": str(poll_interval_s), "POSTLOAN_RELAY_LOG_LEVEL": log_level,
        "POSTLOAN_RELAY_LOG_JSON": "" if log_json is None else str(log_json).lower(),
    }


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


async def _watch_parent(parent: int, relay: OutboxRelay) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.warning("relay_parent_gone")
    relay.stop()


async def main() -> None:
    env = os.environ
    schema = env["POSTLOAN_RELAY_SCHEMA"]
    json_logs = env.get("POSTLOAN_RELAY_LOG_JSON", "")
    configure_logging(f"{schema}-relay", env.get("POSTLOAN_RELAY_LOG_LEVEL", "INFO"),
                      json=None if not json_logs else json_logs == "true", once=True)
    tracing.setup(schema)  # the service's own name: its relay's spans are the service's
    metadata = MetaData(schema=schema)
    _, outbox = messaging_tables(metadata)
    engine = create_engine(env["POSTLOAN_RELAY_DATABASE_URL"], pool_size=2)
    relay = OutboxRelay(engine=engine, table=outbox, schema=schema, kafka=KafkaAccess.from_env(ENV, dict(env)),
                        batch_size=int(env["POSTLOAN_RELAY_BATCH_SIZE"]),
                        poll_interval=float(env["POSTLOAN_RELAY_POLL_INTERVAL_S"]),
                        parked=outbox_parked_table(metadata))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, relay.stop)
    watcher = asyncio.create_task(_watch_parent(os.getppid(), relay))
    try:
        await relay.run()
    finally:
        watcher.cancel()
        await engine.dispose()


if __name__ == "__main__":
    _die_with_parent()
    asyncio.run(main())
