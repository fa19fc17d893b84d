"""The outbox relay as a process of its own: `python -m shared.relay_process` (started by the service runtime
when `relay_process` is set).

The relay's per-record work (building and sending each record with aiokafka) then runs on another core than
the service's consumer, instead of sharing its event loop. The child reads what it needs from the environment
(`POSTLOAN_RELAY_*`, set by the parent; the database URL never appears on a command line), dies with its parent
(Linux parent-death signal, and a watch on the parent's pid) and stops cleanly on SIGTERM. Exactly one relay of
a service leads at a time either way: the advisory lock decides, not the process layout.

The child reports to its parent on its stdout, one JSON line whenever something changed (at most every
`REPORT_INTERVAL_S`): whether it leads, and how many records it has published and parked. The parent turns the
reports into its own metrics (`RelayReports`), so a service exports `postloan_relay_*` wherever its relay runs.
"""

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import MetaData

from shared import tracing
from shared.db import create_engine, messaging_tables, outbox_parked_table
from shared.heap import settle_heap
from shared.kafka_security import KafkaAccess
from shared.logging import Logger, configure_logging
from shared.metrics import ServiceMetrics
from shared.relay import OutboxRelay

log = Logger("postloan.relay")
PR_SET_PDEATHSIG = 1
ENV = "POSTLOAN_RELAY_"
REPORT_INTERVAL_S = 0.5


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


def report(relay: OutboxRelay) -> str:
    """What the child tells its parent: one line of JSON."""
    return json.dumps({"leading": relay.active, "published": relay.published, "parked": relay.parked})


def _tell(out: TextIO, line: str) -> None:
    with contextlib.suppress(OSError):  # the parent gone (its end of the pipe closed): the watch stops this child
        out.write(line + "\n")
        out.flush()


async def _report_until_stopped(relay: OutboxRelay, out: TextIO) -> None:
    last = ""
    while True:
        if (line := report(relay)) != last:
            _tell(out, line)
            last = line
        await asyncio.sleep(REPORT_INTERVAL_S)


async def read_reports(reader: asyncio.StreamReader, reports: "RelayReports") -> None:
    """The parent's reading of its child's stdout, until it ends; a line longer than the reader's limit is skipped
    (no report is that long), never fatal to the service."""
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # over the limit: the reader has dropped it
            continue
        if not line:
            return
        reports.apply(line)


@dataclass
class RelayReports:
    """The parent's side: the last report of its relay child, applied to the service's metrics. Counters grow by
    what a report adds to the one before it; a new child (the old one exited) starts again from zero."""

    metrics: ServiceMetrics | None = None
    leading: bool = False
    published: int = 0
    parked: int = 0

    def apply(self, line: bytes | str) -> None:
        """Takes one line of the child's stdout; anything that is not a report is ignored (never trusted)."""
        try:
            found = json.loads(line)
            leading, published, parked = found["leading"], found["published"], found["parked"]
        except (ValueError, TypeError, KeyError):
            return
        if not (isinstance(leading, bool) and type(published) is int and type(parked) is int
                and published >= 0 and parked >= 0):
            return
        if self.metrics is not None:
            self.metrics.relay_published.inc(max(0, published - self.published))
            self.metrics.relay_parked.inc(max(0, parked - self.parked))
        self.leading, self.published, self.parked = leading, published, parked

    def child_gone(self) -> None:
        self.leading, self.published, self.parked = False, 0, 0


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
    settle_heap()  # a process for one relay's whole life, as a service's (shared/heap.py)
    watcher = asyncio.create_task(_watch_parent(os.getppid(), relay))
    reporter = asyncio.create_task(_report_until_stopped(relay, sys.stdout))
    try:
        await relay.run()
    finally:
        watcher.cancel()
        reporter.cancel()
        _tell(sys.stdout, report(relay))  # stopped: no longer leading
        await engine.dispose()


if __name__ == "__main__":
    _die_with_parent()
    asyncio.run(main())
