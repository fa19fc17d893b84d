"""Benchmark: SubmitDebitDayChange -> RequestApproved through the requests service, against a plain baseline.

    .venv/bin/python -m bench.requests_throughput [--count 10000] [--out bench/results/requests.json] [--trace]

Provisions its own broker and database like the tests (harness/infra.py), runs the requests service as
a separate process, publishes COUNT single-borrower loans, then COUNT commands as fast as the producer goes,
and times each command to its RequestApproved. Then, on the same broker and database, a plain aiokafka +
asyncpg loop does the same persistence (inbox, request row, two outbox rows) and publishes the same two
answers per request: the baseline (no envelope validation, audit trail, policy, rules or logging). Prints and
writes requests/s, p50 and p99 latency of both, and the CPU time the service's processes spent per request while
the commands were answered (steadier than throughput on a machine whose two cores everyone shares). With --trace
the service exports its spans (OTLP/HTTP, to a local endpoint that discards them): tracing's overhead against a run
without. The service inherits the
environment, so OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 samples 1 % of requests.

With BENCH_CALLGRIND=<folder> the service and its relay child run under valgrind's callgrind, counting only while
the commands are answered: the instructions a request costs, the same from run to run (within about 1 %), whatever
else the machine does. About 15x slower: use --count 1000. No baseline then (its pace says nothing against
the service's under valgrind).
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.support import (
    Exports,
    batches_consumed,
    counting_instructions,
    cpu_seconds,
    discarding_otlp,
    instructions_counted,
    native_profiler,
    own_cpu_seconds,
    sampling_profiler,
    service_process,
    stop_profiler,
)
from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan
from harness.infra import ROOT, Infra, provide
from shared import principals, topics
from shared.contracts import loans as L
from shared.db import migrate
from shared.envelope import encode, new_event
from shared.kafka_admin import partitions_of
from shared.kafka_security import KafkaAccess

PORT = 18101


def bench_source(topic: str) -> str:
    """The bench writes each topic as its writer's tool would (consumers accept only a topic's writers' sources)."""
    return f"{principals.writer_of(topic).source}/bench"


def envelopes(topic: str, topic_data: list[tuple[Any, str]]) -> list[tuple[bytes, bytes]]:
    return [(key.encode(), encode(new_event(d, source=bench_source(topic), subject=key, time=ACCOUNT_DAY)))
            for d, key in topic_data]


async def produce(bootstrap: KafkaAccess, topic: str, records: list[tuple[bytes, bytes]]) -> dict[bytes, float]:
    """Sends every record; returns when each key was handed to the producer."""
    producer = AIOKafkaProducer(**bootstrap.client_kwargs(), acks="all", enable_idempotence=True, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    sent: dict[bytes, float] = {}
    try:
        futures = []
        for key, value in records:
            sent[key] = time.perf_counter()
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def collect(bootstrap: KafkaAccess, topic: str, want: set[bytes], kind: bytes,
                  timeout: float) -> dict[bytes, float]:
    """Reads `topic` from its current end until a record of `kind` arrived for every key in `want`."""
    consumer = AIOKafkaConsumer(**bootstrap.client_kwargs(), enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    parts = await partitions_of(consumer, [topic])
    consumer.assign(parts)
    for tp, offset in (await consumer.end_offsets(parts)).items():
        consumer.seek(tp, offset)
    seen: dict[bytes, float] = {}
    deadline = time.perf_counter() + timeout
    ready = asyncio.get_running_loop().create_future()
    ready.set_result(None)
    try:
        while len(seen) < len(want) and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    if kind in r.value[:200] and r.key in want:
                        seen.setdefault(r.key, now)
    finally:
        await consumer.stop()
    return seen


def figures(sent: dict[bytes, float], seen: dict[bytes, float]) -> dict[str, float]:
    latencies = sorted((seen[k] - sent[k]) * 1000 for k in seen)
    elapsed = max(seen.values()) - min(sent.values())
    return {
        "requests": len(seen),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(seen) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }


def fresh_loans(count: int) -> list[L.LoanSnapshot]:
    """`count` single-borrower loans, new ids, each debiting on the 25th: every change to the 20th is approved."""
    return [a_loan(loan_id=f"LB-{uuid.uuid4().hex[:12]}", debit_day=25, next_due_date=date(2020, 2, 25))
            for _ in range(count)]


async def until_stored(database_url: str, loans: list[L.LoanSnapshot]) -> None:
    """Until the requests service with the database at `database_url` (a superuser's) has stored every loan."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        ids = [x.loan_id for x in loans]
        while await conn.fetchval("SELECT count(*) FROM requests.loans WHERE loan_id = ANY($1)", ids) < len(ids):
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def run_service(infra: Infra, count: int) -> dict[str, Any]:
    loans = fresh_loans(count)
    async with service_process("requests", infra, PORT) as proc:
        await produce(infra.kafka_as(), topics.LOANS_SNAPSHOTS,
                      envelopes(topics.LOANS_SNAPSHOTS, [(x, x.loan_id) for x in loans]))
        await until_stored(infra.database_url, loans)
        commands = envelopes(topics.REQUESTS_COMMANDS, [(a_debit_day_change(x, 25), x.loan_id) for x in loans])
        want = {key for key, _ in commands}
        collector = asyncio.create_task(collect(infra.kafka_as(), topics.REQUESTS_EVENTS, want,
                                                b'"type":"RequestApproved"', timeout=600))
        await asyncio.sleep(1)  # the collector is positioned
        spy, perf = sampling_profiler(proc.pid), native_profiler(proc.pid)
        cpu_before, own_before = cpu_seconds(proc.pid), own_cpu_seconds(proc.pid)
        batches_before = await batches_consumed(PORT)
        with counting_instructions():
            sent = await produce(infra.kafka_as(), topics.REQUESTS_COMMANDS, commands)
            seen = await collector
        cpu, (user, system) = cpu_seconds(proc.pid) - cpu_before, own_cpu_seconds(proc.pid)
        batches = await batches_consumed(PORT) - batches_before
        stop_profiler(spy)
        stop_profiler(perf)
    answered = max(len(seen), 1)
    counted = instructions_counted()  # with BENCH_CALLGRIND, once the service and its relay child have ended
    return {**figures(sent, seen), "service_cpu_us_per_request": round(cpu / answered * 1e6, 1),
            # the main process alone (the relay runs in it unless it is a child): user and system time
            "user_cpu_us_per_request": round((user - own_before[0]) / answered * 1e6, 1),
            "system_cpu_us_per_request": round((system - own_before[1]) / answered * 1e6, 1),
            "batches": batches, "requests_per_batch": round(len(seen) / max(batches, 1), 1),
            **({} if counted is None else {
                "instructions_per_request": sum(counted.values()) // answered,
                "instructions_per_request_by_process": {k: v // answered for k, v in sorted(counted.items())}})}


BASELINE_SQL = """
CREATE SCHEMA IF NOT EXISTS bench_baseline;
CREATE TABLE IF NOT EXISTS bench_baseline.inbox (message_id text PRIMARY KEY, topic text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bench_baseline.requests (request_id text PRIMARY KEY, command_id text UNIQUE NOT NULL,
    loan_id text NOT NULL, state text NOT NULL, details jsonb NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS bench_baseline.outbox (id bigserial PRIMARY KEY, topic text NOT NULL, key bytea,
    value bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), sent_at timestamptz);
"""


async def baseline_loop(infra: Infra, source: str, sink: str, count: int, stop: asyncio.Event) -> None:
    """The hand-written floor: one transaction per fetched batch, then publish, then commit offsets."""
    conn = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg", "postgresql"))
    await conn.execute(BASELINE_SQL)
    consumer = AIOKafkaConsumer(source, **infra.kafka_as().client_kwargs(), group_id=f"bench-{uuid.uuid4()}",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20)
    producer = AIOKafkaProducer(**infra.kafka_as().client_kwargs(), acks="all", enable_idempotence=True,
                                linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50, max_records=500)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            out = []
            async with conn.transaction():
                events = [json.loads(r.value) for r in records]
                fresh = set(await conn.fetch(
                    "INSERT INTO bench_baseline.inbox (message_id, topic) SELECT unnest($1::text[]), $2 "
                    "ON CONFLICT DO NOTHING RETURNING message_id", [e["id"] for e in events], source))
                fresh_ids = {row["message_id"] for row in fresh}
                rows = []
                for r, e in zip(records, events, strict=True):
                    if e["id"] not in fresh_ids:
                        continue
                    d = e["data"]
                    request_id = f"R-{uuid.uuid5(uuid.NAMESPACE_URL, d['command_id'])}"
                    rows.append((request_id, d["command_id"], d["loan_id"], "APPROVED", json.dumps(d)))
                    for kind in ("RequestSubmitted", "RequestApproved"):  # the same two answers as the service
                        answer = json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "type": kind,
                                             "source": "bench", "subject": d["loan_id"],
                                             "data": {"request_id": request_id, "loan_id": d["loan_id"]}}).encode()
                        out.append((r.key, answer))
                await conn.executemany(
                    "INSERT INTO bench_baseline.requests VALUES ($1, $2, $3, $4, $5::jsonb, now())", rows)
                await conn.executemany("INSERT INTO bench_baseline.outbox (topic, key, value) VALUES ($1, $2, $3)",
                                       [(sink, k, v) for k, v in out])
            futures = [await producer.send(sink, v, key=k) for k, v in out]
            await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
        await conn.close()


async def run_baseline(infra: Infra, count: int) -> dict[str, float]:
    source, sink = f"bench.baseline.in.{uuid.uuid4().hex[:6]}", f"bench.baseline.out.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**infra.kafka_as().client_kwargs())
    await admin.start()
    await admin.create_topics([NewTopic(source, 6, 1), NewTopic(sink, 6, 1)])
    await admin.close()
    loans = [a_loan(loan_id=f"LB-{uuid.uuid4().hex[:12]}") for _ in range(count)]
    commands = envelopes(topics.REQUESTS_COMMANDS, [(a_debit_day_change(x, 25), x.loan_id) for x in loans])
    stop = asyncio.Event()
    loop_task = asyncio.create_task(baseline_loop(infra, source, sink, count, stop))
    want = {k for k, _ in commands}
    collector = asyncio.create_task(collect(infra.kafka_as(), sink, want, b'"type": "RequestApproved"',
                                            timeout=600))
    await asyncio.sleep(3)  # consumer group joined, collector positioned
    sent = await produce(infra.kafka_as(), source, commands)
    seen = await collector
    stop.set()
    await loop_task
    return figures(sent, seen)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "requests.json")
    parser.add_argument("--trace", action="store_true", help="the service exports its spans (to a discarding endpoint)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        exports = stack.enter_context(discarding_otlp()) if args.trace else None
        if exports is not None:  # the service process inherits the environment (bench/support.py)
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = exports.endpoint
        await measure(args, exports)


async def measure(args: argparse.Namespace, exports: Exports | None) -> None:
    async with provide() as infra:
        from shared.kafka_admin import ensure_topics

        await ensure_topics(infra.kafka_as())
        await migrate(ROOT / "services" / "requests" / "migrations", infra.service_database_url("requests"), "requests")
        service = await run_service(infra, args.count)
        print("service ", service, flush=True)
        # Under callgrind the service's instructions are the figure, not its pace: no baseline to set it against.
        baseline = {} if os.environ.get("BENCH_CALLGRIND") else await run_baseline(infra, args.count)
        print("baseline", baseline, flush=True)
    result = {
        "benchmark": "SubmitDebitDayChange -> RequestApproved, single-borrower loans",
        "machine": f"{os.cpu_count()} cores; broker, database, service and driver on the same machine",
        "kafka": infra.kafka_version, "postgres": infra.postgres_version, "count": args.count, "traced": args.trace,
        "service": service, "baseline": baseline,
        # the service's spans, from start to stop (its loans, then the commands), as its exporter sent them
        **({} if exports is None else {"spans_exported": exports.spans()}),
        "ratio_to_baseline": round(service["requests_per_second"] / baseline["requests_per_second"], 2)
        if baseline else None,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
