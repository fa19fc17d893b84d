"""The outbox relay against real Kafka and PostgreSQL: kill -9 and restart, and one leader among copies."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.builders import a_debit_day_change, a_loan
from harness.infra import ROOT, Infra
from shared import outbox, principals, topics
from shared.db import create_engine, messaging_tables
from shared.outbox import OutgoingRecord
from shared.relay import OutboxRelay
from tests.support.kafka import KafkaDriver
from tests.support.services import running
from tests.support.wait import eventually, publish_loan


@pytest.fixture
async def schema(migrated: Infra) -> AsyncIterator[tuple[AsyncEngine, str, Table]]:
    name = f"relay_{uuid.uuid4().hex[:8]}"
    engine = create_engine(migrated.database_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        metadata = MetaData(schema=name)
        _, table = messaging_tables(metadata)  # today's tables (outbox_parked included)
        await conn.run_sync(metadata.create_all)
    yield engine, name, table
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


async def add_row(engine: AsyncEngine, table: Table, key: str) -> None:
    async with engine.begin() as conn:
        await outbox.add(conn, table, [OutgoingRecord(topics.REQUESTS_EVENTS, key.encode(), b"{}", ())])


@contextlib.contextmanager
def relay_process(infra: Infra, schema: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.relay_process", infra.database_url, schema], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT),
             **infra.kafka_as(principals.REQUESTS.name).environment("TEST_RELAY_")},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_the_relay_delivers_an_outbox_row_after_being_killed_and_restarted(
    migrated: Infra, kafka: KafkaDriver, schema: tuple[AsyncEngine, str, Table]
) -> None:
    engine, name, table = schema
    first, second = f"K-{uuid.uuid4().hex[:8]}", f"K-{uuid.uuid4().hex[:8]}"
    async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
        await add_row(engine, table, first)
        with relay_process(migrated, name) as proc:
            await watch.wait_for(lambda s: s.key == first.encode())
            # Killed between publishing and marking, a relay publishes again (at-least-once; consumers
            # de-duplicate on the CloudEvent id). Here it is killed once the first row is marked sent.
            await eventually(lambda: _unsent(engine, table, 1), what="the first row marked sent")
            proc.send_signal(signal.SIGKILL)  # no clean shutdown: the lock goes with the dropped connection
        await add_row(engine, table, second)
        with relay_process(migrated, name):
            await watch.wait_for(lambda s: s.key == second.encode(), timeout=30)
            await eventually(lambda: _unsent(engine, table, 2), what="the second row marked sent")
        assert len(watch.matching(lambda s: s.key == first.encode())) == 1
        assert len(watch.matching(lambda s: s.key == second.encode())) == 1


async def test_one_relay_leads_and_another_takes_over_when_it_stops(
    migrated: Infra, kafka: KafkaDriver, schema: tuple[AsyncEngine, str, Table]
) -> None:
    engine, name, table = schema
    relays = [OutboxRelay(engine=engine, table=table, schema=name, kafka=migrated.kafka_as(principals.REQUESTS.name),
                          poll_interval=0.2) for _ in range(2)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await eventually(lambda: _one_active(relays), what="one relay leading")
        leader = next(r for r in relays if r.active)
        follower = next(r for r in relays if not r.active)
        refused = follower.lock_refused
        await eventually(lambda: _refused_since(follower, refused + 2), what="the follower refused the lock twice more")
        assert sum(r.active for r in relays) == 1  # still exactly one after the follower tried again
        leader.stop()
        await eventually(lambda: _active(follower), timeout=15, what="the other relay taking over")
        key = f"K-{uuid.uuid4().hex[:8]}"
        async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
            await add_row(engine, table, key)
            await watch.wait_for(lambda s: s.key == key.encode())
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _unsent(engine: AsyncEngine, table: Table, expected: int) -> bool:
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(table))
        unsent = await conn.scalar(select(func.count()).select_from(table).where(table.c.sent_at.is_(None)))
    return total == expected and unsent == 0


async def _one_active(relays: list[OutboxRelay]) -> bool:
    return sum(r.active for r in relays) == 1


async def _active(relay: OutboxRelay) -> bool:
    return relay.active


async def _refused_since(relay: OutboxRelay, at_least: int) -> bool:
    return relay.lock_refused >= at_least


async def test_a_service_runs_its_relay_as_a_child_process_that_reports_to_its_metrics_and_stops_with_it(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    """relay_process=true (a service's default): the answer to a command is published by the relay's own process,
    which reports its leadership and counts to the service's metrics, and goes when the service stops."""
    loan = a_loan()
    async with running("requests", migrated, relay_process=True) as service:
        child = service._relay_child_process
        assert child is not None and child.returncode is None
        async def leading() -> bool:
            return service.relay_leading

        async def counted() -> bool:  # RequestSubmitted and RequestApproved at least (other rows may go too)
            return _sample(service, "postloan_relay_published_total") >= published_before + 2

        await eventually(leading, timeout=30, what="the child's report that it leads")
        published_before = _sample(service, "postloan_relay_published_total")
        await publish_loan(kafka, loan, requests=service)
        async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
            command = a_debit_day_change(loan, 25)
            await kafka.publish(topics.REQUESTS_COMMANDS, command, subject=loan.loan_id)
            await watch.wait_for(lambda s: s.type == "RequestApproved" and s.event["subject"] == loan.loan_id)
        await eventually(counted, timeout=10, what="the published records counted by the parent")
        await service.refresh_metrics()
        assert _sample(service, "postloan_relay_leader") == 1
    assert child.returncode is not None, "the relay's process stopped with the service"
    assert not service.relay_leading, "a relay that stopped leads no more"


def _sample(service: Any, name: str) -> float:
    value = service.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else float(value)
