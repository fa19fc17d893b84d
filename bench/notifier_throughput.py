"""Benchmark: 10,000 events -> NotificationSent through the local sender, and duplicates (must be 0).

    .venv/bin/python -m bench.notifier_throughput [--count 10000]

Provisions its own broker and database (harness/infra.py), runs the notifier as its own process,
projects COUNT customers (one app-push channel each), then publishes COUNT RequestSubmitted at once and
times each to its NotificationSent. Every NotificationSent on the topic is counted per (event, customer,
channel), and the deliveries table is counted too.
"""

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.requests_throughput import bench_source, produce
from bench.support import service_process
from harness.builders import ACCOUNT_DAY, a_borrower, a_loan
from harness.infra import ROOT, provide
from shared import topics
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.db import migrate
from shared.envelope import encode, new_event
from shared.kafka_security import KafkaAccess

PORT = 18104


async def sent_events(bootstrap: KafkaAccess, want: set[str],
                      timeout: float) -> tuple[dict[str, float], Counter[tuple[str, ...]]]:
    consumer = AIOKafkaConsumer(**bootstrap.client_kwargs(), enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    cluster = await consumer._client.fetch_all_metadata()
    parts = [TopicPartition(topics.NOTIFICATIONS_EVENTS, p)
             for p in cluster.partitions_for_topic(topics.NOTIFICATIONS_EVENTS)]
    consumer.assign(parts)
    for tp, offset in (await consumer.end_offsets(parts)).items():
        consumer.seek(tp, offset)
    first: dict[str, float] = {}
    copies: Counter[tuple[str, ...]] = Counter()
    deadline = time.perf_counter() + timeout
    try:
        while len(first) < len(want) and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    d = json.loads(r.value)["data"]
                    if d["event_id"] in want:
                        first.setdefault(d["event_id"], now)
                        copies[(d["event_id"], d["customer_id"], d["channel"])] += 1
    finally:
        await consumer.stop()
    return first, copies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "notifier.json")
    args = parser.parse_args()
    async with provide() as infra:
        from shared.kafka_admin import ensure_topics

        await ensure_topics(infra.kafka_as())
        await migrate(ROOT / "services" / "notifier" / "migrations", infra.service_database_url("notifier"), "notifier")
        async with service_process("notifier", infra, PORT):
            loans = []
            for _ in range(args.count):
                loan = a_loan(loan_id=f"LN-{uuid.uuid4().hex[:12]}")
                customer = f"CN-{uuid.uuid4().hex[:12]}"
                loans.append(loan.model_copy(update={"borrowers": [a_borrower(
                    customer, channels=[L.NotificationChannel.APP_PUSH])]}))
            await produce(infra.kafka_as(), topics.LOANS_SNAPSHOTS, [
                (x.loan_id.encode(), encode(new_event(x, source=bench_source(topics.LOANS_SNAPSHOTS), subject=x.loan_id,
                                                            time=ACCOUNT_DAY)))
                for x in loans])
            conn = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg", "postgresql"))
            ids = [x.borrowers[0].customer_id for x in loans]
            while await conn.fetchval("SELECT count(*) FROM notifier.recipients WHERE customer_id = ANY($1)", ids) \
                    < args.count:
                await asyncio.sleep(0.2)
            events = [new_event(R.RequestSubmitted(
                request_id=f"RN-{uuid.uuid4().hex[:12]}", command_id="c", loan_id=x.loan_id,
                request_type=R.RequestType.DEBIT_DAY_CHANGE, applicant_customer_id=x.borrowers[0].customer_id,
                channel=R.Channel.APP, co_borrowers=[], deadline=date(2020, 2, 10), paper_documents_required=False,
                policy_version="epidemic-2020", branch_id=x.branch_id, confirmation_attempts=3,
                current_debit_day=10, new_debit_day=20,
                current_due_date=date(2020, 2, 10), new_due_date=date(2020, 2, 20)),
                source=bench_source(topics.REQUESTS_EVENTS), subject=x.loan_id, time=ACCOUNT_DAY) for x in loans]
            want = {e.id for e in events}
            collector = asyncio.create_task(sent_events(infra.kafka_as(), want, 900))
            await asyncio.sleep(1)
            started = time.perf_counter()
            sent_at = await produce(infra.kafka_as(), topics.REQUESTS_EVENTS,
                                    [(e.subject.encode(), encode(e)) for e in events])  # type: ignore[union-attr]
            first, copies = await collector
            stored = await conn.fetchval("SELECT count(*) FROM notifier.deliveries WHERE customer_id = ANY($1)", ids)
            await conn.close()
    by_key = {e.id: e.subject.encode() for e in events}  # type: ignore[union-attr]
    latencies = sorted((first[i] - sent_at[by_key[i]]) * 1000 for i in first)
    elapsed = max(first.values()) - started
    result = {
        "benchmark": f"{args.count} RequestSubmitted -> NotificationSent (local sender, one channel each)",
        "machine": f"{os.cpu_count()} cores; broker, database, service and driver on the same machine",
        "kafka": infra.kafka_version, "postgres": infra.postgres_version,
        "notified": len(first), "deliveries_in_database": stored,
        "duplicates_on_topic": sum(n - 1 for n in copies.values() if n > 1),
        "notifications_per_second": round(len(first) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
