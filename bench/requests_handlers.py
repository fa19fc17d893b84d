"""Benchmark: the requests consumer's own work on a batch of submissions, in process, without broker or database.

    .venv/bin/python -m bench.requests_handlers [--batches 12] [--size 500] [--out file.json]
    .venv/bin/python -m bench.requests_handlers --instructions [--out file.json]   # counted under callgrind

Decodes batches of SubmitDebitDayChange records (envelope and contract validation, bounds) and runs the service's
handler on each (rules, policy, the request, its audit trail and the two events it emits, encoded), with the unit
of work's cache preloaded as the batch's `prepare` would leave it: the part of a request's cost that is neither
PostgreSQL nor Kafka, and the largest one (bench/README.md, issue 12). Prints microseconds a message (this machine's
speed drifts: compare runs side by side); with `--instructions` it runs itself under valgrind's callgrind (Debian's
`valgrind`, not a project dependency) and counts the instructions of the batches after the first (the same from
run to run, whatever else the machine does). Logging as the service logs (INFO,
JSON, loggers cached); the heap frozen after set-up and the collector's threshold set, as `serve` does.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord

from bench.requests_throughput import envelopes
from bench.support import CALLGRIND_ENV, callgrind_totals
from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan
from services.requests import repository
from services.requests.handlers import ROUTES, loan_from_snapshot
from services.requests.policies import load_policy
from shared import topics
from shared.db import command_table
from shared.heap import settle_heap
from shared.logging import configure_logging
from shared.messaging import BatchConsumer, Tables
from shared.unit_of_work import UnitOfWork


class AccountDay:
    def now(self) -> Any:
        return ACCOUNT_DAY


def batch_of(number: int, size: int) -> tuple[list[ConsumerRecord[bytes, bytes]], list[Any]]:
    loans = [a_loan(loan_id=f"LB-{number}-{i:05d}", debit_day=25, next_due_date=date(2020, 2, 25)) for i in range(size)]
    commands = envelopes(topics.REQUESTS_COMMANDS, [(a_debit_day_change(x, 25), x.loan_id) for x in loans])
    return [ConsumerRecord(topics.REQUESTS_COMMANDS, 0, i, 0, 0, k, v, None, len(k), len(v), [])
            for i, (k, v) in enumerate(commands)], loans


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", f"--instr={switch}", str(os.getpid())], check=True, capture_output=True)


async def run(batches: int, size: int, count: bool) -> dict[str, float]:
    tables = Tables(inbox=repository.inbox, outbox=repository.outbox, schema=repository.SCHEMA,
                    commands=command_table(repository.metadata))
    consumer = BatchConsumer(service="requests", handlers=ROUTES, sessions=None,  # type: ignore[arg-type]
                             tables=tables, clock=AccountDay())
    policy = load_policy("epidemic-2020")
    made = [batch_of(n, size) for n in range(batches)]
    settle_heap()  # as `serve` does
    decoding = handling = 0.0
    for n, (records, loans) in enumerate(made):
        uow = UnitOfWork(None)  # type: ignore[arg-type]  # the cache alone: nothing here reaches a database
        uow.keep("policy", 1, policy)
        for loan in loans:
            uow.keep("loan", loan.loan_id, loan_from_snapshot(loan))
            uow.keep("open_request", loan.loan_id, None)
        if count and n == 1:
            callgrind("on")
        started = time.perf_counter()
        decoded = [(r, consumer.codecs[r.topic].decode(r.value, now=ACCOUNT_DAY)) for r in records]
        between = time.perf_counter()
        for record, event in decoded:
            ctx = await consumer._handle(uow, consumer.handlers[record.topic][event.type], record, event)
            assert len(ctx.emitted) == 2, "a submission approved: RequestSubmitted and RequestApproved"
        ended = time.perf_counter()
        if n >= 1:
            decoding += between - started
            handling += ended - between
    if count:
        callgrind("off")
    messages = (batches - 1) * size
    return {"messages": messages, "decode_us_per_message": round(decoding / messages * 1e6, 1),
            "handle_us_per_message": round(handling / messages * 1e6, 1)}


def counted(size: int) -> dict[str, float]:
    """This script under callgrind (three batches, two counted): instructions a message."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                        f"--callgrind-out-file={folder}/callgrind.out", sys.executable, "-m", "bench.requests_handlers",
                        "--batches", "3", "--size", str(size), "--count"], check=True, capture_output=True,
                       env={**os.environ, **CALLGRIND_ENV})
        total = sum(callgrind_totals(Path(folder)).values())
    return {"messages": 2 * size, "instructions_per_message": total // (2 * size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=12, help="the first one warms up and is not counted")
    parser.add_argument("--size", type=int, default=500, help="records a batch (the service's default)")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)  # (the run under callgrind)
    parser.add_argument("--out", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args()
    configure_logging("requests", "INFO", json=True, once=True)
    figures = counted(args.size) if args.instructions else asyncio.run(run(args.batches, args.size, args.count))
    print(figures)
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
