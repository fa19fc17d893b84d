"""Benchmark: 10,000 concurrent BookSlot for one branch-day with a cap of 500.

    .venv/bin/python -m bench.appointments_throughput [--count 10000] [--cap 500]

Provisions its own broker and database (harness/infra.py), runs the appointments service as its own
process, publishes one branch plan (16 half-hour slots of 40, daily cap CAP), then COUNT bookings by
distinct customers for one day at once. Each command is timed to its answer (SlotBooked or BookingRejected).
Checks that exactly CAP were booked, on the events and in the database.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import date
from datetime import time as clock_time
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.requests_throughput import envelopes, produce
from bench.support import service_process
from harness.infra import ROOT, provide
from shared import topics
from shared.contracts import appointments as A
from shared.db import migrate
from shared.kafka_admin import partitions_of
from shared.kafka_security import KafkaAccess

PORT = 18103
DAY = date(2020, 2, 10)


async def answers(bootstrap: KafkaAccess, want: set[str], timeout: float) -> dict[str, tuple[float, str]]:
    consumer = AIOKafkaConsumer(**bootstrap.client_kwargs(), enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    parts = await partitions_of(consumer, [topics.APPOINTMENTS_EVENTS])
    consumer.assign(parts)
    for tp, offset in (await consumer.end_offsets(parts)).items():
        consumer.seek(tp, offset)
    seen: dict[str, tuple[float, str]] = {}
    deadline = time.perf_counter() + timeout
    try:
        while len(seen) < len(want) and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value)
                    command_id = event["data"].get("command_id")
                    if command_id in want:
                        seen.setdefault(command_id, (now, event["type"]))
    finally:
        await consumer.stop()
    return seen


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "appointments.json")
    args = parser.parse_args()
    async with provide() as infra:
        from shared.kafka_admin import ensure_topics

        await ensure_topics(infra.kafka_as())
        await migrate(ROOT / "services" / "appointments" / "migrations", infra.service_database_url("appointments"),
                      "appointments")
        async with service_process("appointments", infra, PORT):
            branch = f"BR-BENCH-{uuid.uuid4().hex[:6]}"
            window = A.Window(start=clock_time(9), end=clock_time(17), capacity_per_slot=40)
            plan = A.SetBranchPlan(command_id=f"cmd-{uuid.uuid4().hex}", branch_id=branch, name="Bench branch",
                                   address="1 Bench Road", timezone="Asia/Shanghai", slot_minutes=30,
                                   daily_cap=args.cap, weekly={A.Weekday.MON: [window]})
            planned = asyncio.create_task(answers(infra.kafka_as(), {plan.command_id}, 60))
            await asyncio.sleep(1)
            await produce(infra.kafka_as(), topics.APPOINTMENTS_COMMANDS,
                          envelopes(topics.APPOINTMENTS_COMMANDS, [(plan, branch)]))
            await planned
            slots = [clock_time(9 + i // 2, 30 * (i % 2)) for i in range(16)]
            bookings = [A.BookSlot(command_id=f"cmd-{uuid.uuid4().hex}", customer_id=f"C-{uuid.uuid4().hex[:10]}",
                                   branch_id=branch, date=DAY, start_time=random.choice(slots),
                                   service_type=A.ServiceType.OTHER) for _ in range(args.count)]
            records = envelopes(topics.APPOINTMENTS_COMMANDS, [(b, branch) for b in bookings])
            collector = asyncio.create_task(answers(infra.kafka_as(), {b.command_id for b in bookings}, 900))
            await asyncio.sleep(1)
            started = time.perf_counter()
            sent: dict[str, float] = {}
            producer = AIOKafkaProducer(**infra.kafka_as().client_kwargs(), acks="all", enable_idempotence=True,
                                        linger_ms=5)
            await producer.start()
            futures = []
            for b, (key, value) in zip(bookings, records, strict=True):
                sent[b.command_id] = time.perf_counter()
                futures.append(await producer.send(topics.APPOINTMENTS_COMMANDS, value, key=key))
            await asyncio.gather(*futures)
            await producer.stop()
            seen = await collector
            conn = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg", "postgresql"))
            stored = await conn.fetchval("SELECT count(*) FROM appointments.bookings WHERE branch_id = $1", branch)
            counter = await conn.fetchval("SELECT booked FROM appointments.day_counters WHERE branch_id = $1", branch)
            await conn.close()
    latencies = sorted((seen[c][0] - sent[c]) * 1000 for c in seen)
    elapsed = max(t for t, _ in seen.values()) - started
    kinds = [kind for _, kind in seen.values()]
    result = {
        "benchmark": f"{args.count} BookSlot for one branch-day, daily cap {args.cap}",
        "machine": f"{os.cpu_count()} cores; broker, database, service and driver on the same machine",
        "kafka": infra.kafka_version, "postgres": infra.postgres_version,
        "answered": len(seen), "booked": kinds.count("SlotBooked"), "rejected": kinds.count("BookingRejected"),
        "bookings_in_database": stored, "day_counter": counter,
        "decisions_per_second": round(len(seen) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
